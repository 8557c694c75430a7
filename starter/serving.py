"""An ASGI app served by uvicorn inside the caller's event loop (`q2c webhook`, `q2c codec-server`,
`q2c dev`).

The caller owns signal handling (Ctrl-C stops everything it started, in order), so uvicorn's
own handlers are left out. Each server wraps the errors of `bind_socket` and of
`AppServer.start` in its own exception, whose message names its settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

STARTUP_TIMEOUT = 15.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: its owner stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on `host:port` (0 = any free port).

    Raises what `socket.bind` raises (OSError; ValueError, TypeError or UnicodeError for a host
    that is no address at all); the socket is closed then.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


class AppServer:
    """`app` served on a bound socket as a task of the running loop, until `stop()`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(
        self, sock: socket.socket, host: str, not_started: Callable[[], Exception]
    ) -> str:
        """Serve on `sock` (bound to `host`); the base address (`http://host:port`) once
        uvicorn has started, else `not_started()` is raised (after stopping)."""
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
                raise not_started()
            await asyncio.sleep(0.01)
        url_host = f"[{host}]" if ":" in host else host
        return f"http://{url_host}:{sock.getsockname()[1]}"

    @property
    def stopped(self) -> bool:
        return self._task is None or self._task.done()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None
