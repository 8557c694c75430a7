"""Shared fixtures of the workflow tests: a real worker against the sandbox, and what tests ask.

`contract_rig` runs a worker (real activities, a ledger of its own, a task queue of its own) on
the dev server (`dev_env`, which honours q2c's search attributes) against the `sandbox`, and
gives the helpers a test needs: book a contract in Salesforce (mapped or not), start its
workflow, wait for a condition on the `status` query, and read back what the billing platform,
the ERP and Salesforce hold. Workflows a test starts are terminated when it ends: the sandbox
hands out the same Salesforce ids after each reset, so workflow ids repeat from test to test.

Business dates: on the dev server time runs for real, so a test pins the business clock with a
constant offset (`offset_to(BUSINESS_NOW)`): the contract's business "now" is fixed, which keeps
documents and amounts the same whatever day the suite runs, and a contract that started before
it catches up at once. Noon leaves half a day before the business date could roll over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.billing import BillingAdapter
from adapters.billing.records import BillingCreditNote, BillingInvoice
from adapters.database import make_engine
from adapters.erp import ErpClient, JournalEntry
from adapters.http import make_http_client
from adapters.salesforce import SalesforceClient
from adapters.settings import Settings
from domain.models import Scenario
from starter.simulate import map_products
from tests.fixtures.sandbox import SandboxHandle
from worker import running_worker
from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import ContractInput, ContractOutcome, ContractStatus

BUSINESS_NOW = dt.datetime(2026, 3, 15, 12, tzinfo=dt.UTC)
BUSINESS_TODAY = BUSINESS_NOW.date()
WAIT_SECONDS = 20.0
POLL_SECONDS = 0.05

ContractHandle = WorkflowHandle[ContractWorkflow, ContractOutcome]


def offset_to(business_now: dt.datetime) -> float:
    """The clock offset (seconds) that makes the workflow's business time `business_now`."""
    return (business_now - dt.datetime.now(dt.UTC)).total_seconds()


def contract_scenario(
    *,
    start: dt.date,
    end: dt.date,
    lines: list[dict[str, Any]],
    frequency: str = "monthly",
    currency: str = "EUR",
    legal_entity: str = "EU-DE",
    amendments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A DESIGN.md §6 scenario with a contract and customer id of its own (unique per call)."""
    tag = uuid.uuid4().hex[:8].upper()
    return {
        "contract": {
            "id": f"OPP-{tag}",
            "customer": {"id": f"ACC-{tag}", "name": f"Customer {tag}"},
            "currency": currency,
            "legal_entity": legal_entity,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "billing_frequency": frequency,
            "lines": lines,
        },
        "amendments": amendments or [],
        "usage": [],
        "as_of": end.isoformat(),
    }


def seats(quantity: int = 10, unit_price: str = "1200.00", line_id: str = "L1") -> dict[str, Any]:
    """A subscription line (per seat per year)."""
    return {
        "id": line_id,
        "product_code": "SEAT-PRO",
        "kind": "subscription",
        "quantity": quantity,
        "unit_price": unit_price,
        "ssp": unit_price,
    }


@dataclass
class Booked:
    """A scenario as booked in the Salesforce sandbox."""

    raw: dict[str, Any]
    scenario: Scenario
    opportunity_id: str
    product_ids: dict[str, str]
    amendment_ids: dict[str, str]

    @property
    def contract_id(self) -> str:
        return self.scenario.contract.id

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.opportunity_id)


@dataclass
class ContractRig:
    """A worker on the dev server against the sandbox, and the clients to read the systems."""

    client: Client
    sandbox: SandboxHandle
    settings: Settings
    salesforce: SalesforceClient
    billing: BillingAdapter
    erp: ErpClient
    handles: list[ContractHandle] = field(default_factory=list)

    # -- booking -------------------------------------------------------------------------

    async def book(
        self, raw: dict[str, Any], *, mapped: bool = True, auto_renew: bool = False
    ) -> Booked:
        """Book the scenario in Salesforce (amendments included); map its products if asked."""
        answer = await asyncio.to_thread(
            self.sandbox.seed, "salesforce", {"scenario": raw, "amendments": True}
        )
        booked = Booked(
            raw=raw,
            scenario=Scenario.model_validate(raw),
            opportunity_id=answer["opportunity_id"],
            product_ids=answer["product_ids"],
            amendment_ids=answer.get("amendment_ids", {}),
        )
        if auto_renew:
            await self.salesforce.update(
                "Opportunity", booked.opportunity_id, {"Q2C_Auto_Renew__c": True}
            )
        if mapped:
            await self.map_products(booked)
        return booked

    async def map_products(self, booked: Booked) -> None:
        """What `q2c catalog sync` does: billing prices and ERP items onto every Product2."""
        await map_products(self.settings, booked.scenario, booked.product_ids)

    # -- workflows -----------------------------------------------------------------------

    async def start(
        self,
        booked: Booked,
        *,
        business_now: dt.datetime | None = BUSINESS_NOW,
        transient_window_seconds: float = 3600.0,
    ) -> ContractHandle:
        """Start the contract's workflow; `business_now=None` runs on the real clock (offset 0)."""
        handle = await self.client.start_workflow(
            ContractWorkflow.run,
            ContractInput(
                opportunity_id=booked.opportunity_id,
                clock_offset_seconds=offset_to(business_now) if business_now else 0.0,
                transient_window_seconds=transient_window_seconds,
            ),
            id=booked.workflow_id,
            task_queue=self.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
        )
        self.handles.append(handle)
        return handle

    async def wait_for(
        self,
        handle: ContractHandle,
        condition: Callable[[ContractStatus], bool],
        what: str,
        *,
        timeout: float = WAIT_SECONDS,
    ) -> ContractStatus:
        """Poll the `status` query (of the latest run) until `condition` holds."""
        latest = self.client.get_workflow_handle(handle.id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status: ContractStatus | None = None
        while True:
            try:
                status = await latest.query(ContractWorkflow.status)
            except RPCError:
                status = None  # between runs (continue-as-new); ask again
            if status is not None and condition(status):
                return status
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last status: {status}")
            await asyncio.sleep(POLL_SECONDS)

    async def quiescent(self, handle: ContractHandle) -> bool:
        """Nothing in flight: no workflow task and no activity pending (it waits on a condition
        or a timer). The status query alone cannot tell a message taken from one fully handled."""
        latest = self.client.get_workflow_handle(handle.id)
        raw = (await latest.describe()).raw_description
        return not raw.HasField("pending_workflow_task") and not raw.pending_activities

    async def settled(
        self, handle: ContractHandle, *, term: int = 1, timeout: float = WAIT_SECONDS
    ) -> ContractStatus:
        """Wait until the contract has processed its business today, every message handled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def done(s: ContractStatus) -> bool:
            caught_up = s.processed_through is not None and s.processed_through >= s.business_date
            return s.term == term and caught_up and s.pending_messages == 0

        while True:
            remaining = max(deadline - loop.time(), POLL_SECONDS)
            status = await self.wait_for(
                handle, done, f"term {term} to catch up", timeout=remaining
            )
            if await self.quiescent(handle):
                # Ask again: the status may have been read just before the last task ran.
                status = await self.wait_for(handle, done, f"term {term} to catch up", timeout=1)
                return status
            await asyncio.sleep(POLL_SECONDS)

    async def parked(self, handle: ContractHandle, reason: str) -> ContractStatus:
        return await self.wait_for(
            handle,
            lambda s: s.stage == "NeedsAttention" and s.attention_reason == reason,
            f"NeedsAttention ({reason})",
        )

    async def wait_visible(self, query: str, workflow_id: str) -> None:
        """Wait until the visibility store lists the workflow under `query` (eventually)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while True:
            found = [w.id async for w in self.client.list_workflows(query)]
            if workflow_id in found:
                return
            if loop.time() > deadline:
                raise AssertionError(f"{workflow_id} not listed by {query!r} (got {found})")
            await asyncio.sleep(POLL_SECONDS * 4)

    # -- the systems of record -----------------------------------------------------------

    async def invoices(self, booked: Booked) -> list[BillingInvoice]:
        return await self.billing.list_invoices_for(contract_id=booked.contract_id)

    async def credit_notes(self, booked: Booked) -> list[BillingCreditNote]:
        notes: list[BillingCreditNote] = []
        for invoice in await self.invoices(booked):
            notes += await self.billing.list_credit_notes(invoice.id)
        return notes

    async def journals(self, booked: Booked) -> list[JournalEntry]:
        return await self.erp.list_journal_entries(booked.contract_id)

    async def opportunity(self, booked: Booked) -> dict[str, Any]:
        return await self.salesforce.get("Opportunity", booked.opportunity_id)

    async def terminate_running(self) -> None:
        for handle in self.handles:
            latest = self.client.get_workflow_handle(handle.id)
            try:
                description = await latest.describe()
                if description.status == WorkflowExecutionStatus.RUNNING:
                    await latest.terminate(reason="test finished")
            except RPCError:
                pass


def keys_of(records: list[BillingInvoice] | list[BillingCreditNote]) -> list[str]:
    """The idempotency keys the billing records carry, sorted."""
    return sorted(str(r.key) for r in records)


def journal_keys(entries: list[JournalEntry]) -> list[str]:
    """The idempotency keys the ERP journal entries carry, sorted."""
    return sorted(str(e.idempotency_key) for e in entries)


@pytest.fixture
def ledger_engine(sqlite_url: str) -> Engine:
    """A fresh ledger per test: keys repeat across tests because Salesforce ids do."""
    return make_engine(sqlite_url)


@pytest.fixture
async def contract_rig(
    dev_env: WorkflowEnvironment, sandbox: SandboxHandle, ledger_engine: Engine
) -> AsyncIterator[ContractRig]:
    """A worker on the dev server with the real activities, pointed at the emptied sandbox."""
    settings = sandbox.settings.model_copy(
        update={"task_queue": f"q2c-test-{uuid.uuid4().hex[:8]}"}
    )
    async with (
        running_worker(dev_env.client, settings, ledger_engine),
        make_http_client(settings) as http,
        BillingAdapter(settings) as billing,
    ):
        rig = ContractRig(
            client=dev_env.client,
            sandbox=sandbox,
            settings=settings,
            salesforce=SalesforceClient(settings, http),
            billing=billing,
            erp=ErpClient(settings, http),
        )
        try:
            yield rig
        finally:
            await rig.terminate_running()
    ledger_engine.dispose()
