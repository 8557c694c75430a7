"""Messages to a running contract on the dev server: the `amend` update, usage and payments.

The business clock is pinned at BUSINESS_NOW (mid-March 2026) for a contract that started in
January, so the amounts below are fixed. What matters here is that an answer comes back (the
update), and that a message delivered twice — a redelivered webhook, a replayed signal —
changes nothing: the same documents in billing, the same journals in the ERP, the same answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tests.workflows.conftest import (
    Booked,
    ContractHandle,
    ContractRig,
    contract_scenario,
    journal_keys,
    keys_of,
    seats,
)
from tests.workflows.test_devserver_activation import current_details
from workflows.contract import ContractWorkflow
from workflows.contract_models import (
    AmendmentOutcome,
    AmendmentRequest,
    CancelRequest,
    PaymentNotice,
    PendingUsage,
)

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

UPDATE_SECONDS = 20.0

API_CALLS = {
    "id": "L3",
    "product_code": "API-CALLS",
    "kind": "usage",
    "included": 1000,
    "unit_price": "0.01",
}


def scenario(amendments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return contract_scenario(
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 12, 31),
        lines=[seats(10, "1200.00"), API_CALLS],
        amendments=amendments,
    )


def amendment(amendment_id: str, line_id: str, quantity: int) -> dict[str, Any]:
    return {
        "id": amendment_id,
        "effective_date": "2026-03-10",
        "changes": [{"line_id": line_id, "quantity": quantity}],
    }


async def amend(handle: ContractHandle, amendment_id: str) -> AmendmentOutcome:
    return await asyncio.wait_for(
        handle.execute_update(ContractWorkflow.amend, AmendmentRequest(amendment_id=amendment_id)),
        UPDATE_SECONDS,
    )


async def effects(rig: ContractRig, booked: Booked) -> tuple[list[str], list[str], list[str]]:
    """What the contract has produced: invoice keys, credit note keys, journal keys."""
    return (
        keys_of(await rig.invoices(booked)),
        keys_of(await rig.credit_notes(booked)),
        journal_keys(await rig.journals(booked)),
    )


async def test_amend_update_answers_and_duplicates_change_nothing(
    contract_rig: ContractRig,
) -> None:
    rig = contract_rig
    booked = await rig.book(scenario([amendment("AMD-1", "L1", 15), amendment("AMD-2", "L9", 3)]))
    handle = await rig.start(booked)
    await rig.settled(handle)
    good, bad = booked.amendment_ids["AMD-1"], booked.amendment_ids["AMD-2"]

    accepted = await amend(handle, good)
    assert accepted.accepted and accepted.treatment == "separate"
    refused = await amend(handle, bad)
    assert not refused.accepted and refused.treatment is None
    assert "L9" in refused.message
    usage = PendingUsage(
        usage_id="U-1", line_id="L3", date=dt.date(2026, 2, 10), quantity=Decimal(5000)
    )
    await handle.signal(ContractWorkflow.usage, usage)
    status = await rig.settled(handle)
    assert status.stage == "NeedsAttention" and status.attention_reason == "invalid_amendment"
    invoices, notes, _ = before = await effects(rig, booked)
    assert f"{handle.id}:amendment:AMD-1" in invoices, invoices
    assert f"{handle.id}:usage:2026-03-01" in invoices, invoices
    assert notes == []
    documents = status.documents_posted

    # The same amendment, usage record and refusal again, by signal and by update.
    await handle.signal(ContractWorkflow.amendment, AmendmentRequest(amendment_id=good))
    await handle.signal(ContractWorkflow.usage, usage.model_copy(update={"quantity": 9}))
    await handle.signal(ContractWorkflow.usage, usage)
    assert await amend(handle, good) == accepted
    assert await amend(handle, bad) == refused
    status = await rig.settled(handle)
    assert status.documents_posted == documents
    assert await effects(rig, booked) == before

    # Corrected in Salesforce, the refused amendment is read again on `retry` and applies.
    line = await rig.salesforce.query(
        f"SELECT Id FROM Q2C_Amendment_Line__c WHERE Q2C_Amendment__c = '{bad}'"
    )
    await rig.salesforce.update("Q2C_Amendment_Line__c", line[0]["Id"], {"Q2C_Line_Id__c": "L1"})
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    again = await amend(handle, bad)
    assert again.accepted and again.treatment == "prospective", again
    invoices, notes, _ = await effects(rig, booked)
    assert f"{handle.id}:amendment:AMD-2" in notes


async def test_amend_validator_refuses_empty_ids_and_cancelled_contracts(
    contract_rig: ContractRig,
) -> None:
    rig = contract_rig
    booked = await rig.book(scenario([amendment("AMD-1", "L1", 12)]))
    handle = await rig.start(booked)
    await rig.settled(handle)
    events_before = len([e async for e in handle.fetch_history_events()])

    with pytest.raises(WorkflowUpdateFailedError) as empty:
        await amend(handle, "  ")
    assert isinstance(empty.value.cause, ApplicationError)
    assert "amendment_id is empty" in empty.value.cause.message
    # A rejected update leaves no trace in the history.
    assert len([e async for e in handle.fetch_history_events()]) == events_before

    # Cancelled as of the 10th: the contract waits for March's books to close, Cancelled.
    await handle.signal(
        ContractWorkflow.cancel,
        CancelRequest(request_id="C-1", effective_date=dt.date(2026, 3, 10)),
    )
    await rig.wait_for(
        handle, lambda s: s.stage == "Cancelled" and s.pending_messages == 0, "Cancelled"
    )
    with pytest.raises(WorkflowUpdateFailedError) as cancelled:
        await amend(handle, booked.amendment_ids["AMD-1"])
    assert isinstance(cancelled.value.cause, ApplicationError)
    assert "Cancelled" in cancelled.value.cause.message
    status = await handle.query(ContractWorkflow.status)
    assert status.pending_messages == 0 and status.stage == "Cancelled"


async def test_payment_posts_one_cash_journal(contract_rig: ContractRig) -> None:
    rig = contract_rig
    booked = await rig.book(scenario())
    handle = await rig.start(booked)
    await rig.settled(handle)
    first = (await rig.invoices(booked))[0]
    paid = await rig.billing.pay_invoice(first.id, key=f"test:pay:{first.id}")
    assert paid.status == "paid" and paid.amount_paid == first.total

    notice = PaymentNotice(payment_id="PAY-1", invoice_id=first.id)
    await handle.signal(ContractWorkflow.payment, notice)
    await rig.settled(handle)
    await handle.signal(ContractWorkflow.payment, notice)  # the webhook, redelivered
    status = await rig.settled(handle)

    payments = [
        entry
        for entry in await rig.journals(booked)
        if entry.idempotency_key == f"{handle.id}:journal:payment:PAY-1"
    ]
    assert len(payments) == 1
    lines = {line.account.ref_name: line for line in payments[0].lines}
    assert len(lines) == 2
    cash, receivable = lines["Cash"], lines["Accounts Receivable"]
    assert (cash.debit, cash.credit) == (first.total, Decimal(0))
    assert (receivable.debit, receivable.credit) == (Decimal(0), first.total)
    assert status.journals_posted == len(await rig.journals(booked))


async def test_an_amendment_that_cannot_be_read_is_refused_not_parked(
    contract_rig: ContractRig,
) -> None:
    """A mistyped id, or another contract's amendment, is answered `accepted=False`: parking
    would stop the contract's billing on a message that no retry can make readable."""
    rig = contract_rig
    booked = await rig.book(scenario())
    other = await rig.book(scenario([amendment("AMD-9", "L1", 12)]))
    handle = await rig.start(booked)
    await rig.settled(handle)

    missing = await amend(handle, "a0AQ20000000099ZZZ")
    assert not missing.accepted and "does not exist" in missing.message, missing
    foreign = await amend(handle, other.amendment_ids["AMD-9"])
    assert not foreign.accepted and other.opportunity_id in foreign.message, foreign
    status = await rig.settled(handle)
    assert status.stage == "Active" and status.attention_reason is None
    assert status.pending_messages == 0
    assert "last error: amendment " in await current_details(handle)
    assert await amend(handle, "a0AQ20000000099ZZZ") == missing  # asked again: same answer
