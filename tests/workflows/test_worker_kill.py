"""Issue 5: a worker process killed mid-activation and mid-amendment, then restarted, leaves no
duplicate and nothing missing in billing, the ERP or Salesforce (DESIGN.md §4).

The worker runs as its own OS process (`python worker.py`) against the dev server, the sandbox
in this process (over real HTTP, creates slowed down so that activities can be caught in
flight, some of them committed and then failed) and the ledger on PostgreSQL. The contract
starts months in the past, so activation catches up six invoices and eleven journals; an upsell
effective last month is then re-billed on its own invoice with a revenue adjustment. The worker
is SIGKILLed five times, each time while one of its activities is running (and, for documents,
once billing holds an invoice the ledger has not recorded yet), and a new process takes over.
At the end billing, the ERP, Salesforce and the ledger are compared, one to one, with what
the domain engine says must have been posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
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
from domain.documents import BillingDocument, JournalEntry
from domain.models import Scenario
from domain.posting import posting_difference
from domain.schedule import build_schedule
from sandbox.salesforce.scenario import amendment_records
from sandbox.server import SandboxServer, run_in_thread
from starter.simulate import map_products
from tests.fixtures.sandbox import SandboxHandle, sandbox_settings
from tests.workflows.worker_process import WorkerProcess, started_by, tell_server_worker_died
from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import AmendmentRequest, ContractInput, ContractStatus

pytestmark = [pytest.mark.slow, pytest.mark.devserver]

# Every create is slow enough to be caught in flight; some commit and then fail (seeded).
BILLING_LATENCY_MS = 400
ERP_LATENCY_MS = 300
FAULTS: dict[str, list[dict[str, Any]]] = {
    "billing": [
        {
            "route": "/v1/*",
            "method": "POST",
            "latency_ms": BILLING_LATENCY_MS,
            "commit_then_fail_rate": 0.1,
        }
    ],
    "erp": [
        {
            "route": "/services/rest/record/v1/*",
            "method": "POST",
            "latency_ms": ERP_LATENCY_MS,
            "commit_then_fail_rate": 0.1,
            "commit_then_fail_mode": "drop",
        }
    ],
}
FAULT_SEED = 5
# The business clock is pinned (a constant offset from real time): the same documents and
# amounts whatever day the suite runs, and half a day before the business date could roll over.
BUSINESS_NOW = dt.datetime(2026, 5, 27, 12, tzinfo=dt.UTC)
# What a killed worker already sent still lands at the vendor; this covers the slowest create.
LANDING_SECONDS = max(BILLING_LATENCY_MS, ERP_LATENCY_MS) / 1000 + 0.3
KILL_WAIT_SECONDS = 30.0
SETTLE_SECONDS = 45.0
POLL_SECONDS = 0.05


def _months_back(day: dt.date, months: int, day_of_month: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, day_of_month)


def scenario_for(today: dt.date) -> dict[str, Any]:
    """A monthly contract that started five months ago, and an upsell effective last month."""
    start = _months_back(today, 5, 10)
    end = dt.date(start.year + 1, start.month, start.day) - dt.timedelta(days=1)
    suffix = uuid.uuid4().hex[:6].upper()
    return {
        "contract": {
            "id": f"OPP-KILL-{suffix}",
            "customer": {"id": f"ACC-KILL-{suffix}", "name": "Kill Test GmbH"},
            "currency": "EUR",
            "legal_entity": "EU-DE",
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "billing_frequency": "monthly",
            "lines": [
                {
                    "id": "L1",
                    "product_code": "SEAT-PRO",
                    "kind": "subscription",
                    "quantity": 20,
                    "unit_price": "1400.00",
                    "ssp": "1500.00",
                },
                {
                    "id": "L2",
                    "product_code": "ONBOARD",
                    "kind": "one_time",
                    "quantity": 1,
                    "unit_price": "3000.00",
                    "ssp": "3000.00",
                },
            ],
        },
        "amendments": [
            {
                "id": "AMD-1",
                "effective_date": _months_back(today, 1, 20).isoformat(),
                "changes": [{"line_id": "L1", "quantity": 30}],
            }
        ],
        "as_of": today.isoformat(),
    }


@dataclass
class Expected:
    """What must have been posted by `today`, by the domain engine (keys without the prefix)."""

    documents: dict[str, BillingDocument]
    journals: dict[str, JournalEntry]


def expected_postings(scenario: Scenario, today: dt.date) -> tuple[Expected, Expected]:
    """After activation, and after the amendment, both received on `today`.

    The workflow posts exactly `posting_difference` on each business day it processes, so the
    same two steps give the documents and journals (adjustments included) it must have posted.
    """
    contract = scenario.contract
    first = posting_difference(build_schedule(contract), {}, {}, today)
    amendments = [
        a.model_copy(update={"received_on": max(today, a.effective_date)})
        for a in scenario.amendments
    ]
    amended = build_schedule(contract, amendments)
    second = posting_difference(amended, first.documents, first.journals, today)
    activation = Expected(
        documents={d.key: d for d in first.documents},
        journals={j.key: j for j in first.journals},
    )
    final = Expected(
        documents={**activation.documents, **{d.key: d for d in second.documents}},
        journals={**activation.journals, **{j.key: j for j in second.journals}},
    )
    due = {d.key for d in amended.documents() if d.date <= today and d.available_on <= today}
    assert set(final.documents) == due, "the posted documents are the amended schedule's to date"
    return activation, final


@dataclass
class Kill:
    """One SIGKILL: what the worker was running and what it left for its successor."""

    name: str
    running: list[str]
    held_after_kill: int
    orphans: set[str]
    seconds: float


@dataclass
class Run:
    """The contract under test and the ways to look at it."""

    client: Client
    handle: WorkflowHandle[Any, Any]
    worker: WorkerProcess
    sandbox: SandboxHandle
    ledger: Ledger
    contract_id: str
    prefix: str
    started: float = field(default_factory=time.monotonic)
    kills: list[Kill] = field(default_factory=list)

    async def ledger_keys(self) -> set[str]:
        effects = await asyncio.to_thread(self.ledger.effects_for, self.contract_id)
        return {e.key for e in effects}

    async def billing_keys(self) -> set[str]:
        """Keys of the contract's invoices and credit notes in billing, drafts included."""
        billing = await asyncio.to_thread(self.sandbox.state, "billing")
        return {
            obj["metadata"]["q2c_key"]
            for kind in ("invoice", "credit_note")
            for obj in billing[kind]
            if obj.get("metadata", {}).get("q2c_contract_id") == self.contract_id
        }

    async def erp_keys(self) -> set[str]:
        """Keys of the contract's journal entries in the ERP."""
        erp = await asyncio.to_thread(self.sandbox.state, "erp")
        return {
            entry["custbody_q2c_key"]
            for entry in erp["journalEntry"]
            if entry.get("custbody_q2c_contract") == self.contract_id
        }

    async def unrecorded(self) -> set[str]:
        """Effects billing or the ERP holds that the ledger, read after them, lacks."""
        in_systems = await self.billing_keys() | await self.erp_keys()
        return in_systems - await self.ledger_keys()

    async def kill_mid(
        self,
        name: str,
        activity: str,
        *,
        ready: Callable[[set[str]], bool] = lambda _: True,
        orphan: bool = False,
    ) -> Kill:
        """SIGKILL the worker while it runs `activity` (once `ready` holds for the ledger's keys,
        and, with `orphan`, once billing holds a document the ledger lacks), start a
        new worker, let the dead worker's requests land, and hand its attempts back to Temporal.
        """
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while True:
            self.worker.check_alive()
            description = await self.handle.describe()
            running = [
                p
                for p in started_by(description, self.worker.identity)
                if p.activity_type.name == activity
            ]
            idle_workflow = not description.raw_description.HasField("pending_workflow_task")
            if running and idle_workflow:
                # Billing first: what it holds and the ledger lacks *after* is really
                # unrecorded (in the other order, a record landing in between would count).
                in_billing = await self.billing_keys() if orphan else set()
                ledger = await self.ledger_keys()
                if ready(ledger) and (not orphan or in_billing - ledger):
                    break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{name}: the worker ran no {activity} within {KILL_WAIT_SECONDS}s; "
                    f"ledger has {sorted(await self.ledger_keys())}\n{self.worker.log_tail()}"
                )
            await asyncio.sleep(POLL_SECONDS)
        dead = self.worker.kill()
        seconds = time.monotonic() - self.started
        self.worker.start()  # starts up while what the dead worker sent lands
        await asyncio.sleep(LANDING_SECONDS)
        orphans = await self.unrecorded()
        after = await self.handle.describe()
        held = started_by(after, dead)
        await tell_server_worker_died(self.client, self.handle.id, after.run_id, held)
        kill = Kill(
            name=name,
            running=[f"{p.activity_type.name} (attempt {p.attempt})" for p in running],
            held_after_kill=len(held),
            orphans={k.removeprefix(self.prefix) for k in orphans},
            seconds=seconds,
        )
        self.kills.append(kill)
        return kill

    async def settle(self, today: dt.date, expected: Expected) -> ContractStatus:
        """Wait until `today` is processed with everything expected posted (bounded)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        status: ContractStatus | None = None
        while time.monotonic() < deadline:
            self.worker.check_alive()
            try:
                status = await asyncio.wait_for(self.handle.query(ContractWorkflow.status), 5)
            except (RPCError, TimeoutError):
                status = None  # the new worker is still starting up
            if status is not None:
                if status.stage == "NeedsAttention":
                    raise AssertionError(
                        f"the contract parked: {status.attention_reason}: {status.attention_detail}"
                    )
                if (
                    status.processed_through == today
                    and status.pending_messages == 0
                    and status.stage == "Active"
                    and status.documents_posted == len(expected.documents)
                    and status.journals_posted == len(expected.journals)
                ):
                    return status
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"{today} was not processed within {SETTLE_SECONDS}s: expected "
            f"{len(expected.documents)} documents and {len(expected.journals)} journals, "
            f"status {status}\n{self.worker.log_tail()}"
        )


def _count(keys: list[str]) -> dict[str, int]:
    return {k: n for k, n in Counter(keys).items() if n > 1}


async def assert_exactly_once(run: Run, expected: Expected, settings: Any) -> None:
    """Billing, the ERP and the ledger hold exactly the expected effects, each once."""
    prefix = run.prefix
    want_docs = {prefix + k: d for k, d in expected.documents.items()}
    want_journals = {prefix + k: j for k, j in expected.journals.items()}
    async with BillingAdapter(settings) as billing, make_http_client(settings) as http:
        invoices = await billing.list_invoices_for(contract_id=run.contract_id)
        notes = [n for i in invoices for n in await billing.list_credit_notes(i.id)]
        entries = await ErpClient(settings, http).list_journal_entries(run.contract_id)

    # Billing: every document once, finalized, with its lines once each.
    issued = [i.key or "" for i in invoices] + [n.key or "" for n in notes]
    assert _count(issued) == {}, f"duplicate billing documents: {_count(issued)}"
    assert set(issued) == set(want_docs), (
        f"billing missing {sorted(set(want_docs) - set(issued))}, "
        f"extra {sorted(set(issued) - set(want_docs))}"
    )
    for invoice in invoices:
        doc = want_docs[invoice.key or ""]
        assert doc.kind == "invoice", f"{invoice.key} is a {doc.kind}, billed as an invoice"
        assert invoice.status == "open", f"{invoice.key} is {invoice.status}"
        assert (invoice.total, invoice.document_date) == (doc.total, doc.date), invoice.key
        assert invoice.lines_complete, invoice.key
        amounts = sorted(line.amount for line in invoice.lines)
        assert amounts == sorted(line.amount for line in doc.lines), f"{invoice.key} lines"
        assert _count([line.key or "" for line in invoice.lines]) == {}, invoice.key
    for note in notes:
        doc = want_docs[note.key or ""]
        assert doc.kind == "credit_note" and note.total == doc.total, note.key
    state = await asyncio.to_thread(run.sandbox.state, "billing")
    lines = sum(len(d.lines) for d in expected.documents.values() if d.kind == "invoice")
    assert len(state["invoiceitem"]) == lines, "invoice items were created twice"
    assert len(state["invoice"]) == len(invoices), "an invoice outside the contract (a draft?)"
    assert len(state["customer"]) == 1, "the customer was created twice in billing"

    # ERP: every journal once, under its own external id, with the expected date and amount.
    external_ids = [e.external_id or "" for e in entries]
    assert _count(external_ids) == {}, f"duplicate external ids: {_count(external_ids)}"
    posted = {e.idempotency_key or "": e for e in entries}
    assert len(posted) == len(entries), "two ERP entries carry the same key"
    assert set(posted) == set(want_journals), (
        f"ERP missing {sorted(set(want_journals) - set(posted))}, "
        f"extra {sorted(set(posted) - set(want_journals))}"
    )
    for key, entry in posted.items():
        want = want_journals[key]
        assert entry.external_id == external_id_for(key), key
        assert (entry.tran_date, entry.total_debit) == (want.date, want.amount), key
    erp_state = await asyncio.to_thread(run.sandbox.state, "erp")
    assert len(erp_state["journalEntry"]) == len(entries), "a journal outside the contract"
    assert len(erp_state["customer"]) == 1, "the customer was created twice in the ERP"
    assert len(erp_state["customrecord_q2c_revenue_schedule"]) == 1

    # Ledger: each effect once, recording the very record billing or the ERP holds.
    effects = await asyncio.to_thread(run.ledger.effects_for, run.contract_id)
    by_key = {e.key: e for e in effects}
    assert len(by_key) == len(effects)
    recorded = {k for k, e in by_key.items() if e.kind != "customer"}
    assert recorded == set(want_docs) | set(want_journals), (
        f"ledger missing {sorted(set(want_docs) | set(want_journals) - recorded)}, "
        f"extra {sorted(recorded - set(want_docs) - set(want_journals))}"
    )
    assert sorted(e.system for e in effects if e.kind == "customer") == ["billing", "erp"]
    for invoice in invoices:
        assert by_key[invoice.key or ""].response["billing_id"] == invoice.id, invoice.key
    for note in notes:
        assert by_key[note.key or ""].response["billing_id"] == note.id, note.key
    for key, entry in posted.items():
        assert by_key[key].response["id"] == entry.id, key


def sandbox_faults(sandbox: SandboxHandle) -> None:
    for system, rules in FAULTS.items():
        sandbox.set_faults(system, rules, seed=FAULT_SEED)


def book_amendment(
    sandbox: SandboxHandle, contract_id: str, opportunity_id: str, amendment: dict[str, Any]
) -> str:
    """Book one amendment the way sales does: its records only (the opportunity is untouched)."""
    header, lines = amendment_records(contract_id, amendment)
    booked = sandbox.seed(
        "salesforce",
        {
            "Q2C_Amendment__c": [
                {
                    "attributes": {"referenceId": "amd"},
                    **header,
                    "Q2C_Opportunity__c": opportunity_id,
                }
            ],
            "Q2C_Amendment_Line__c": [{**line, "Q2C_Amendment__c": "@amd"} for line in lines],
        },
    )
    return str(booked["ids"]["amd"])


def salesforce_counts(sandbox: SandboxHandle) -> dict[str, int]:
    state = sandbox.state("salesforce")
    return {name: len(records) for name, records in state.items() if isinstance(records, list)}


def worker_env(
    dev_env: WorkflowEnvironment, sandbox: SandboxHandle, ledger_url: str
) -> dict[str, str]:
    """The worker's whole configuration, from the environment as in production."""
    settings = sandbox.settings
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "Q2C_"))}
    return {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": dev_env.client.namespace,
        "Q2C_TASK_QUEUE": f"worker-kill-{uuid.uuid4().hex[:8]}",
        "Q2C_DATABASE_URL": ledger_url,
        "Q2C_SALESFORCE_URL": settings.salesforce_url,
        "Q2C_SALESFORCE_CLIENT_ID": settings.salesforce_client_id,
        "Q2C_SALESFORCE_CLIENT_SECRET": settings.salesforce_client_secret,
        "Q2C_BILLING_URL": settings.billing_url,
        "Q2C_BILLING_API_KEY": settings.billing_api_key,
        "Q2C_ERP_URL": settings.erp_url,
        "Q2C_ERP_CLIENT_ID": settings.erp_client_id,
        "Q2C_ERP_CLIENT_SECRET": settings.erp_client_secret,
    }


@pytest.fixture
def file_sandbox(tmp_path: Path, sandbox_http: httpx.Client) -> Iterator[SandboxHandle]:
    """A sandbox of this test's own, its state in a SQLite file (the `q2c sandbox` default).

    Not the session's in-memory sandbox: there the three apps share one SQLite connection,
    each app under its own lock, so a request to one app can commit or roll back another app's
    half-done transaction (seen here as a finalized invoice back in draft, and a `KeyError` on
    an invoice just created). This test has requests to several apps in flight at once: the
    killed worker's, its successor's and its own reads.
    """
    settings = sandbox_settings(sandbox_database_url=f"sqlite:///{tmp_path / 'sandbox.db'}")
    with run_in_thread(SandboxServer(settings)) as server:
        urls = server.urls
        settings = settings.model_copy(
            update={
                "salesforce_url": urls["salesforce"],
                "billing_url": urls["billing"],
                "erp_url": urls["erp"],
            }
        )
        handle = SandboxHandle(server, settings, sandbox_http)
        try:
            yield handle
        finally:
            handle.clear_faults()


@pytest.fixture
def ledger_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


async def test_worker_killed_mid_activation_and_mid_amendment(
    dev_env: WorkflowEnvironment,
    file_sandbox: SandboxHandle,
    postgres_url: str,
    ledger_engine: Engine,
    tmp_path: Path,
) -> None:
    sandbox = file_sandbox
    today = BUSINESS_NOW.date()
    offset = (BUSINESS_NOW - dt.datetime.now(dt.UTC)).total_seconds()
    raw = scenario_for(today)
    scenario = Scenario.model_validate(raw)
    contract = scenario.contract
    activation, final = expected_postings(scenario, today)

    env = worker_env(dev_env, sandbox, postgres_url)
    worker = WorkerProcess(env, tmp_path)
    worker.start()  # imports and connects while the contract is booked
    handle: WorkflowHandle[Any, Any] | None = None
    try:
        booked = sandbox.seed("salesforce", {"scenario": raw, "amendments": False})
        await map_products(sandbox.settings, scenario, booked["product_ids"])
        sandbox_faults(sandbox)
        records = salesforce_counts(sandbox)
        opportunity_id = booked["opportunity_id"]
        workflow_id = workflow_id_for(opportunity_id)
        handle = await dev_env.client.start_workflow(
            ContractWorkflow.run,
            ContractInput(opportunity_id=opportunity_id, clock_offset_seconds=offset),
            id=workflow_id,
            task_queue=env["Q2C_TASK_QUEUE"],
            id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        )
        run = Run(
            client=dev_env.client,
            handle=handle,
            worker=worker,
            sandbox=sandbox,
            ledger=Ledger(ledger_engine),
            contract_id=contract.id,
            prefix=f"{workflow_id}:",
        )

        def invoices_recorded(n: int) -> Callable[[set[str]], bool]:
            return lambda keys: sum(":invoice:" in k for k in keys) >= n

        # Mid-activation: in the first invoice, a later invoice, and a journal entry.
        await run.kill_mid("activation, first invoice", "issue_document", orphan=True)
        await run.kill_mid(
            "activation, fourth invoice", "issue_document", ready=invoices_recorded(3), orphan=True
        )
        await run.kill_mid("activation, a journal", "post_journal")
        await run.settle(today, activation)
        activated = time.monotonic() - run.started
        await assert_exactly_once(run, activation, sandbox.settings)
        assert salesforce_counts(sandbox) == records, "activation created Salesforce records"

        # Mid-amendment: booked in Salesforce, signalled, killed in its invoice and its journals.
        amendment_id = book_amendment(sandbox, contract.id, opportunity_id, raw["amendments"][0])
        records = salesforce_counts(sandbox)
        await handle.signal(ContractWorkflow.amendment, AmendmentRequest(amendment_id=amendment_id))
        await run.kill_mid("amendment, its invoice", "issue_document", orphan=True)
        await run.kill_mid("amendment, a journal", "post_journal")
        status = await run.settle(today, final)
        total = time.monotonic() - run.started
        await assert_exactly_once(run, final, sandbox.settings)

        # Salesforce: status written back, and nothing created by q2c.
        assert salesforce_counts(sandbox) == records, "the amendment created Salesforce records"
        opportunity = next(
            o for o in sandbox.state("salesforce")["Opportunity"] if o["Id"] == opportunity_id
        )
        assert opportunity["Q2C_Status__c"] == "Active"
        assert opportunity["Q2C_Workflow_Id__c"] == workflow_id
        assert status.billed_to_date == sum(
            (d.signed_total for d in final.documents.values()), Decimal(0)
        )

        # The kills really hit effects in flight: at least one left billing or the ERP with a
        # record the ledger lacked, which the next worker found instead of creating again.
        assert len(run.kills) == 5 and any(k.held_after_kill for k in run.kills)
        assert any(k.orphans for k in run.kills), f"no kill caught an effect in flight: {run.kills}"
        for kill in run.kills:
            print(
                f"{kill.seconds:5.1f}s {kill.name}: running {kill.running}, "
                f"{kill.held_after_kill} attempt(s) handed back, in flight {sorted(kill.orphans)}"
            )
        print(f"activation settled at {activated:.1f}s, amendment at {total:.1f}s")
    finally:
        worker.stop()
        if handle is not None:
            with contextlib.suppress(RPCError):
                await handle.terminate("worker-kill test finished")
