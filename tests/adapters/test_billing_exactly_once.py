"""The exactly-once proof for billing: under 30% commit-then-fail (the change is applied, then
the client gets a 500 or a dropped connection), creates retried like Temporal retries an
activity leave exactly one record each: 200 customers, and 200 invoices of two lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from functools import partial

import pytest

from adapters.billing import BillingAdapter, InvoiceLine
from tests.adapters.retrying import Retrier
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
COUNT = 200


@pytest.fixture
async def billing(sandbox: SandboxHandle) -> AsyncIterator[BillingAdapter]:
    async with BillingAdapter(sandbox.settings) as adapter:
        yield adapter


@pytest.mark.parametrize("mode", ["error", "drop"])
async def test_200_customers(billing: BillingAdapter, sandbox: SandboxHandle, mode: str) -> None:
    sandbox.set_faults(
        "billing", [{"commit_then_fail_rate": 0.3, "commit_then_fail_mode": mode}], seed=11
    )
    retry = Retrier()
    ids = set()
    for n in range(COUNT):
        customer = await retry(
            partial(
                billing.ensure_customer,
                key=f"customer:ACC-{n}",
                account_id=f"ACC-{n}",
                name=f"Customer {n}",
                currency="EUR",
            )
        )
        ids.add(customer.id)
    sandbox.clear_faults()
    assert len(retry.failures) > COUNT // 5  # the faults really happened
    customers = sandbox.state("billing")["customer"]
    assert len(customers) == len(ids) == COUNT
    assert sorted(c["metadata"]["q2c_account_id"] for c in customers) == sorted(
        f"ACC-{n}" for n in range(COUNT)
    )


@pytest.mark.slow
async def test_200_invoices(billing: BillingAdapter, sandbox: SandboxHandle) -> None:
    customer = await billing.ensure_customer(
        key="customer:ACC-1", account_id="ACC-1", name="Acme", currency="EUR"
    )
    sandbox.set_faults("billing", [{"commit_then_fail_rate": 0.3}], seed=7)
    retry = Retrier()
    numbers = set()
    for n in range(COUNT):
        lines = [
            InvoiceLine(description="subscription", amount=Decimal("100.00") + n, line_id="L1"),
            InvoiceLine(description="usage", amount=Decimal("0.25"), line_id="L3"),
        ]
        invoice = await retry(
            partial(
                billing.create_invoice,
                key=f"contract-OPP-{n}:invoice:2026-01",
                customer_id=customer.id,
                currency="EUR",
                lines=lines,
                document_date=date(2026, 1, 1),
                contract_id=f"OPP-{n}",
            )
        )
        assert invoice.status == "open" and invoice.total == Decimal("100.25") + n
        numbers.add(invoice.number)
    sandbox.clear_faults()
    assert len(retry.failures) > COUNT  # several requests per invoice, 30% of them failed
    state = sandbox.state("billing")
    assert len(state["invoice"]) == len(numbers) == COUNT
    assert len(state["invoiceitem"]) == 2 * COUNT
    assert {i["status"] for i in state["invoice"]} == {"open"}
    assert sorted(i["total"] for i in state["invoice"]) == [10025 + 100 * n for n in range(COUNT)]
