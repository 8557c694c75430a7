"""`q2c webhook`: the webhook receiver on its own, against the Temporal of TEMPORAL_ADDRESS."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from temporalio.client import Client

from adapters import temporal_client
from adapters.codec import data_converter
from adapters.database import check_database, make_engine
from adapters.observability import tracing
from adapters.observability.logging import configure_logging
from adapters.settings import ConfigError, Settings, get_settings
from domain.errors import InputError
from starter.app import OperationFailed, app, console, err_console
from starter.webhooks.server import (
    WebhookAddressError,
    WebhookServer,
    WebhookStartError,
    check_address,
)


async def receiver_client() -> Client:
    """A client that may start before Temporal answers: until it does, events get 503."""
    converter = data_converter()  # a malformed Q2C_ENCRYPTION_KEY stops here, not below
    try:
        return await temporal_client.connect(data_converter=converter)
    except ConfigError as exc:
        err_console.print(f"warning: {exc}; webhooks are answered 503 until it answers")
        return await temporal_client.connect(lazy=True, data_converter=converter)


async def start_receiver(settings: Settings, client: Client) -> WebhookServer:
    """Start the receiver and print where it listens (shared with `q2c dev`)."""
    engine = make_engine(settings.database_url)
    check_database(engine)
    server = WebhookServer(settings, client, engine)
    try:
        url = await server.start()
    except WebhookStartError as exc:
        raise OperationFailed(str(exc)) from None
    console.print(
        f"Webhooks: {url}/webhooks/salesforce, {url}/webhooks/billing (OpenAPI: {url}/docs)",
        highlight=False,
        soft_wrap=True,
    )
    return server


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = await start_receiver(settings, await receiver_client())
    console.print("Ctrl-C stops the receiver.")
    try:
        await stop.wait()
    finally:
        await server.stop()


@app.command()
def webhook(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default Q2C_WEBHOOK_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default Q2C_WEBHOOK_PORT; 0 = any)."),
    ] = None,
) -> None:
    """Receive Salesforce and billing webhooks and signal the contracts, until Ctrl-C."""
    settings = get_settings()
    configure_logging(settings, "q2c-webhook")  # Q2C_LOG_FORMAT, redacted, with contract ids
    tracing.configure_tracing(settings, "q2c-webhook")  # before the client and the app exist
    overrides = {"webhook_host": host, "webhook_port": port}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    try:
        check_address(settings.webhook_host)  # before Temporal: a typo is exit 2, at once
    except WebhookAddressError as exc:
        raise InputError(str(exc)) from None
    asyncio.run(_serve(settings))
