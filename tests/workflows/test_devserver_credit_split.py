"""A cancellation received after a later period was invoiced credits more than any one invoice:
the whole latest period and the unserved days of the one before (found by the chaos run).
Billing credits one invoice per credit note, so the workflow's credit note is issued as two
billing credit notes, the latest invoice first; the contract is cancelled, not parked, and the
systems hold exactly what the domain engine says: one credit document, one journal. The invoice
credited whole is then "paid" by the credit alone, which moves no cash (found by the chaos run:
its invoice.paid parked the contract `payment_not_found`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from domain.documents import whole_key
from domain.models import Amendment
from domain.schedule import build_schedule
from starter.readback import billing_documents
from tests.workflows.conftest import ContractRig, contract_scenario, seats
from workflows.contract import ContractWorkflow
from workflows.contract_models import CancelRequest, PaymentNotice

pytestmark = [pytest.mark.devserver]
TODAY = dt.date(2026, 3, 16)


async def test_a_late_cancellation_credits_two_invoices(contract_rig: ContractRig) -> None:
    rig = contract_rig
    raw = contract_scenario(
        start=dt.date(2026, 1, 15), end=dt.date(2027, 1, 14), lines=[seats(10, "1200.00")]
    )
    booked = await rig.book(raw)
    handle = await rig.start(booked, business_now=dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC))
    await rig.settled(handle)
    invoices = {i.document_date: i for i in await rig.invoices(booked) if i.document_date}
    assert sorted(invoices) == [dt.date(2026, 1, 15), dt.date(2026, 2, 15), dt.date(2026, 3, 15)]

    cancel = CancelRequest(request_id="late", effective_date=dt.date(2026, 3, 10))
    await handle.signal(ContractWorkflow.cancel, cancel)
    status = await rig.wait_for(handle, lambda s: s.documents_posted == 4, "the credit note")
    status = await rig.settled(handle)
    assert (status.stage, status.attention_reason) == ("Cancelled", None)
    assert status.billed_to_date == Decimal("1821.43")  # 3 × 1,000.00 − 1,178.57

    # What the domain says: one credit note of 5/28 of February's period and all of March's.
    late = Amendment(
        id="CANCEL-late", effective_date=cancel.effective_date, received_on=TODAY, cancel=True
    )
    schedule = build_schedule(booked.scenario.contract, [late])
    [credit] = [d for d in schedule.documents() if d.kind == "credit_note"]
    assert credit.total == Decimal("1178.57")

    # In billing: two parts, the latest invoice credited whole first, keyed after the document.
    key = f"{booked.workflow_id}:{credit.key}"
    parts = {
        note.invoice_id: (note.key, note.total)
        for note in await rig.credit_notes(booked)
        if note.status != "void"
    }
    assert parts == {
        invoices[dt.date(2026, 3, 15)].id: (key, Decimal("1000.00")),
        invoices[dt.date(2026, 2, 15)].id: (f"{key}#part-2", Decimal("178.57")),
    }
    assert {whole_key(k or "") for k, _ in parts.values()} == {key}

    # Read back as one document, like the domain's.
    billed = await billing_documents(rig.billing, booked.contract_id)
    assert [(d.kind, d.date, d.total) for d in billed] == [
        (d.kind, d.date, d.total) for d in schedule.documents()
    ]

    # One credit journal in the ERP for the whole credit: Dr Deferred Revenue / Cr AR.
    journals = [
        e for e in await rig.journals(booked) if (e.idempotency_key or "").endswith(credit.key)
    ]
    assert len(journals) == 1 and journals[0].total_debit == Decimal("1178.57")

    # March's invoice, credited whole, is "paid" by the credit alone (billing sends invoice.paid
    # for it, as Stripe does): no cash moved, so no payment journal, and the contract does not
    # park (patch credit-settled-payment).
    march = await rig.billing.get_invoice(invoices[dt.date(2026, 3, 15)].id)
    assert (march.status, march.amount_paid) == ("paid", Decimal(0))
    await handle.signal(
        ContractWorkflow.payment, PaymentNotice(payment_id=march.id, invoice_id=march.id)
    )
    await asyncio.sleep(0.5)
    status = await rig.settled(handle)
    assert (status.stage, status.attention_reason) == ("Cancelled", None)
    assert not [
        e for e in await rig.journals(booked) if ":journal:payment:" in (e.idempotency_key or "")
    ]
