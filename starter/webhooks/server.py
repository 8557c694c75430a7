"""Serve the receiver inside the caller's event loop (`q2c webhook`, `q2c dev`), through
`starter.serving`."""

from __future__ import annotations

import asyncio
import socket

from sqlalchemy import Engine
from temporalio.client import Client

from adapters.billing import BillingAdapter
from adapters.settings import Settings
from adapters.webhook_events import WebhookEvents
from starter.serving import AppServer, bind_socket
from starter.webhooks.app import create_app
from starter.webhooks.receiver import Receiver


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


def _bind(host: str, port: int) -> socket.socket:
    check_address(host)
    try:
        return bind_socket(host, port)
    except OSError as exc:
        raise WebhookStartError(
            f"webhooks: cannot listen on {host}:{port}: {exc.strerror} "
            "(set Q2C_WEBHOOK_PORT, 0 = any)"
        ) from None


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
        self._serving = AppServer(self.app)

    async def start(self) -> str:
        """Listen, and return the base address (`http://host:port`)."""
        await asyncio.to_thread(self.events.create_tables)
        host = self.settings.webhook_host
        sock = _bind(host, self.settings.webhook_port)
        self.url = await self._serving.start(
            sock, host, lambda: WebhookStartError("webhooks: the receiver did not start")
        )
        return self.url

    async def stop(self) -> None:
        await self._serving.stop()
        await self.billing.aclose()
