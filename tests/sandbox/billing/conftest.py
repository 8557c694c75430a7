"""Fixtures for the billing sandbox: the app in process, the unmodified SDK against the live
sandbox, and a webhook receiver that records what it is sent."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import stripe
from fastapi import FastAPI

from sandbox.billing.app import create_app
from sandbox.context import SandboxContext
from sandbox.db import make_sandbox_engine
from tests.fixtures.sandbox import SandboxHandle, sandbox_settings

API_KEY = "sk_test_q2c_sandbox"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="session")
def billing_app() -> tuple[SandboxContext, FastAPI]:
    """One in-process billing app for the session (building an app costs more than a test)."""
    settings = sandbox_settings(billing_api_key=API_KEY)
    ctx = SandboxContext(settings=settings, engine=make_sandbox_engine("sqlite://"))
    return ctx, create_app(ctx)


@pytest.fixture
def billing_ctx(billing_app: tuple[SandboxContext, FastAPI]) -> SandboxContext:
    return billing_app[0]


@pytest.fixture
async def api(billing_app: tuple[SandboxContext, FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    """The billing app in process (no sockets), emptied, on real time, with the sandbox key."""
    ctx, app = billing_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://billing.test", headers=AUTH
    ) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        ctx.clock.reset()
        ctx.injector.clear()
        yield client


@pytest.fixture
async def stripe_client(sandbox: SandboxHandle) -> AsyncIterator[stripe.StripeClient]:
    """The official SDK, unmodified, pointed at the running billing sandbox."""
    http = stripe.HTTPXClient(timeout=10)
    client = stripe.StripeClient(
        sandbox.settings.billing_api_key,
        base_addresses={"api": sandbox.billing_url},
        http_client=http,
        max_network_retries=0,
    )
    yield client
    await http.close_async()  # type: ignore[no-untyped-call]


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP endpoint that records every POST and answers with `status`."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    status: int = 200

    def types(self) -> list[str]:
        import json

        return [json.loads(d.body)["type"] for d in self.deliveries]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            state.deliveries.append(Delivery(dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
