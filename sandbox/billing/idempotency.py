"""Stripe's `Idempotency-Key` semantics, on the sandbox clock.

The first request made with a key saves its status and body; a retry with the same key, endpoint
and parameters gets that answer again (`Idempotent-Replayed: true`), even when the client never
saw it (commit-then-fail). The same key with another endpoint or other parameters is a 400
`idempotency_error`; a key whose first request is still running is a 409. Answers are saved only
once the endpoint ran: a request refused by validation saves nothing. Keys are forgotten 24 hours
(of sandbox time) after their first use, which is why q2c also stores its key in metadata.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlmodel import Session

from sandbox.billing.errors import StripeError
from sandbox.billing.models import BillingIdempotencyKey, JsonObject

KEYS: Table = BillingIdempotencyKey.__table__  # type: ignore[attr-defined]
RETENTION_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


def fingerprint(params: JsonObject) -> str:
    """A digest of the parameters (order-independent; the key itself is not part of it)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Replay:
    """A saved answer to send again."""

    status: int
    body: JsonObject
    request_id: str


def check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise StripeError(
            400,
            f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters long (got {len(key)}).",
            type="idempotency_error",
        )


def lookup(session: Session, key: str, endpoint: str, digest: str, now: int) -> Replay | None:
    """The saved answer for `key`, None when unused (or forgotten), or an idempotency error."""
    connection = session.connection()
    record = connection.execute(select(KEYS).where(KEYS.c.key == key)).first()
    if record is None:
        return None
    if now - record.created >= RETENTION_SECONDS:
        connection.execute(delete(KEYS).where(KEYS.c.key == key))
        return None
    if record.endpoint != endpoint:
        raise StripeError(
            400,
            "Keys for idempotent requests can only be used for the same endpoint they were "
            f"first used for ('{record.endpoint}' vs '{endpoint}'). Try using a key other than "
            f"'{key}' if you meant to execute a different request.",
            type="idempotency_error",
        )
    if record.fingerprint != digest:
        raise StripeError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
            type="idempotency_error",
        )
    return Replay(record.status, record.body, record.request_id)


def save(
    session: Session,
    key: str,
    endpoint: str,
    digest: str,
    now: int,
    status: int,
    body: JsonObject,
    request_id: str,
) -> None:
    session.connection().execute(
        insert(KEYS).values(
            key=key,
            endpoint=endpoint,
            fingerprint=digest,
            created=now,
            status=status,
            body=body,
            request_id=request_id,
        )
    )


class InFlight:
    """Keys whose first request is running: a concurrent retry gets a 409, not a wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set()

    def enter(self, key: str) -> None:
        with self._lock:
            if key in self._keys:
                raise StripeError(
                    409,
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    type="idempotency_error",
                    code="idempotency_key_in_use",
                )
            self._keys.add(key)

    def leave(self, key: str) -> None:
        with self._lock:
            self._keys.discard(key)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


def replay_headers(replay: Replay) -> dict[str, Any]:
    return {"Idempotent-Replayed": "true", "Original-Request": replay.request_id}
