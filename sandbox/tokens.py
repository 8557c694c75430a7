"""OAuth access tokens the Salesforce and ERP sandboxes issue, expiring on the sandbox clock.

Tokens survive `POST /_sandbox/reset` (a reset empties the data, not the sessions), so a client
that holds a token keeps working across tests; advancing the clock past the TTL expires them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Field, Session

from sandbox.clock import SandboxClock
from sandbox.db import SandboxModel


class SandboxToken(SandboxModel, table=True):
    __tablename__ = "sandbox_token"

    token: str = Field(primary_key=True)
    system: str = Field(index=True)
    client_id: str
    issued_at: float  # seconds since the epoch, sandbox time
    expires_at: float


@dataclass
class TokenIssuer:
    """Issues and checks the bearer tokens of one system."""

    engine: Engine
    clock: SandboxClock
    system: str
    ttl_seconds: int

    def issue(self, client_id: str, prefix: str = "") -> SandboxToken:
        now = self.clock.now().timestamp()
        token = SandboxToken(
            token=prefix + secrets.token_urlsafe(36),
            system=self.system,
            client_id=client_id,
            issued_at=now,
            expires_at=now + self.ttl_seconds,
        )
        with Session(self.engine) as session:
            session.add(token)
            session.commit()
            session.refresh(token)
        return token

    def valid(self, token: str) -> bool:
        """True for a token this system issued that has not expired in sandbox time."""
        if not token:
            return False
        with Session(self.engine) as session:
            row = session.get(SandboxToken, token)
        return (
            row is not None
            and row.system == self.system
            and row.expires_at > self.clock.now().timestamp()
        )
