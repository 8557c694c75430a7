"""The billing adapter against the billing sandbox over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from adapters.billing import (
    BillingAdapter,
    CreditLine,
    InvalidWebhookError,
    InvoiceLine,
    stored_key,
)
from adapters.errors import BusinessError, IdempotencyConflictError, NotFoundError, TransientError
from sandbox.billing.webhooks import signature_header
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")
DAY = 24 * 60 * 60


@pytest.fixture
async def billing(sandbox: SandboxHandle) -> AsyncIterator[BillingAdapter]:
    async with BillingAdapter(sandbox.settings) as adapter:
        yield adapter


@pytest.fixture
async def customer_id(billing: BillingAdapter) -> str:
    customer = await billing.ensure_customer(
        key="customer:ACC-1", account_id="ACC-1", name="Acme GmbH", currency="EUR"
    )
    return customer.id


LINES = [
    InvoiceLine(
        description="50 × SEAT-PRO, 2026-01-15 – 2026-02-14",
        amount=Decimal("5000.00"),
        period_start=date(2026, 1, 15),
        period_end=date(2026, 2, 14),
        line_id="L1",
    ),
    InvoiceLine(description="ONBOARD", amount=Decimal("5000.00"), line_id="L2"),
]


async def make_invoice(billing: BillingAdapter, customer_id: str, key: str = "c-1:invoice:1"):
    return await billing.create_invoice(
        key=key,
        customer_id=customer_id,
        currency="EUR",
        lines=LINES,
        document_date=date(2026, 1, 15),
        period_start=date(2026, 1, 15),
        period_end=date(2026, 2, 14),
        contract_id="OPP-1",
    )


async def test_ensure_customer_product_and_price_are_idempotent(
    billing: BillingAdapter, sandbox: SandboxHandle
) -> None:
    first = await billing.ensure_customer(
        key="customer:ACC-1", account_id="ACC-1", name="Acme", currency="EUR", email="a@b.test"
    )
    again = await billing.ensure_customer(
        key="customer:ACC-1", account_id="ACC-1", name="Acme", currency="EUR"
    )
    assert first == again and first.account_id == "ACC-1" and first.key == "customer:ACC-1"
    with pytest.raises(IdempotencyConflictError):
        await billing.ensure_customer(
            key="customer:ACC-1", account_id="ACC-2", name="X", currency="EUR"
        )
    product = await billing.ensure_product(key="product:API", code="API-CALLS", name="API calls")
    assert product == await billing.ensure_product(
        key="product:API", code="API-CALLS", name="API calls"
    )
    price = await billing.ensure_price(
        key="price:API:EUR",
        product_id=product.id,
        product_code="API-CALLS",
        currency="EUR",
        unit_amount=Decimal("0.002"),
    )
    assert (price.unit_amount, price.currency) == (Decimal("0.002"), "EUR")
    again_price = await billing.ensure_price(
        key="price:API:EUR",
        product_id=product.id,
        product_code="API-CALLS",
        currency="EUR",
        unit_amount=Decimal("0.0020"),
    )
    assert again_price.id == price.id
    with pytest.raises(IdempotencyConflictError):
        await billing.ensure_price(
            key="price:API:EUR",
            product_id=product.id,
            product_code="API-CALLS",
            currency="EUR",
            unit_amount=Decimal("0.003"),
        )
    yen = await billing.ensure_price(
        key="price:SEAT:JPY",
        product_id=product.id,
        product_code="SEAT",
        currency="JPY",
        unit_amount=Decimal("1500"),
        recurring_interval="month",
    )
    assert yen.unit_amount == Decimal("1500") and yen.recurring_interval == "month"
    state = sandbox.state("billing")
    assert (len(state["customer"]), len(state["product"]), len(state["price"])) == (1, 1, 2)


async def test_create_invoice_is_finalized_and_dated(
    billing: BillingAdapter, customer_id: str
) -> None:
    invoice = await make_invoice(billing, customer_id)
    assert invoice.status == "open" and invoice.number
    assert (invoice.total, invoice.amount_due, invoice.currency) == (
        Decimal("10000.00"),
        Decimal("10000.00"),
        "EUR",
    )
    assert invoice.document_date == date(2026, 1, 15) and invoice.contract_id == "OPP-1"
    assert (invoice.period_start, invoice.period_end) == (date(2026, 1, 15), date(2026, 2, 14))
    assert [line.key for line in invoice.lines] == ["c-1:invoice:1:line:0", "c-1:invoice:1:line:1"]
    assert invoice.lines[0].period_end == date(2026, 2, 14)
    assert invoice.lines[0].metadata["q2c_line_id"] == "L1"
    assert invoice.key == "c-1:invoice:1"
    assert await make_invoice(billing, customer_id) == invoice
    assert await billing.get_invoice(invoice.id) == invoice
    assert await billing.find_invoice("c-1:invoice:1") == invoice
    assert await billing.find_invoice("c-1:invoice:2") is None


async def test_a_retry_after_partial_completion_finishes_the_same_invoice(
    billing: BillingAdapter, customer_id: str, sandbox: SandboxHandle
) -> None:
    """A worker died after the draft and one item; Stripe forgot the keys (a day passed)."""
    client = billing._stripe
    draft = await client.v1.invoices.create_async(
        {
            "customer": customer_id,
            "currency": "eur",
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "metadata": {"q2c_key": "c-1:invoice:1"},
        }
    )
    await client.v1.invoice_items.create_async(
        {
            "customer": customer_id,
            "invoice": draft.id,
            "currency": "eur",
            "amount": 500000,
            "metadata": {"q2c_key": "c-1:invoice:1:line:0"},
        }
    )
    sandbox.advance_clock(2 * DAY)
    invoice = await make_invoice(billing, customer_id)
    assert invoice.id == draft.id and invoice.status == "open"
    assert invoice.total == Decimal("10000.00") and len(invoice.lines) == 2
    assert len(sandbox.state("billing")["invoice"]) == 1


async def test_the_same_key_for_other_lines_is_a_conflict(
    billing: BillingAdapter, customer_id: str
) -> None:
    await make_invoice(billing, customer_id)
    with pytest.raises(IdempotencyConflictError):
        await billing.create_invoice(
            key="c-1:invoice:1",
            customer_id=customer_id,
            currency="EUR",
            lines=[InvoiceLine(description="other", amount=Decimal("1.00"))],
            document_date=date(2026, 1, 15),
        )


async def test_bad_invoices_are_business_errors(billing: BillingAdapter, customer_id: str) -> None:
    with pytest.raises(BusinessError, match="no lines"):
        await billing.create_invoice(
            key="k",
            customer_id=customer_id,
            currency="EUR",
            lines=[],
            document_date=date(2026, 1, 1),
        )
    with pytest.raises(BusinessError) as precise:
        await billing.create_invoice(
            key="k",
            customer_id=customer_id,
            currency="JPY",
            lines=[InvoiceLine(description="x", amount=Decimal("1.5"))],
            document_date=date(2026, 1, 1),
        )
    assert precise.value.code == "amount_precision"
    with pytest.raises(NotFoundError):
        await billing.create_invoice(
            key="k",
            customer_id="cus_missing",
            currency="EUR",
            lines=[InvoiceLine(description="x", amount=Decimal("1"))],
            document_date=date(2026, 1, 1),
        )
    with pytest.raises(NotFoundError):
        await billing.get_invoice("in_missing")


async def test_credit_notes_pay_void_and_lists(
    billing: BillingAdapter, customer_id: str, sandbox: SandboxHandle
) -> None:
    invoice = await make_invoice(billing, customer_id)
    note = await billing.create_credit_note(
        key="c-1:credit:1",
        invoice_id=invoice.id,
        lines=[
            CreditLine(
                amount=Decimal("1250.00"),
                invoice_line_id=invoice.lines[0].id,
                description="proration",
            )
        ],
        document_date=date(2026, 4, 1),
        contract_id="OPP-1",
        reason="order_change",
    )
    assert note.total == Decimal("1250.00") and note.document_date == date(2026, 4, 1)
    assert note.lines[0].invoice_line_id == invoice.lines[0].id and note.key == "c-1:credit:1"
    sandbox.advance_clock(2 * DAY)  # Stripe forgot the key; the list still finds the note
    assert (
        await billing.create_credit_note(
            key="c-1:credit:1",
            invoice_id=invoice.id,
            lines=[CreditLine(amount=Decimal("1250.00"), invoice_line_id=invoice.lines[0].id)],
        )
    ).id == note.id
    with pytest.raises(IdempotencyConflictError):
        await billing.create_credit_note(
            key="c-1:credit:1", invoice_id=invoice.id, amount=Decimal("1.00")
        )
    with pytest.raises(BusinessError):
        await billing.create_credit_note(
            key="c-1:credit:2", invoice_id=invoice.id, amount=Decimal("9000.00")
        )
    paid = await billing.pay_invoice(invoice.id, key="c-1:pay:1")
    assert paid.status == "paid" and paid.amount_paid == Decimal("8750.00")
    assert await billing.pay_invoice(invoice.id, key="c-1:pay:1") == paid
    assert paid.credited == Decimal("1250.00")
    custom = await billing.create_credit_note(
        key="c-1:credit:3", invoice_id=invoice.id, amount=Decimal("100.00")
    )
    assert [n.id for n in await billing.list_credit_notes(invoice.id)] == [note.id, custom.id]

    other = await make_invoice(billing, customer_id, key="c-1:invoice:2")
    voided = await billing.void_invoice(other.id, key="c-1:void:2")
    assert voided.status == "void" and voided.voided_at is not None
    assert await billing.void_invoice(other.id, key="c-1:void:2") == voided
    with pytest.raises(BusinessError):
        await billing.void_invoice(invoice.id, key="c-1:void:1")

    by_contract = await billing.list_invoices_for(contract_id="OPP-1")
    by_customer = await billing.list_invoices_for(customer_id=customer_id)
    assert [i.id for i in by_contract] == [i.id for i in by_customer] == [invoice.id, other.id]
    with pytest.raises(ValueError):
        await billing.list_invoices_for()


async def test_invoices_with_many_lines_come_back_whole(
    billing: BillingAdapter, customer_id: str
) -> None:
    lines = [InvoiceLine(description=f"line {n}", amount=Decimal(n)) for n in range(1, 15)]
    invoice = await billing.create_invoice(
        key="big",
        customer_id=customer_id,
        currency="EUR",
        lines=lines,
        document_date=date(2026, 1, 1),
    )
    assert len(invoice.lines) == 14 and invoice.lines_complete
    assert invoice.total == Decimal("105.00")


async def test_webhooks_are_verified(billing: BillingAdapter, sandbox: SandboxHandle) -> None:
    secret = sandbox.settings.billing_webhook_secret
    payload = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "invoice.paid",
            "created": 1767225600,
            "livemode": False,
            "data": {
                "object": {
                    "id": "in_1",
                    "object": "invoice",
                    "metadata": {"q2c_contract_id": "OPP-1", "q2c_key": "k"},
                }
            },
        }
    )
    event = billing.parse_webhook(payload.encode(), signature_header(payload, secret))
    assert (event.type, event.object_id, event.contract_id, event.key) == (
        "invoice.paid",
        "in_1",
        "OPP-1",
        "k",
    )
    with pytest.raises(InvalidWebhookError):
        billing.parse_webhook(
            payload.replace("in_1", "in_2").encode(), signature_header(payload, secret)
        )
    with pytest.raises(InvalidWebhookError, match="tolerance"):
        billing.parse_webhook(
            payload.encode(), signature_header(payload, secret, int(time.time()) - 301)
        )
    with pytest.raises(InvalidWebhookError):
        billing.parse_webhook(payload.encode(), None)
    with pytest.raises(InvalidWebhookError):
        billing.parse_webhook(b"[]", signature_header("[]", secret))


async def test_delivered_webhooks_parse(
    billing: BillingAdapter, customer_id: str, sandbox: SandboxHandle
) -> None:
    received: list[tuple[bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        sandbox.admin(
            "billing",
            "POST",
            "webhook_endpoints",
            {
                "url": f"http://127.0.0.1:{server.server_address[1]}/",
                "enabled_events": ["invoice.paid", "invoice.payment_failed"],
            },
        )
        invoice = await make_invoice(billing, customer_id)
        await billing.pay_invoice(invoice.id, key="pay")
    finally:
        server.shutdown()
        server.server_close()
    [(body, signature)] = received
    event = billing.parse_webhook(body, signature)
    assert (event.type, event.object_id, event.contract_id) == ("invoice.paid", invoice.id, "OPP-1")


async def test_unreachable_billing_is_transient(sandbox: SandboxHandle) -> None:
    settings = sandbox.settings.model_copy(
        update={"billing_url": "http://127.0.0.1:9", "http_timeout_seconds": 1.0}
    )
    async with BillingAdapter(settings) as adapter:
        with pytest.raises(TransientError):
            await adapter.get_invoice("in_1")


async def test_429_carries_retry_after(billing: BillingAdapter, sandbox: SandboxHandle) -> None:
    sandbox.set_faults("billing", [{"rate_limit_rate": 1.0, "retry_after": 3}])
    with pytest.raises(TransientError) as limited:
        await billing.get_invoice("in_1")
    assert limited.value.retry_after == 3.0


def test_long_keys_are_shortened_deterministically() -> None:
    long_key = "contract-" + "x" * 300
    assert len(stored_key(long_key)) == 255 and stored_key(long_key) == stored_key(long_key)
    assert stored_key("short") == "short"
    assert stripe.Webhook.DEFAULT_TOLERANCE == 300
