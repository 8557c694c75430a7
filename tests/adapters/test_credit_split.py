"""A credit note larger than any one invoice can still be credited is issued over several
invoices (the latest first), each part a billing credit note keyed after the document, against
the billing sandbox over HTTP:

- the parts sum to the document's total, none over its invoice, and the first keeps the
  document's own key (an unsplit credit note is keyed as before);
- retried under commit-then-fail (the part is made, then the call fails), as Temporal retries
  the activity, no part is made twice and none is missing;
- more than the invoices hold is refused before any part is made (the contract parks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from functools import partial
from typing import Any, cast

import pytest

from activities.contract import ContractActivities
from activities.contract_io import IssueDocument
from adapters.billing import BillingAdapter, InvoiceLine
from adapters.errors import BusinessError
from domain.documents import BillingDocument, DocumentLine, whole_key
from tests.adapters.retrying import Retrier
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
KEY = "contract-OPP-9:amendment:CANCEL-1"
MONTHS = (dt.date(2026, 1, 15), dt.date(2026, 2, 15), dt.date(2026, 3, 15))


@pytest.fixture
async def billing(sandbox: SandboxHandle) -> AsyncIterator[BillingAdapter]:
    async with BillingAdapter(sandbox.settings) as adapter:
        yield adapter


async def three_invoices(billing: BillingAdapter, tag: str) -> tuple[str, list[str]]:
    """A customer's three monthly invoices of 1,000.00: the customer, and the invoices' ids the
    latest first (as the workflow offers them)."""
    customer = await billing.ensure_customer(
        key=f"customer:{tag}", account_id=tag, name=tag, currency="EUR"
    )
    ids = []
    for day in MONTHS:
        invoice = await billing.create_invoice(
            key=f"contract-OPP-9:{tag}:invoice:{day}",
            customer_id=customer.id,
            currency="EUR",
            lines=[InvoiceLine(description="seats", amount=Decimal("1000.00"), line_id="L1")],
            document_date=day,
            contract_id="OPP-9",
        )
        ids.append(invoice.id)
    return customer.id, ids[::-1]


def credit(customer: str, total: str, invoices: list[str], key: str = KEY) -> IssueDocument:
    day = dt.date(2026, 3, 16)
    line = DocumentLine(
        obligation_id="L1",
        line_id="L1",
        product_code="SEAT",
        kind="subscription",
        description="cancelled from 2026-03-10",
        quantity=Decimal(10),
        unit_price=Decimal(1200),
        amount=Decimal(total),
        period_start=dt.date(2026, 3, 10),
        period_end=dt.date(2026, 4, 14),
    )
    document = BillingDocument(
        key="amendment:CANCEL-1",
        contract_id="OPP-9",
        kind="credit_note",
        source="amendment",
        date=day,
        available_on=day,
        period_start=line.period_start,
        period_end=line.period_end,
        currency="EUR",
        lines=[line],
        total=Decimal(total),
    )
    return IssueDocument(key=key, customer_id=customer, document=document, credit_against=invoices)


def activities(billing: BillingAdapter) -> ContractActivities:
    return ContractActivities(
        ledger=cast(Any, None), salesforce=cast(Any, None), billing=billing, erp=cast(Any, None)
    )


async def parts_of(billing: BillingAdapter, invoices: list[str]) -> dict[str, list[Any]]:
    return {i: await billing.list_credit_notes(i) for i in invoices}


async def test_a_credit_larger_than_one_invoice_is_split_latest_first(
    billing: BillingAdapter,
) -> None:
    customer, invoices = await three_invoices(billing, "split")
    issued = await activities(billing)._credit(credit(customer, "1178.57", invoices))
    notes = await parts_of(billing, invoices)
    march, february, january = (notes[i] for i in invoices)
    assert [(n.key, n.total) for n in march] == [(KEY, Decimal("1000.00"))]
    assert [(n.key, n.total) for n in february] == [(f"{KEY}#part-2", Decimal("178.57"))]
    assert january == []
    assert issued.billing_id == march[0].id
    assert {whole_key(n.key or "") for n in march + february} == {KEY}
    assert {n.metadata["q2c_document"] for n in march + february} == {"amendment:CANCEL-1"}
    # Again (a retry after the ledger lost the answer): nothing more.
    again = await activities(billing)._credit(credit(customer, "1178.57", invoices))
    assert again.billing_id == issued.billing_id
    assert await parts_of(billing, invoices) == notes


async def test_a_credit_that_fits_is_one_note_with_the_documents_key(
    billing: BillingAdapter,
) -> None:
    customer, invoices = await three_invoices(billing, "fits")
    await activities(billing)._credit(credit(customer, "516.13", invoices))
    notes = await parts_of(billing, invoices)
    assert [(n.key, n.total) for n in notes[invoices[0]]] == [(KEY, Decimal("516.13"))]
    assert notes[invoices[1]] == notes[invoices[2]] == []


async def test_retried_under_commit_then_fail_each_part_is_made_once(
    billing: BillingAdapter, sandbox: SandboxHandle
) -> None:
    customer, invoices = await three_invoices(billing, "faults")
    sandbox.set_faults(
        "billing",
        [{"method": "POST", "route": "*credit_notes*", "commit_then_fail_rate": 0.5}],
        seed=3,
    )
    retry = Retrier()
    await retry(partial(activities(billing)._credit, credit(customer, "2500.00", invoices)))
    sandbox.clear_faults()
    assert retry.failures  # the faults really happened
    notes = await parts_of(billing, invoices)
    assert [[(n.key, n.total) for n in notes[i]] for i in invoices] == [
        [(KEY, Decimal("1000.00"))],
        [(f"{KEY}#part-2", Decimal("1000.00"))],
        [(f"{KEY}#part-3", Decimal("500.00"))],
    ]


async def test_more_than_the_invoices_hold_is_refused_before_any_part(
    billing: BillingAdapter,
) -> None:
    customer, invoices = await three_invoices(billing, "over")
    await activities(billing)._credit(
        credit(customer, "800.00", invoices, key="contract-OPP-9:earlier")
    )
    with pytest.raises(BusinessError) as info:
        await activities(billing)._credit(credit(customer, "2200.01", invoices))
    assert info.value.code == "credit_exceeds_invoice"
    assert "can still be credited 2200.00 of 2200.01" in info.value.message
    notes = await parts_of(billing, invoices)
    assert [n.key for i in invoices for n in notes[i]] == ["contract-OPP-9:earlier"]
