"""An invoice paid after its contract's run ended: the webhook starts LatePaymentWorkflow, which
posts the payment journal once, under the contract's own key (dev server, worker, sandbox).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
import pytest
from temporalio.client import WorkflowHandle

from adapters.billing import BillingAdapter, BillingInvoice
from adapters.erp import ErpClient, JournalEntry
from domain.reconciliation import ReconciliationBasis
from sandbox.billing.webhooks import signature_header
from starter.catalog import map_products
from tests.starter.conftest import CATALOG, Booked, Stack, last_month_end, seat_line
from workflows.contract import ContractWorkflow
from workflows.contract_models import ContractState
from workflows.late_payment import LatePaymentOutcome, late_payment_id

T = TypeVar("T")
CASH, RECEIVABLE = "1000", "1100"  # activities.contract.ERP_ACCOUNTS
RESULT_SECONDS = 60.0


async def _result(handle: WorkflowHandle[Any, T]) -> T:
    """A workflow's result, bounded: a workflow that never ends fails the test."""
    return await asyncio.wait_for(handle.result(), RESULT_SECONDS)


def _id() -> str:
    return f"evt_{uuid.uuid4().hex[:16]}"


@pytest.mark.parametrize("term", [1, 2, 3])
def test_the_key_prefix_is_the_contract_workflows(term: int) -> None:
    """The late payment posts under the key ContractWorkflow would have used."""
    contract = SimpleNamespace(s=ContractState(opportunity_id="006A", term=term))
    basis = ReconciliationBasis(
        workflow_id="contract-006A",
        opportunity_id="006A",
        term=term,
        stage="Expired",
        business_date=dt.date(2027, 1, 1),
    )
    suffix = "journal:payment:in_1"
    assert basis.key_prefix + suffix == ContractWorkflow._key(contract, suffix)  # type: ignore[arg-type]
    assert late_payment_id("contract-006A", "in_1") == "contract-006A:payment:in_1"


# -- against the stack -------------------------------------------------------------------------


async def _ended(stack: Stack) -> Booked:
    """A contract that ended last month, run to its end (its last invoice still open)."""
    booked = await stack.book(start=last_month_end() - dt.timedelta(days=45), end=last_month_end())
    response = await stack.post_salesforce(
        {"id": _id(), "type": "opportunity.closed_won", "opportunity_id": booked.opportunity_id}
    )
    assert response.status_code == 202, response.text
    outcome = await _result(stack.handle(booked))
    assert outcome.final_stage == "Expired"
    return booked


async def _cancelled(stack: Stack) -> Booked:
    """An annually billed contract cancelled last month, run to its end (Cancelled): its one
    invoice is credited for the days not served and the rest stays open."""
    number = f"T-{uuid.uuid4().hex[:8].upper()}"
    start = last_month_end() - dt.timedelta(days=45)
    effective = last_month_end() - dt.timedelta(days=10)
    raw = {
        "contract": {
            "id": number,
            "customer": {"id": f"ACC-{number}", "name": f"Customer {number}"},
            "currency": "EUR",
            "legal_entity": "EU-DE",
            "start_date": start.isoformat(),
            "end_date": start.replace(year=start.year + 1).isoformat(),
            "billing_frequency": "annual",
            "lines": [seat_line()],
        },
        "amendments": [{"id": "AMD-C", "effective_date": effective.isoformat(), "cancel": True}],
    }
    seeded = await stack.seed({"scenario": raw})
    await map_products(stack.settings, [CATALOG["SEAT-PRO"]], seeded["product_ids"])
    booked = Booked(number, seeded["opportunity_id"], seeded["amendment_ids"])
    response = await stack.post_salesforce(
        {"id": _id(), "type": "opportunity.closed_won", "opportunity_id": booked.opportunity_id}
    )
    assert response.status_code == 202, response.text
    await stack.active(booked)
    response = await stack.post_salesforce(
        {
            "id": _id(),
            "type": "contract.cancelled",
            "opportunity_id": booked.opportunity_id,
            "amendment_id": booked.amendment_ids["AMD-C"],
        }
    )
    assert response.status_code == 202, response.text
    outcome = await _result(stack.handle(booked))
    assert outcome.final_stage == "Cancelled"
    return booked


async def _last_invoice(stack: Stack, booked: Booked) -> BillingInvoice:
    async with BillingAdapter(stack.settings) as billing:
        invoices = await billing.list_invoices_for(contract_id=booked.number)
    assert invoices, f"{booked.number} issued no invoice"
    last = max(invoices, key=lambda i: (i.document_date or dt.date.min, i.id))
    assert last.status == "open"
    return last


async def _event(stack: Stack, invoice_id: str, kind: str) -> dict[str, Any]:
    """A Stripe event about the invoice as billing holds it now."""
    response = await stack.http.get(
        f"{stack.settings.billing_url}/v1/invoices/{invoice_id}",
        headers={"Authorization": f"Bearer {stack.settings.billing_api_key}"},
    )
    response.raise_for_status()
    return {
        "id": _id(),
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": response.json()},
    }


async def _post(stack: Stack, event: dict[str, Any]) -> httpx.Response:
    payload = json.dumps(event)
    return await stack.http.post(
        f"{stack.webhook_url}/webhooks/billing",
        content=payload.encode(),
        headers={
            "Stripe-Signature": signature_header(payload, stack.settings.billing_webhook_secret)
        },
    )


async def _payment_journals(stack: Stack, booked: Booked) -> list[JournalEntry]:
    """The contract's payment journals in the ERP."""
    async with ErpClient(stack.settings) as erp:
        entries = await erp.list_journal_entries(booked.number)
    return [e for e in entries if ":journal:payment:" in (e.idempotency_key or "")]


async def _lines(stack: Stack, entry: JournalEntry) -> list[tuple[str, Decimal, Decimal]]:
    """(account number, debit, credit) of each line."""
    async with ErpClient(stack.settings) as erp:
        numbers = [await erp.get("account", line.account.id) for line in entry.lines]
    return [
        (str(n.get("acctNumber") or n.get("externalId")), line.debit, line.credit)
        for n, line in zip(numbers, entry.lines, strict=True)
    ]


@pytest.mark.devserver
async def test_an_invoice_paid_after_the_end_posts_its_payment_journal_once(stack: Stack) -> None:
    booked = await _ended(stack)
    invoice = await _last_invoice(stack, booked)
    async with BillingAdapter(stack.settings) as billing:
        paid = await billing.pay_invoice(invoice.id, key=f"test:pay:{invoice.id}")
    assert paid.paid_at is not None
    event = await _event(stack, invoice.id, "invoice.paid")
    late_id = late_payment_id(booked.workflow_id, invoice.id)

    first = await _post(stack, event)

    assert first.status_code == 202, first.text
    answer = first.json()
    assert (answer["status"], answer["workflow_id"], answer["started"]) == (
        "accepted",
        late_id,
        True,
    )
    assert "has ended (Expired)" in answer["detail"]
    handle = stack.client.get_workflow_handle(late_id, result_type=LatePaymentOutcome)
    outcome = await _result(handle)
    key = f"{booked.workflow_id}:journal:payment:{invoice.id}"  # the contract's own key
    assert outcome == LatePaymentOutcome(
        key=key,
        erp_journal_id=outcome.erp_journal_id,
        amount=paid.amount_paid,
        currency="EUR",
        paid_on=paid.paid_at.date(),
    )
    assert outcome.amount == invoice.total > Decimal(0)

    [journal] = await _payment_journals(stack, booked)
    assert journal.idempotency_key == key
    assert journal.tran_date == paid.paid_at.date()
    assert await _lines(stack, journal) == [
        (CASH, paid.amount_paid, Decimal(0)),
        (RECEIVABLE, Decimal(0), paid.amount_paid),
    ]

    # The same event again, then another event for the same invoice: nothing more.
    again = await _post(stack, event)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    other = await _post(stack, await _event(stack, invoice.id, "invoice.paid"))
    assert other.status_code == 202, other.text
    assert (other.json()["workflow_id"], other.json()["started"]) == (late_id, False)
    assert await _result(handle) == outcome
    assert [j.id for j in await _payment_journals(stack, booked)] == [journal.id]
    runs = [e async for e in stack.client.list_workflows(f'WorkflowId = "{late_id}"')]
    assert len(runs) == 1


@pytest.mark.devserver
async def test_a_failed_payment_of_an_ended_contract_is_ignored(stack: Stack) -> None:
    booked = await _ended(stack)
    invoice = await _last_invoice(stack, booked)
    event = await _event(stack, invoice.id, "invoice.payment_failed")

    answers = [await _post(stack, event) for _ in range(2)]

    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ignored"
        assert "has ended (Expired)" in response.json()["detail"]
    assert await _payment_journals(stack, booked) == []


@pytest.mark.devserver
async def test_a_payment_of_a_contract_that_never_ran_is_404(stack: Stack) -> None:
    booked = await _ended(stack)
    invoice = await _last_invoice(stack, booked)
    async with BillingAdapter(stack.settings) as billing:
        await billing.pay_invoice(invoice.id, key=f"test:pay:{invoice.id}")
    event = await _event(stack, invoice.id, "invoice.paid")
    metadata = event["data"]["object"]["metadata"]
    metadata["q2c_key"] = "contract-006NOSUCHTHING0000:invoice:2026-01-01"

    response = await _post(stack, event)

    assert response.status_code == 404, response.text
    assert "contract-006NOSUCHTHING0000" in response.json()["detail"]
    assert await _payment_journals(stack, booked) == []


@pytest.mark.devserver
async def test_an_invoice_of_a_cancelled_contract_paid_after_the_end(stack: Stack) -> None:
    booked = await _cancelled(stack)
    invoice = await _last_invoice(stack, booked)
    assert Decimal(0) < invoice.credited < invoice.total
    async with BillingAdapter(stack.settings) as billing:
        paid = await billing.pay_invoice(invoice.id, key=f"test:pay:{invoice.id}")
    assert paid.paid_at is not None

    response = await _post(stack, await _event(stack, invoice.id, "invoice.paid"))

    assert response.status_code == 202, response.text
    assert "has ended (Cancelled)" in response.json()["detail"]
    late_id = late_payment_id(booked.workflow_id, invoice.id)
    outcome = await _result(
        stack.client.get_workflow_handle(late_id, result_type=LatePaymentOutcome)
    )
    assert outcome.amount == paid.amount_paid == invoice.total - invoice.credited
    [journal] = await _payment_journals(stack, booked)
    assert journal.idempotency_key == f"{booked.workflow_id}:journal:payment:{invoice.id}"
    assert journal.tran_date == paid.paid_at.date()
    assert await _lines(stack, journal) == [
        (CASH, paid.amount_paid, Decimal(0)),
        (RECEIVABLE, Decimal(0), paid.amount_paid),
    ]
