"""`q2c codec-server` (the Web UI's remote codec) and `q2c codec-key` (a new encryption key)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer
from fastapi import FastAPI

from adapters.codec import codec_from_settings, new_key_text
from adapters.settings import get_settings
from starter.app import OperationFailed, app, console
from starter.codec_server import (
    CodecServer,
    CodecServerStartError,
    app_from_settings,
    parse_origins,
)


async def _serve(application: FastAPI, host: str, port: int, origins: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = CodecServer(application, host, port)
    try:
        url = await server.start()
    except CodecServerStartError as exc:
        raise OperationFailed(str(exc)) from None
    console.print(
        f"Codec server: {url} (POST /decode, /encode). Web UI origins allowed: "
        f"{', '.join(origins)}. Ctrl-C stops it.",
        highlight=False,
        soft_wrap=True,
    )
    try:
        while not stop.is_set() and not server.stopped:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        await server.stop()


@app.command("codec-server")
def codec_server(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default Q2C_CODEC_SERVER_HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default Q2C_CODEC_SERVER_PORT; 0 = any)."),
    ] = None,
) -> None:
    """Decrypt payloads for the Temporal Web UI and CLI (remote codec endpoint), until Ctrl-C."""
    settings = get_settings()
    application = app_from_settings(settings, codec_from_settings(settings))
    asyncio.run(
        _serve(
            application,
            host if host is not None else settings.codec_server_host,
            port if port is not None else settings.codec_server_port,
            parse_origins(settings.codec_server_origins),
        )
    )


@app.command("codec-key")
def codec_key(
    key_id: Annotated[
        str | None,
        typer.Option("--id", help="Key id stored with each payload (default k<YYYYMMDD>)."),
    ] = None,
) -> None:
    """Print a new random encryption key, `<key id>:<base64>`, for Q2C_ENCRYPTION_KEY."""
    print(new_key_text(key_id))
