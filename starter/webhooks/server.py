"""Serve the receiver with uvicorn inside the caller's event loop (`q2c webhook`, `q2c dev`).

The caller owns signal handling (Ctrl-C stops everything it started, in order), so uvicorn's
own handlers are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from sqlalchemy import Engine
from temporalio.client import Client

from adapters.billing import BillingAdapter
from adapters.settings import Settings
from adapters.webhook_events import WebhookEvents
from starter.webhooks.app import create_app
from starter.webhooks.receiver import Receiver

STARTUP_TIMEOUT = 15.0


class WebhookStartError(Exception):
    """The receiver could not listen (port taken, bad address); the message names the setting."""


class WebhookAddressError(WebhookStartError):
    """The listen address is not one this machine has or can resolve (bad input, not a fault)."""


def check_address(host: str) -> None:
    """Refuse a listen address that cannot be bound, before anything else starts."""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, ValueError, TypeError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise WebhookAddressError(
            f"webhooks: {host!r} is not an address to listen on: {reason} (Q2C_WEBHOOK_HOST)"
        ) from None


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    check_address(host)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WebhookStartError(
            f"webhooks: cannot listen on {host}:{port}: {exc.strerror} "
            "(set Q2C_WEBHOOK_PORT, 0 = any)"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class WebhookServer:
    """The receiver on `settings.webhook_host:webhook_port`, signalling through `client`."""

    def __init__(self, settings: Settings, client: Client, engine: Engine) -> None:
        self.settings = settings
        self.events = WebhookEvents(engine)
        self.billing = BillingAdapter(
            settings, webhook_tolerance_seconds=settings.webhook_tolerance_seconds
        )
        self.app = create_app(Receiver(settings, client, self.events, self.billing))
        self.url = ""
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Listen, and return the base address (`http://host:port`)."""
        await asyncio.to_thread(self.events.create_tables)
        host = self.settings.webhook_host
        sock = _bind(host, self.settings.webhook_port)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        while not self._server.started:
            if self._task.done() or loop.time() > deadline:
                await self.stop()
                raise WebhookStartError("webhooks: the receiver did not start")
            await asyncio.sleep(0.01)
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None
        await self.billing.aclose()
