"""The webhook receiver in-process, with a Temporal client that only records what it is asked.

No Temporal server and no network: the app is the one `q2c webhook` serves (`create_app` over a
`Receiver`), its accepted-event table a SQLite file of the test's own, and its Temporal client a
`RecordingClient`, so a test sees exactly which starts and signals a request caused.

Hypothesis runs derandomized here (each test's settings): the same examples on every run and
machine, so a failure in CI is a failure on a laptop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from adapters.billing import BillingAdapter
from adapters.database import make_engine
from adapters.settings import Settings
from adapters.webhook_events import WebhookEvents
from starter.webhooks import signature
from starter.webhooks.app import STRIPE_SIGNATURE, create_app
from starter.webhooks.receiver import Receiver


@dataclass(frozen=True)
class Call:
    kind: str  # "start" or "signal"
    workflow_id: str
    name: str  # the start signal, or the signal
    arg: Any


@dataclass
class RecordingClient:
    """The part of `temporalio.client.Client` the receiver uses, recording every call."""

    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    async def start_workflow(self, _run: Any, arg: Any, **options: Any) -> Any:
        self._record(Call("start", options["id"], options["start_signal"], arg))
        return SimpleNamespace()  # no start response: `started_by` takes it as started

    def get_workflow_handle(self, workflow_id: str) -> Any:
        client = self

        class Handle:
            async def signal(self, name: str, arg: Any = None) -> None:
                client._record(Call("signal", workflow_id, name, arg))

        return Handle()


@dataclass
class Rig:
    settings: Settings
    client: RecordingClient
    app: FastAPI
    engine: Engine


def build_rig(state: Path) -> Rig:
    """The receiver over a SQLite event table in `state` (schemathesis loads the schema of an
    app at import time, so this is a function, not a fixture)."""
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{state / 'events.db'}",
        salesforce_webhook_secret=f"fuzz-{uuid.uuid4().hex}",
        billing_webhook_secret=f"whsec_{uuid.uuid4().hex}",
    )
    engine = make_engine(settings.database_url)
    events = WebhookEvents(engine)
    events.create_tables()
    client = RecordingClient()
    receiver = Receiver(settings, cast(Client, client), events, BillingAdapter(settings))
    return Rig(settings, client, create_app(receiver), engine)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    built = build_rig(tmp_path_factory.mktemp("fuzz"))
    yield built
    built.engine.dispose()


def stripe_signature(raw: bytes, secret: str, at: int | None = None) -> str:
    """Stripe's `t=…,v1=…` over the raw bytes (what the SDK checks, for any body)."""
    signed_at = int(time.time()) if at is None else at
    message = str(signed_at).encode() + b"." + raw
    return f"t={signed_at},v1={hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


def signed_headers(rig: Rig, route: str, raw: bytes, at: int | None = None) -> dict[str, str]:
    """The signature header a genuine sender puts on `raw` for `route` (salesforce, billing)."""
    if route == "billing":
        return {STRIPE_SIGNATURE: stripe_signature(raw, rig.settings.billing_webhook_secret, at)}
    return {signature.HEADER: signature.sign(raw, rig.settings.salesforce_webhook_secret, at)}


def post(rig: Rig, route: str, raw: bytes, headers: Any) -> httpx.Response:
    """POST `raw` to `/webhooks/<route>` of the app, in-process (`headers` as httpx takes
    them: a mapping of text, or (name, value) byte pairs for values beyond ASCII)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=rig.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
            return await http.post(f"/webhooks/{route}", content=raw, headers=headers)

    return asyncio.run(send())
