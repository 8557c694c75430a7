"""The adapter reads Stripe's published example objects (tests/fixtures/vendor/stripe)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import stripe

from adapters.billing import records

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "stripe"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


def test_customer() -> None:
    customer = records.customer_from(stripe.Customer.construct_from(fixture("customer"), "sk"))
    assert (customer.id, customer.currency, customer.key) == ("cus_QXg1o8vcGmoR32", "USD", None)


def test_product_and_price() -> None:
    product = records.product_from(fixture("product"))
    assert (product.name, product.active, product.code) == ("T-shirt", True, None)
    price = records.price_from(stripe.Price.construct_from(fixture("price"), "sk"))
    assert (price.currency, price.unit_amount) == ("USD", Decimal("20"))
    assert (price.product_id, price.recurring_interval) == ("prod_QXg1hqf4jFNsqG", "month")


def test_invoice() -> None:
    invoice = records.invoice_from(stripe.Invoice.construct_from(fixture("invoice"), "sk"))
    assert (invoice.id, invoice.status, invoice.currency) == (
        "in_1Pgc6tB7WZ01zgkWu9fdqL6I",
        "draft",
        "USD",
    )
    assert (invoice.total, invoice.amount_due, invoice.amount_paid) == (
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("0.00"),
    )
    [line] = invoice.lines
    assert line.id == "il_1Pgc6sB7WZ01zgkWFnxLrLCq" and line.amount == Decimal("10.00")
    assert line.period_start == line.period_end == date(2024, 7, 26)
    assert invoice.lines_complete and invoice.customer_id == "cus_QXg1o8vcGmoR32"
    assert invoice.document_date == date(2009, 2, 13)  # effective_at 1234567890


def test_invoice_line_alone() -> None:
    line = records.invoice_line_from(fixture("invoice_line_item"), "USD")
    assert line.amount == Decimal("10.00") and line.invoice_item_id == "invoice_item"


def test_credit_note() -> None:
    note = records.credit_note_from(stripe.CreditNote.construct_from(fixture("credit_note"), "sk"))
    assert (note.number, note.total, note.invoice_id) == (
        "ABCD-1234-CN-01",
        Decimal("16.90"),
        "in_1Pgc75B7WZ01zgkWYv4iMwt7",
    )
    assert [line.amount for line in note.lines] == [Decimal("11.90"), Decimal("5.00")]
    assert note.lines[0].invoice_line_id == "il_1Pgc74B7WZ01zgkWWh45tUBA"
    assert note.lines[1].invoice_line_id is None


def test_event() -> None:
    event = records.event_from(fixture("event"))
    assert (event.type, event.object_type, event.object_id) == (
        "plan.created",
        "plan",
        "price_1PgafmB7WZ01zgkW6dKueIc5",
    )
    assert event.livemode is False and event.contract_id is None


def test_period_bounds_treat_a_later_end_as_exclusive() -> None:
    jan15, feb15 = 1768435200, 1771113600
    assert records.period_bounds(jan15, feb15) == (date(2026, 1, 15), date(2026, 2, 14))
    assert records.period_bounds(jan15, jan15) == (date(2026, 1, 15), date(2026, 1, 15))
