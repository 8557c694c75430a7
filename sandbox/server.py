"""Run the sandbox apps in one process: one asyncio loop, one uvicorn server per system.

`SandboxServer` is the programmatic API (`await start()`, `await stop()`, `.urls`), used by
`q2c sandbox`, `q2c dev` and `q2c simulate`; `run_in_thread` runs it in a background thread
for synchronous callers such as tests. A port of 0 picks a free one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from adapters.settings import Settings, get_settings
from sandbox.context import SandboxContext

SYSTEMS = ("salesforce", "billing", "erp")
STARTUP_TIMEOUT = 15.0

AppFactory = Callable[[SandboxContext], FastAPI]


class SandboxStartError(Exception):
    """An app could not start (port taken, bad address); the message names the setting."""


def app_factory(system: str) -> AppFactory | None:
    """`sandbox.<system>.app.create_app`, or None when that app is not part of this checkout."""
    module_name = f"sandbox.{system}.app"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (f"sandbox.{system}", module_name):
            return None
        raise
    factory: AppFactory = module.create_app
    return factory


class _UvicornServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner (three share one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _listen(host: str, port: int, system: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every answer written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        setting = f"Q2C_SANDBOX_{system.upper()}_PORT"
        raise SandboxStartError(
            f"{system}: cannot listen on {host}:{port}: {exc.strerror} (set {setting}, 0 = any)"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class SandboxServer:
    """The three sandbox apps on `settings.sandbox_host`, sharing one context."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        ctx: SandboxContext | None = None,
        ports: Mapping[str, int] | None = None,
    ) -> None:
        self.settings = settings or (ctx.settings if ctx else get_settings())
        self.ctx = ctx or SandboxContext.from_settings(self.settings)
        self._ports = {
            "salesforce": self.settings.sandbox_salesforce_port,
            "billing": self.settings.sandbox_billing_port,
            "erp": self.settings.sandbox_erp_port,
            **(ports or {}),
        }
        self.apps: dict[str, FastAPI] = {}
        self.urls: dict[str, str] = {}
        self.missing: list[str] = []
        self._servers: list[_UvicornServer] = []
        self._tasks: list[asyncio.Task[None]] = []

    def lines(self) -> list[str]:
        """`salesforce: http://127.0.0.1:PORT`, one line per system, as `q2c sandbox` prints."""
        return [
            f"{name}: {self.urls[name]}" if name in self.urls else f"{name}: not in this checkout"
            for name in SYSTEMS
            if name in self.urls or name in self.missing
        ]

    async def start(self) -> dict[str, str]:
        host = self.settings.sandbox_host
        sockets: list[tuple[str, socket.socket]] = []
        try:
            for system in SYSTEMS:
                factory = app_factory(system)
                if factory is None:
                    self.missing.append(system)
                    continue
                self.apps[system] = factory(self.ctx)
                sockets.append((system, _listen(host, self._ports[system], system)))
        except BaseException:
            for _, sock in sockets:
                sock.close()
            raise
        for system, sock in sockets:
            port = sock.getsockname()[1]
            config = uvicorn.Config(
                self.apps[system],
                log_config=None,  # leave the host process's logging alone
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
                timeout_keep_alive=30,
            )
            server = _UvicornServer(config)
            self._servers.append(server)
            self._tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
            url_host = f"[{host}]" if ":" in host else host
            self.urls[system] = f"http://{url_host}:{port}"
        await self._wait_started()
        return dict(self.urls)

    async def _wait_started(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_TIMEOUT
        while not all(server.started for server in self._servers):
            for task in self._tasks:
                if task.done():
                    await self.stop()
                    raise SandboxStartError(f"a sandbox app failed to start: {task.exception()}")
            if loop.time() > deadline:
                await self.stop()
                raise SandboxStartError("the sandbox apps did not start in time")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._servers.clear()
        self._tasks.clear()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


@contextlib.contextmanager
def run_in_thread(server: SandboxServer) -> Iterator[SandboxServer]:
    """Serve in a background thread with its own event loop, for synchronous callers."""
    loop = asyncio.new_event_loop()
    started: Future[Any] = Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def begin() -> None:
            try:
                await server.start()
            except BaseException as exc:
                started.set_exception(exc)
                return
            started.set_result(None)

        loop.run_until_complete(begin())
        if started.exception() is None:
            loop.run_forever()
            loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=serve, name="q2c-sandbox", daemon=True)
    thread.start()
    started.result(timeout=STARTUP_TIMEOUT + 5)
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
