"""A parked contract shows on its Salesforce opportunity, where sales and finance look.

On the dev server against the sandbox (patch park-writes-salesforce): when the contract parks,
`Q2C_Status__c = NeedsAttention` and `Q2C_Attention_Reason__c = <reason>` are written onto the
opportunity (the `write_back` activity) before it waits for `retry`; once `retry` makes it
steady again the status is written again (Active, reason cleared). When Salesforce is what
failed, no write is tried during the park. A park write that fails is given up after a few
attempts and the contract stays parked, for the same reason, waiting for `retry`.

Outages use a 3 s transient window (production: an hour). What is asserted is read from the
Salesforce sandbox over its REST API and from the workflow's history; waits are bounded polls.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from activities.registry import worker_activities
from tests.workflows.conftest import (
    BUSINESS_NOW,
    WAIT_SECONDS,
    Booked,
    ContractHandle,
    ContractRig,
    contract_scenario,
    offset_to,
    seats,
)
from tests.workflows.test_replay_histories import replayer
from worker import running_worker
from workflows.contract import ContractWorkflow
from workflows.contract_models import AmendmentRequest, ContractInput, ContractOutcome

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

WINDOW_SECONDS = 3.0
DOWN: list[dict[str, Any]] = [{"error_rate": 1.0, "error_status": 503}]
# Salesforce refuses every write to an opportunity (reads still answer).
OPPORTUNITY_WRITES_DOWN: list[dict[str, Any]] = [
    {"route": "*/sobjects/Opportunity/*", "method": "PATCH", "error_rate": 1.0, "error_status": 503}
]
SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
FAILED = EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
TIMED_OUT = EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT


def scenario() -> dict[str, Any]:
    """A year of monthly seats from Jan 1 (caught up to the pinned business date, Mar 15), with
    an amendment (five more seats from Mar 10) to deliver once it is running."""
    return contract_scenario(
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 12, 31),
        lines=[seats(10, "1200.00")],
        amendments=[
            {
                "id": "AMD-1",
                "effective_date": "2026-03-10",
                "changes": [{"line_id": "L1", "quantity": 15}],
            }
        ],
    )


async def opportunity_shows(
    rig: ContractRig, booked: Booked, status: str, reason: str | None
) -> dict[str, Any]:
    """Poll the opportunity (Salesforce REST) until it shows `status` with `reason`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        opportunity = await rig.opportunity(booked)
        shown = (opportunity["Q2C_Status__c"], opportunity["Q2C_Attention_Reason__c"])
        if shown == (status, reason):
            return opportunity
        if loop.time() > deadline:
            raise AssertionError(f"opportunity shows {shown}, expected {(status, reason)}")
        await asyncio.sleep(0.1)


async def idle(rig: ContractRig, handle: ContractHandle) -> None:
    """Wait until no workflow task and no activity is in flight (a parked contract waits)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not await rig.quiescent(handle):
        if loop.time() > deadline:
            raise AssertionError(f"{handle.id} still busy after {WAIT_SECONDS} s")
        await asyncio.sleep(0.1)


async def history(rig: ContractRig, handle: ContractHandle) -> list[HistoryEvent]:
    return [e async for e in rig.client.get_workflow_handle(handle.id).fetch_history_events()]


def activity_names(events: list[HistoryEvent]) -> list[str]:
    """The activity types scheduled, in order."""
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == SCHEDULED
    ]


def failed_activities(events: list[HistoryEvent]) -> list[str]:
    """The activity types that failed for good (failed or timed out), in order."""
    names = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == SCHEDULED
    }
    found: list[str] = []
    for e in events:
        if e.event_type == FAILED:
            found.append(names[e.activity_task_failed_event_attributes.scheduled_event_id])
        elif e.event_type == TIMED_OUT:
            found.append(names[e.activity_task_timed_out_event_attributes.scheduled_event_id])
    return found


def since_last_failure(events: list[HistoryEvent]) -> list[HistoryEvent]:
    last = max(i for i, e in enumerate(events) if e.event_type in (FAILED, TIMED_OUT))
    return events[last + 1 :]


def write_backs(rig: ContractRig, events: list[HistoryEvent]) -> list[str]:
    """The summaries of the write_back activities scheduled, in order (what status each wrote)."""
    converter = rig.client.data_converter.payload_converter
    return [
        str(converter.from_payload(e.user_metadata.summary, str))
        for e in events
        if e.event_type == SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "write_back"
    ]


async def test_missing_mapping_park_is_on_the_opportunity_until_retry(
    contract_rig: ContractRig,
) -> None:
    rig = contract_rig
    booked = await rig.book(scenario(), mapped=False)
    handle = await rig.start(booked)
    await rig.parked(handle, "missing_product_mapping")

    opportunity = await opportunity_shows(rig, booked, "NeedsAttention", "missing_product_mapping")
    assert opportunity["Q2C_Workflow_Id__c"] == handle.id
    await idle(rig, handle)
    events = await history(rig, handle)
    # The booking could not be read whole: its status is the only thing written anywhere.
    assert activity_names(events) == ["read_booking", "write_back"]
    assert write_backs(rig, events) == [
        "status NeedsAttention (missing_product_mapping) → salesforce"
    ]
    assert await rig.invoices(booked) == []

    await rig.map_products(booked)
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    opportunity = await opportunity_shows(rig, booked, "Active", None)
    assert opportunity["Q2C_Billing_Customer_Id__c"] and opportunity["Q2C_ERP_Customer_Id__c"]
    assert write_backs(rig, await history(rig, handle)) == [
        "status NeedsAttention (missing_product_mapping) → salesforce",
        "status Active → salesforce",
    ]


async def test_billing_outage_of_an_active_contract_is_on_the_opportunity_until_retry(
    contract_rig: ContractRig,
) -> None:
    rig = contract_rig
    booked = await rig.book(scenario())
    handle = await rig.start(booked, transient_window_seconds=WINDOW_SECONDS)
    await rig.settled(handle)
    await opportunity_shows(rig, booked, "Active", None)

    # Billing goes down; the amendment's invoice cannot be issued past the window: parked.
    rig.sandbox.set_faults("billing", DOWN)
    amd = booked.amendment_ids["AMD-1"]
    await handle.signal(ContractWorkflow.amendment, AmendmentRequest(amendment_id=amd))
    status = await rig.parked(handle, "billing_unavailable")
    assert status.attention_detail is not None
    assert status.attention_detail.startswith("invoice amendment:AMD-1 → billing")
    await opportunity_shows(rig, booked, "NeedsAttention", "billing_unavailable")
    await idle(rig, handle)
    events = await history(rig, handle)
    assert failed_activities(events)[-1] == "issue_document"
    # After the failure: only the status write, which completed; then the contract waits.
    assert activity_names(since_last_failure(events)) == ["write_back"]
    assert write_backs(rig, events) == [
        "status Active → salesforce",
        "status NeedsAttention (billing_unavailable) → salesforce",
    ]

    rig.sandbox.clear_faults()
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    # The steady state differs from what the park wrote, so it is written again.
    await opportunity_shows(rig, booked, "Active", None)
    assert write_backs(rig, await history(rig, handle)) == [
        "status Active → salesforce",
        "status NeedsAttention (billing_unavailable) → salesforce",
        "status Active → salesforce",
    ]
    keys = sorted(str(i.key) for i in await rig.invoices(booked))
    assert f"{handle.id}:amendment:AMD-1" in keys and len(keys) == len(set(keys))


async def test_salesforce_outage_parks_without_trying_to_write(contract_rig: ContractRig) -> None:
    rig = contract_rig
    booked = await rig.book(scenario())
    handle = await rig.start(booked, transient_window_seconds=WINDOW_SECONDS)
    await rig.settled(handle)
    await opportunity_shows(rig, booked, "Active", None)

    # Salesforce goes down; the amendment cannot be read past the window: parked.
    rig.sandbox.set_faults("salesforce", DOWN)
    amd = booked.amendment_ids["AMD-1"]
    await handle.signal(ContractWorkflow.amendment, AmendmentRequest(amendment_id=amd))
    status = await rig.parked(handle, "salesforce_unavailable")
    assert status.attention_detail is not None
    assert status.attention_detail.startswith(f"read amendment {amd} ← salesforce")
    await idle(rig, handle)
    events = await history(rig, handle)
    assert failed_activities(events) == ["read_amendment"]
    # No write was tried during the park: nothing scheduled after the failure at all.
    assert activity_names(since_last_failure(events)) == []
    assert write_backs(rig, events) == ["status Active → salesforce"]
    await asyncio.sleep(WINDOW_SECONDS / 2)  # longer than a first retry interval
    assert len(await history(rig, handle)) == len(events)

    rig.sandbox.clear_faults()
    # Salesforce never showed the park: the opportunity still says what was written last.
    assert (await rig.opportunity(booked))["Q2C_Status__c"] == "Active"
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    events = await history(rig, handle)
    assert activity_names(events).count("read_amendment") == 2  # read again after `retry`
    # Active before and after: no status to write again.
    assert write_backs(rig, events) == ["status Active → salesforce"]
    await opportunity_shows(rig, booked, "Active", None)


async def test_a_failed_park_write_is_given_up_and_the_contract_stays_parked(
    contract_rig: ContractRig,
) -> None:
    rig = contract_rig
    booked = await rig.book(scenario())
    # Billing down (activation parks at the customer) and Salesforce refusing the status write.
    rig.sandbox.set_faults("billing", DOWN)
    rig.sandbox.set_faults("salesforce", OPPORTUNITY_WRITES_DOWN)
    handle = await rig.start(booked, transient_window_seconds=WINDOW_SECONDS)
    await rig.parked(handle, "billing_unavailable")

    # The write is tried a few times (bounded), then given up: one failed write_back.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while "write_back" not in failed_activities(events := await history(rig, handle)):
        assert loop.time() < deadline, "the park's status write never gave up"
        await asyncio.sleep(0.2)
    await idle(rig, handle)
    events = await history(rig, handle)
    assert failed_activities(events) == ["ensure_billing_customer", "write_back"]
    assert activity_names(events) == ["read_booking", "ensure_billing_customer", "write_back"]
    # Still parked for what failed first (not re-parked for Salesforce), waiting for `retry`.
    status = await rig.parked(handle, "billing_unavailable")
    assert status.attention_detail is not None
    assert status.attention_detail.startswith(f"customer {booked.scenario.contract.customer.id}")
    await asyncio.sleep(WINDOW_SECONDS / 2)
    assert len(await history(rig, handle)) == len(events)
    assert (await rig.opportunity(booked))["Q2C_Status__c"] != "NeedsAttention"

    rig.sandbox.clear_faults()
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    await opportunity_shows(rig, booked, "Active", None)


# -- a contract parked by the code before the patch, resumed by the code after it -------------


@workflow.defn(name="Contract", sandboxed=False)  # this module imports what a sandbox refuses
class ContractBeforePatch(ContractWorkflow):
    """ContractWorkflow as it was before park-writes-salesforce: a park writes nothing."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        return await super().run(input)

    async def _park(self, reason: str, detail: str, *, salesforce_failed: bool = False) -> None:
        previous = self.s.stage if self.s.stage != "NeedsAttention" else "Active"
        self.s.attention_reason = reason
        self.s.attention_detail = detail
        self.s.last_error = detail
        self._set_stage("NeedsAttention")
        self._retry_requested = False
        await workflow.wait_condition(lambda: self._retry_requested)
        self._retry_requested = False
        self.s.attention_reason = None
        self.s.attention_detail = None
        self._set_stage(previous)


@workflow.defn(name="Contract", sandboxed=False)
class UnguardedContract(ContractBeforePatch):
    """The same write without `workflow.patched`: what must not be shipped."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        return await super().run(input)

    async def _park(self, reason: str, detail: str, *, salesforce_failed: bool = False) -> None:
        if not salesforce_failed:
            self.s.attention_reason = reason
            self._set_stage("NeedsAttention")
            await self._write_parked(reason)
        await super()._park(reason, detail, salesforce_failed=salesforce_failed)


async def test_a_contract_parked_before_the_patch_resumes_on_the_patched_code(
    contract_rig: ContractRig, ledger_engine: Engine
) -> None:
    rig = contract_rig
    settings = rig.settings.model_copy(update={"task_queue": f"{rig.settings.task_queue}-old"})
    booked = await rig.book(scenario(), mapped=False)
    before = (await rig.opportunity(booked))["Q2C_Status__c"]

    # The worker before the deploy parks the contract and writes nothing.
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with (
            worker_activities(settings, ledger_engine) as activities,
            Worker(
                rig.client,
                task_queue=settings.task_queue,
                workflows=[ContractBeforePatch],
                activities=activities,
                activity_executor=executor,
            ),
        ):
            handle = await rig.client.start_workflow(
                ContractWorkflow.run,
                ContractInput(
                    opportunity_id=booked.opportunity_id,
                    clock_offset_seconds=offset_to(BUSINESS_NOW),
                ),
                id=booked.workflow_id,
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
            )
            rig.handles.append(handle)
            await rig.parked(handle, "missing_product_mapping")
            await idle(rig, handle)
    events = await history(rig, handle)
    assert activity_names(events) == ["read_booking"]
    assert (await rig.opportunity(booked))["Q2C_Status__c"] == before

    # After the deploy: the new code takes the parked contract over (its replay of the park
    # writes nothing, there is no marker), and `retry` activates it.
    async with running_worker(rig.client, settings, ledger_engine):
        await rig.map_products(booked)
        await handle.signal(ContractWorkflow.retry)
        status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    await opportunity_shows(rig, booked, "Active", None)
    events = await history(rig, handle)
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in [e.event_type for e in events]
    assert write_backs(rig, events) == ["status Active → salesforce"]

    # The whole history replays on the patched code, and not on the unguarded one.
    whole = await rig.client.get_workflow_handle(handle.id).fetch_history()
    assert (await replayer(ContractWorkflow).replay_workflow(whole)).replay_failure is None
    with pytest.raises(workflow.NondeterminismError):
        await replayer(UnguardedContract).replay_workflow(whole)


async def test_a_history_with_the_park_write_replays(contract_rig: ContractRig) -> None:
    """A contract parked by the patched code (the marker and the write in its history)."""
    rig = contract_rig
    booked = await rig.book(scenario(), mapped=False)
    handle = await rig.start(booked)
    await rig.parked(handle, "missing_product_mapping")
    await opportunity_shows(rig, booked, "NeedsAttention", "missing_product_mapping")
    await rig.map_products(booked)
    await handle.signal(ContractWorkflow.retry)
    await rig.settled(handle)
    whole = await rig.client.get_workflow_handle(handle.id).fetch_history()
    markers = [e for e in whole.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len(markers) == 1
    assert (await replayer(ContractWorkflow).replay_workflow(whole)).replay_failure is None
    with pytest.raises(workflow.NondeterminismError):
        await replayer(ContractBeforePatch).replay_workflow(whole)
