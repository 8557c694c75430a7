"""An outage on the dev server: billing down past the transient window parks, `retry` resumes.

The transient window is 3 s (production: an hour): Temporal retries the activity with backoff
for that long, then the contract parks with `billing_unavailable` and waits on the operator's
`retry` signal — no activity left retrying, no timer. Once billing answers again, the step that
was interrupted runs again with the same idempotency key, so nothing is issued twice, even
when billing had committed the interrupted calls (commit-then-fail) before failing them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from tests.workflows.conftest import (
    ContractHandle,
    ContractRig,
    contract_scenario,
    journal_keys,
    keys_of,
    seats,
)
from tests.workflows.test_devserver_activation import current_details
from tests.workflows.test_devserver_park_salesforce import (
    DOWN,
    WINDOW_SECONDS,
    activity_names,
    idle,
)
from workflows import search_attributes as sa
from workflows.contract import ContractWorkflow
from workflows.contract_models import AmendmentRequest

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

COMMIT_THEN_FAIL: list[dict[str, Any]] = [{"method": "POST", "commit_then_fail_rate": 1.0}]


async def assert_waits_for_retry(rig: ContractRig, handle: ContractHandle) -> None:
    """Parked means idle: no activity pending or retrying, and the history does not grow.

    The one activity after the failure is the park's status write onto the opportunity
    (patch park-writes-salesforce), waited for here; it ends, and nothing follows it.
    """
    latest = rig.client.get_workflow_handle(handle.id)
    await idle(rig, handle)
    assert not (await latest.describe()).raw_description.pending_activities
    events = [e async for e in latest.fetch_history_events()]
    kinds = [e.event_type for e in events]
    last_failure = max(
        i
        for i, kind in enumerate(kinds)
        if kind
        in (EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    )
    assert activity_names(events[last_failure:]) == ["write_back"]
    assert EventType.EVENT_TYPE_TIMER_STARTED not in kinds[last_failure:]
    await asyncio.sleep(WINDOW_SECONDS / 2)  # longer than the first retry interval
    assert len([e async for e in latest.fetch_history_events()]) == len(events)


async def test_billing_outage_parks_and_retry_completes_once(contract_rig: ContractRig) -> None:
    rig = contract_rig
    raw = contract_scenario(
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
    booked = await rig.book(raw)

    # Billing answers 503 to everything from the start: activation stops at the customer.
    rig.sandbox.set_faults("billing", DOWN)
    handle = await rig.start(booked, transient_window_seconds=WINDOW_SECONDS)
    status = await rig.parked(handle, "billing_unavailable")
    assert status.attention_detail is not None
    assert status.attention_detail.startswith(f"customer {booked.scenario.contract.customer.id}")
    details = await current_details(handle)
    assert "billing_unavailable" in details and "q2c retry" in details
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.CONTRACT_STAGE) == "NeedsAttention"
    assert attributes.get(sa.ATTENTION_REASON) == "billing_unavailable"
    await assert_waits_for_retry(rig, handle)

    rig.sandbox.clear_faults()
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    invoices = await rig.invoices(booked)
    period = [f"{handle.id}:invoice:2026-0{m}-01" for m in (1, 2, 3)]
    assert keys_of(invoices) == period
    customers = (await asyncio.to_thread(rig.sandbox.state, "billing"))["customer"]
    assert len(customers) == 1

    # Down again, committing what it is sent before failing: the amendment's invoice parks.
    rig.sandbox.set_faults("billing", COMMIT_THEN_FAIL)
    amd = booked.amendment_ids["AMD-1"]
    await handle.signal(ContractWorkflow.amendment, AmendmentRequest(amendment_id=amd))
    status = await rig.parked(handle, "billing_unavailable")
    assert status.attention_detail is not None
    assert status.attention_detail.startswith("invoice amendment:AMD-1 → billing")
    await assert_waits_for_retry(rig, handle)

    rig.sandbox.clear_faults()
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active"
    invoices = await rig.invoices(booked)
    assert keys_of(invoices) == sorted([*period, f"{handle.id}:amendment:AMD-1"])
    assert [i.status for i in invoices] == ["open"] * 4
    journals = journal_keys(await rig.journals(booked))
    assert len(journals) == len(set(journals)) == status.journals_posted
    assert f"{handle.id}:journal:amendment:AMD-1" in journals
