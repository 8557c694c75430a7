"""Issue 9: three worker processes, one Temporal, one PostgreSQL ledger; every effect once.

Three `python worker.py` processes (separate OS processes, configured only through the
environment, as in production: TEMPORAL_ADDRESS of the dev server, Q2C_DATABASE_URL of one
PostgreSQL schema, Q2C_*_URL of the sandbox) poll one task queue. A batch of contracts booked
in the Salesforce sandbox, all started months in the past, catch up at once: every invoice
due so far, its journal, and each closed month's revenue journal.

The workers run with the sticky cache off (Q2C_WORKER_STICKY_CACHE_SIZE=0), so every workflow
task goes through the shared queue to whichever process polls first: the work is spread for
certain, and each contract hops between processes from one task to the next, the hardest case
for determinism and exactly-once. The test then finds, for every contract, exactly the
documents and journals the domain engine says are due (`posting_difference` of the schedule on
the business date), each once in billing, in the ERP and in the ledger, and reads from the
workflow histories that all three processes ran workflow tasks and activities.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.billing import BillingAdapter
from adapters.database import make_engine
from adapters.erp import ErpClient, external_id_for
from adapters.http import make_http_client
from adapters.ledger import Ledger
from deploy.healthcheck import pollers, polling_hosts
from domain.calendar import month_key
from domain.documents import BillingDocument, JournalEntry
from domain.models import Scenario
from domain.posting import posting_difference
from domain.schedule import build_schedule
from sandbox.server import SandboxServer, run_in_thread
from starter.simulate import book_scenario
from tests.fixtures.sandbox import SandboxHandle, sandbox_settings
from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import ContractInput, ContractStatus

pytestmark = [pytest.mark.slow, pytest.mark.devserver]

REPO = Path(__file__).resolve().parents[2]
WORKERS = 3
CONTRACTS = 9
# The business clock is pinned (a constant offset from real time): the same documents whatever
# day the suite runs, and half a day before the business date could roll over.
BUSINESS_NOW = dt.datetime(2026, 6, 17, 12, tzinfo=dt.UTC)
TODAY = BUSINESS_NOW.date()
STARTUP_SECONDS = 30.0
SETTLE_SECONDS = 75.0
ENTITIES = {"EUR": "EU-DE", "USD": "US-CA", "GBP": "UK-LDN"}


@dataclass
class Worker:
    """One `python worker.py` process and its log."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def identity(self) -> str:
        """The identity Temporal records for this process (the SDK's `<pid>@<host>`)."""
        return f"{self.process.pid}@{socket.gethostname()}"

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker {self.process.pid} exited with {self.process.returncode}:\n"
                + self.log.read_text(errors="replace")[-3000:]
            )


@dataclass
class Contract:
    raw: dict[str, Any]
    scenario: Scenario
    opportunity_id: str
    documents: dict[str, BillingDocument]
    journals: dict[str, JournalEntry]
    handle: WorkflowHandle[Any, Any] | None = None

    @property
    def contract_id(self) -> str:
        return self.scenario.contract.id

    @property
    def prefix(self) -> str:
        return f"{workflow_id_for(self.opportunity_id)}:"


def months_back(day: dt.date, months: int, day_of_month: int) -> dt.date:
    """`day_of_month` of the month `months` before `day`'s (clamped to the month's end)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    first_of_next = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last = (first_of_next - dt.timedelta(days=1)).day
    return dt.date(year, month + 1, min(day_of_month, last))


def scenario(n: int) -> dict[str, Any]:
    """Contract `n` of the batch: frequencies, currencies, anchors and lines vary."""
    frequency = ("monthly", "quarterly", "annual")[n % 3]
    currency = ("EUR", "USD", "GBP")[n % 3 if n % 2 else 0]
    start = months_back(TODAY, 3 + n % 6, (1, 10, 15, 28, 31)[n % 5])
    end = dt.date(start.year + 1, start.month, 1) + (start - start.replace(day=1))
    end -= dt.timedelta(days=1)
    tag = f"{n}{uuid.uuid4().hex[:6].upper()}"
    lines: list[dict[str, Any]] = [
        {
            "id": "L1",
            "product_code": "SEAT-PRO",
            "kind": "subscription",
            "quantity": 5 + n,
            "unit_price": "1200.00",
            "ssp": "1400.00",
        }
    ]
    if n % 2:
        lines.append(
            {
                "id": "L2",
                "product_code": "ONBOARD",
                "kind": "one_time",
                "quantity": 1,
                "unit_price": "2500.00",
                "ssp": "3000.00",
            }
        )
    return {
        "contract": {
            "id": f"OPP-MW-{tag}",
            "customer": {"id": f"ACC-MW-{tag}", "name": f"Many Workers {tag} GmbH"},
            "currency": currency,
            "legal_entity": ENTITIES[currency],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "billing_frequency": frequency,
            "lines": lines,
        },
        "amendments": [],
        "usage": [],
        "as_of": TODAY.isoformat(),
    }


def expected(parsed: Scenario) -> tuple[dict[str, BillingDocument], dict[str, JournalEntry]]:
    """What must be posted by TODAY: the domain's plan, checked against the schedule itself."""
    schedule = build_schedule(parsed.contract)
    plan = posting_difference(schedule, {}, {}, TODAY)
    documents = {d.key: d for d in plan.documents}
    due = {d.key for d in schedule.documents() if d.date <= TODAY and d.available_on <= TODAY}
    assert set(documents) == due, "the plan posts the schedule's documents dated to today"
    journals = {j.key: j for j in plan.journals}
    closed = {
        month_key(d)
        for d in (
            parsed.contract.start_date + dt.timedelta(days=i)
            for i in range((TODAY - parsed.contract.start_date).days + 1)
        )
        if month_key(d) < month_key(TODAY)
    }
    revenue = {k for k in journals if k.startswith("journal:revenue:")}
    assert revenue == {f"journal:revenue:{m}" for m in closed}, "one per closed month"
    assert len(journals) == len(documents) + len(closed), "one journal per document too"
    return documents, journals


def worker_env(
    dev_env: WorkflowEnvironment, sandbox: SandboxHandle, ledger_url: str, task_queue: str
) -> dict[str, str]:
    """A worker's whole configuration, from the environment as in production."""
    settings = sandbox.settings
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "Q2C_"))}
    return {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "Q2C_TASK_QUEUE": task_queue,
        "Q2C_DATABASE_URL": ledger_url,
        "Q2C_SALESFORCE_URL": settings.salesforce_url,
        "Q2C_SALESFORCE_CLIENT_ID": settings.salesforce_client_id,
        "Q2C_SALESFORCE_CLIENT_SECRET": settings.salesforce_client_secret,
        "Q2C_BILLING_URL": settings.billing_url,
        "Q2C_BILLING_API_KEY": settings.billing_api_key,
        "Q2C_ERP_URL": settings.erp_url,
        "Q2C_ERP_CLIENT_ID": settings.erp_client_id,
        "Q2C_ERP_CLIENT_SECRET": settings.erp_client_secret,
        # Every workflow task through the shared queue (see the module docstring), and a few
        # activity slots each, so that no one process can take the whole batch.
        "Q2C_WORKER_STICKY_CACHE_SIZE": "0",
        "Q2C_WORKER_MAX_CONCURRENT_ACTIVITIES": "4",
        "Q2C_WORKER_ACTIVITY_TASK_POLLERS": "2",
        "Q2C_WORKER_WORKFLOW_TASK_POLLERS": "2",
    }


@pytest.fixture
def file_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """The three sandbox apps on free ports, their state in a SQLite file.

    Not the session's in-memory `sandbox`: there the three apps share one SQLite connection
    but each serializes only its own transactions, so under the load of three worker
    processes one app's rollback can undo another's uncommitted write (an invoice answered
    201 and then missing). A file gives each transaction a connection of its own.
    """
    settings = sandbox_settings(sandbox_database_url=f"sqlite:///{tmp_path / 'sandbox.db'}")
    with run_in_thread(SandboxServer(settings)) as server:
        urls = server.urls
        handle = SandboxHandle(
            server,
            server.settings.model_copy(
                update={
                    "salesforce_url": urls["salesforce"],
                    "billing_url": urls["billing"],
                    "erp_url": urls["erp"],
                }
            ),
        )
        try:
            yield handle
        finally:
            handle.http.close()


@pytest.fixture
def ledger_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def start_worker(n: int, env: dict[str, str], log_dir: Path) -> Worker:
    log = log_dir / f"worker-{n}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py")],
            cwd=log_dir,  # no developer .env
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(process, log)


def stop_workers(workers: list[Worker]) -> None:
    """SIGTERM each worker (a clean stop), SIGKILL what lingers; leave no process behind."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.terminate()
    for worker in workers:
        try:
            worker.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=5)


async def wait_polling(client: Client, task_queue: str, workers: list[Worker]) -> None:
    """Until Temporal lists a poller of each worker process on the task queue, as the
    containers' health check (deploy/healthcheck.py) reads them: recent pollers of this host."""
    deadline = time.monotonic() + STARTUP_SECONDS
    wanted = {w.identity for w in workers}
    while True:
        for worker in workers:
            worker.check_alive()
        found = await pollers(client, task_queue)
        seen = polling_hosts(found, dt.datetime.now(dt.UTC)).get(socket.gethostname(), set())
        if wanted <= seen:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"pollers {sorted(seen)}, expected {sorted(wanted)}")
        await asyncio.sleep(0.2)


async def settle(contract: Contract, workers: list[Worker], deadline: float) -> ContractStatus:
    """Until the contract has processed TODAY with everything expected posted."""
    assert contract.handle is not None
    status: ContractStatus | None = None
    while time.monotonic() < deadline:
        for worker in workers:
            worker.check_alive()
        try:
            status = await asyncio.wait_for(contract.handle.query(ContractWorkflow.status), 10)
        except (RPCError, TimeoutError):
            status = None
        if status is not None:
            if status.stage == "NeedsAttention":
                raise AssertionError(
                    f"{contract.contract_id} parked: {status.attention_reason}: "
                    f"{status.attention_detail}"
                )
            if (
                status.processed_through == TODAY
                and status.pending_messages == 0
                and status.documents_posted == len(contract.documents)
                and status.journals_posted == len(contract.journals)
            ):
                return status
        await asyncio.sleep(0.25)
    raise AssertionError(f"{contract.contract_id} did not settle: {status}")


def duplicates(keys: list[str]) -> dict[str, int]:
    return {k: n for k, n in Counter(keys).items() if n > 1}


async def assert_exactly_once(
    contract: Contract, billing: BillingAdapter, erp: ErpClient, ledger: Ledger
) -> None:
    """Billing, the ERP and the ledger hold exactly the expected effects of the contract, once."""
    prefix = contract.prefix
    want_docs = {prefix + k: d for k, d in contract.documents.items()}
    want_journals = {prefix + k: j for k, j in contract.journals.items()}
    name = contract.contract_id

    invoices = await billing.list_invoices_for(contract_id=name)
    notes = [n for i in invoices for n in await billing.list_credit_notes(i.id)]
    issued = [i.key or "" for i in invoices] + [n.key or "" for n in notes]
    assert duplicates(issued) == {}, f"{name}: duplicate billing documents"
    assert set(issued) == set(want_docs), f"{name}: billing {sorted(issued)}"
    for invoice in invoices:
        doc = want_docs[invoice.key or ""]
        assert (invoice.total, invoice.document_date) == (doc.total, doc.date), invoice.key
        assert invoice.status == "open", invoice.key

    entries = await erp.list_journal_entries(name)
    posted = [e.idempotency_key or "" for e in entries]
    assert duplicates(posted) == {}, f"{name}: duplicate ERP journals"
    assert set(posted) == set(want_journals), f"{name}: ERP {sorted(posted)}"
    for entry in entries:
        want = want_journals[entry.idempotency_key or ""]
        assert entry.external_id == external_id_for(entry.idempotency_key or "")
        assert (entry.tran_date, entry.total_debit) == (want.date, want.amount), entry.external_id

    effects = await asyncio.to_thread(ledger.effects_for, name)
    keys = [e.key for e in effects]
    assert duplicates(keys) == {}, f"{name}: duplicate ledger records"
    recorded = {e.key for e in effects if e.kind != "customer"}
    assert recorded == set(want_docs) | set(want_journals), f"{name}: ledger {sorted(recorded)}"
    assert sorted(e.system for e in effects if e.kind == "customer") == ["billing", "erp"]
    by_key = {e.key: e for e in effects}
    for invoice in invoices:
        assert by_key[invoice.key or ""].response["billing_id"] == invoice.id, invoice.key
    for entry in entries:
        assert by_key[entry.idempotency_key or ""].response["id"] == entry.id


async def identities(client: Client, workflow_id: str) -> tuple[set[str], set[str]]:
    """Who ran the workflow's tasks: (workflow task identities, activity task identities)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    workflow_tasks: set[str] = set()
    activities: set[str] = set()
    for event in history.events:
        if event.HasField("workflow_task_started_event_attributes"):
            workflow_tasks.add(event.workflow_task_started_event_attributes.identity)
        if event.HasField("activity_task_started_event_attributes"):
            activities.add(event.activity_task_started_event_attributes.identity)
    return workflow_tasks, activities


async def test_three_worker_processes_post_every_effect_once(
    dev_env: WorkflowEnvironment,
    file_sandbox: SandboxHandle,
    postgres_url: str,
    ledger_engine: Engine,
    tmp_path: Path,
) -> None:
    sandbox = file_sandbox
    began = time.monotonic()
    client = dev_env.client
    task_queue = f"many-workers-{uuid.uuid4().hex[:8]}"
    # The deployment's one-shot first (deploy/ledger_schema.py): workers starting together on
    # an empty database would race to create the ledger's tables. They still re-create the
    # ledger's PostgreSQL triggers at every start, and two doing it at once fail ("tuple
    # concurrently updated"), so each starts once the one before polls (a rolling start).
    await asyncio.to_thread(Ledger(ledger_engine).create_tables)
    env = worker_env(dev_env, sandbox, postgres_url, task_queue)
    workers = [start_worker(1, env, tmp_path)]
    contracts: list[Contract] = []
    try:
        # Book the batch while the first worker starts (imports, connections).
        for n in range(CONTRACTS):
            raw = scenario(n)
            parsed = Scenario.model_validate(raw)
            booked = await book_scenario(sandbox.settings, raw, parsed)
            documents, journals = expected(parsed)
            contracts.append(Contract(raw, parsed, booked.opportunity_id, documents, journals))
        await wait_polling(client, task_queue, workers)
        for n in range(2, WORKERS + 1):
            workers.append(start_worker(n, env, tmp_path))
            await wait_polling(client, task_queue, workers)
        offset = (BUSINESS_NOW - dt.datetime.now(dt.UTC)).total_seconds()
        for contract in contracts:
            contract.handle = await client.start_workflow(
                ContractWorkflow.run,
                ContractInput(opportunity_id=contract.opportunity_id, clock_offset_seconds=offset),
                id=workflow_id_for(contract.opportunity_id),
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
            )
        started = time.monotonic()
        deadline = started + SETTLE_SECONDS
        await asyncio.gather(*(settle(c, workers, deadline) for c in contracts))
        settled = time.monotonic() - started

        async with (
            BillingAdapter(sandbox.settings) as billing,
            make_http_client(sandbox.settings) as http,
        ):
            erp = ErpClient(sandbox.settings, http)
            ledger = Ledger(ledger_engine)
            for contract in contracts:
                await assert_exactly_once(contract, billing, erp, ledger)

        # Nothing outside the batch: every record in billing and the ERP is one of the batch's.
        billing_state = await asyncio.to_thread(sandbox.state, "billing")
        erp_state = await asyncio.to_thread(sandbox.state, "erp")
        total_docs = sum(len(c.documents) for c in contracts)
        total_journals = sum(len(c.journals) for c in contracts)
        assert len(billing_state["invoice"]) + len(billing_state["credit_note"]) == total_docs
        assert len(erp_state["journalEntry"]) == total_journals
        assert len(billing_state["customer"]) == len(erp_state["customer"]) == CONTRACTS

        # The work was spread: each process ran workflow tasks and activities, and contracts
        # moved between processes from one workflow task to the next.
        by_identity: Counter[str] = Counter()
        ran_activities: set[str] = set()
        hopped = 0
        for contract in contracts:
            workflow_tasks, activities = await identities(client, contract.handle.id)  # type: ignore[union-attr]
            by_identity.update(workflow_tasks)
            ran_activities |= activities
            hopped += len(workflow_tasks) > 1
        names = {w.identity for w in workers}
        assert names <= set(by_identity), f"workflow tasks by {dict(by_identity)}"
        assert names <= ran_activities, f"activities by {sorted(ran_activities)}"
        assert set(by_identity) <= names and ran_activities <= names, "an unknown worker ran"
        assert hopped >= CONTRACTS // 2, f"only {hopped} contracts ran on several processes"
        for worker in workers:
            worker.check_alive()
            assert "polling task queue" in worker.log.read_text(), worker.log
        print(
            f"{CONTRACTS} contracts, {total_docs} documents, {total_journals} journals on "
            f"{WORKERS} worker processes: settled in {settled:.1f}s "
            f"({time.monotonic() - began:.1f}s in all); {hopped} contracts ran on several"
        )
    finally:
        for contract in contracts:
            if contract.handle is not None:
                with contextlib.suppress(RPCError):
                    await contract.handle.terminate(reason="test finished")
        stop_workers(workers)
