"""A payment signalled while an ended contract writes its final status onto the opportunity is
applied before the run completes (patch `payments-at-the-end`).

The signal is accepted (the run is still open), so the webhook receiver's late-payment path,
which starts only when the signal fails, never sees it: before the patch the notice was taken
into the state, the run completed, and the payment's journal was never posted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from tests.workflows.conftest import POLL_SECONDS, ContractRig, contract_scenario, seats
from workflows.contract import ContractWorkflow
from workflows.contract_models import PaymentNotice

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]
SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
# Every write onto an opportunity takes 3 s: long enough to signal during the final one.
SLOW_OPPORTUNITY_WRITES = [
    {"route": "*/sobjects/Opportunity/*", "method": "PATCH", "latency_ms": 3000}
]


async def final_write_in_flight(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the run's second `Expired` write-back is scheduled: the one of `_end_of_term` (the
    first is the steady-state write after the last posting)."""
    while True:
        writes = []
        async for event in handle.fetch_history_events():
            if event.event_type == SCHEDULED:
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name == "write_back":
                    writes.append(json.loads(scheduled.input.payloads[0].data)["status"])
        if writes.count("Expired") >= 2:
            return
        await asyncio.sleep(POLL_SECONDS)


async def test_a_payment_during_the_final_write_is_posted(contract_rig: ContractRig) -> None:
    rig = contract_rig
    # Ended on Feb 28: caught up on the pinned business day (Mar 15), it expires at once.
    booked = await rig.book(
        contract_scenario(start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 28), lines=[seats()])
    )
    rig.sandbox.set_faults("salesforce", SLOW_OPPORTUNITY_WRITES)
    handle = await rig.start(booked)
    await asyncio.wait_for(final_write_in_flight(handle), timeout=60)

    invoice = min(await rig.invoices(booked), key=lambda i: i.document_date or dt.date.max)
    await rig.billing.pay_invoice(invoice.id, key=f"test:pay:{invoice.id}")
    await handle.signal(
        ContractWorkflow.payment, PaymentNotice(payment_id=invoice.id, invoice_id=invoice.id)
    )
    outcome = await asyncio.wait_for(handle.result(), timeout=60)
    rig.sandbox.clear_faults()
    assert outcome.final_stage == "Expired"

    key = f"{handle.id}:journal:payment:{invoice.id}"
    [payment] = [e for e in await rig.journals(booked) if e.idempotency_key == key]
    lines = {line.account.ref_name: (line.debit, line.credit) for line in payment.lines}
    assert lines == {
        "Cash": (invoice.total, Decimal(0)),
        "Accounts Receivable": (Decimal(0), invoice.total),
    }
