"""`q2c codec-server` (the Web UI's remote codec) and `q2c codec-key` (a new encryption key)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from adapters.codec import codec_from_settings, new_key_text
from adapters.settings import get_settings
from starter.app import OperationFailed, app, console
from starter.codec_server import app_from_settings, parse_origins

STARTUP_TIMEOUT = 15.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the command stops it on SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OperationFailed(
            f"codec server: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(set Q2C_CODEC_SERVER_HOST / Q2C_CODEC_SERVER_PORT or --host/--port; port 0 = any)"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _serve(application: FastAPI, host: str, port: int, origins: list[str]) -> None:
    sock = _bind(host, port)
    config = uvicorn.Config(
        application,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = loop.time() + STARTUP_TIMEOUT
    while not server.started:
        if task.done() or loop.time() > deadline:
            server.should_exit = True
            await asyncio.gather(task, return_exceptions=True)
            raise OperationFailed("codec server: did not start")
        await asyncio.sleep(0.01)
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{sock.getsockname()[1]}"
    console.print(
        f"Codec server: {url} (POST /decode, /encode). Web UI origins allowed: "
        f"{', '.join(origins)}. Ctrl-C stops it.",
        highlight=False,
        soft_wrap=True,
    )
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopper.cancel()
    await asyncio.gather(task, stopper, return_exceptions=True)


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
