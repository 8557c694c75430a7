"""The official `stripe` SDK, unmodified, runs the whole invoicing flow against the sandbox."""

from __future__ import annotations

import pytest
import stripe

from tests.fixtures.sandbox import SandboxHandle

# The SDK hands httpx its form body as `data=str`, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def test_customer_to_credit_note(stripe_client: stripe.StripeClient) -> None:
    v1 = stripe_client.v1
    customer = await v1.customers.create_async(
        {"name": "Acme GmbH", "email": "ap@acme.test", "metadata": {"q2c_key": "customer:ACC-1"}}
    )
    assert customer.id.startswith("cus_") and customer.object == "customer"
    assert customer.livemode is False and customer.metadata is not None
    assert customer.metadata["q2c_key"] == "customer:ACC-1"

    product = await v1.products.create_async({"name": "Seat (Pro)", "metadata": {"code": "SEAT"}})
    price = await v1.prices.create_async(
        {"product": product.id, "currency": "EUR", "unit_amount": 10000}
    )
    assert (price.id[:6], price.currency, price.unit_amount) == ("price_", "eur", 10000)

    invoice = await v1.invoices.create_async(
        {
            "customer": customer.id,
            "currency": "eur",
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "pending_invoice_items_behavior": "exclude",
            "metadata": {"q2c_key": "contract-OPP-1:invoice:2026-01"},
        }
    )
    assert invoice.status == "draft" and invoice.number is None and invoice.total == 0

    fee = await v1.invoice_items.create_async(
        {
            "customer": customer.id,
            "invoice": invoice.id,
            "currency": "eur",
            "amount": 500000,
            "description": "50 seats, January",
            "period": {"start": 1768435200, "end": 1771113600},
            "metadata": {"q2c_line_id": "L1"},
        }
    )
    seats = await v1.invoice_items.create_async(
        {
            "customer": customer.id,
            "invoice": invoice.id,
            "pricing": {"price": price.id},
            "quantity": 3,
        }
    )
    assert fee.id.startswith("ii_") and fee.invoice == invoice.id
    assert seats.amount == 30000 and seats.description == "Seat (Pro)"

    invoice = await v1.invoices.finalize_invoice_async(invoice.id)
    assert invoice.status == "open" and invoice.number is not None
    assert invoice.total == 530000 and invoice.amount_due == 530000
    assert [line.amount for line in invoice.lines.data] == [500000, 30000]
    assert invoice.lines.data[0].metadata["q2c_line_id"] == "L1"

    invoice = await v1.invoices.pay_async(invoice.id, {"paid_out_of_band": True})
    assert invoice.status == "paid" and invoice.amount_paid == 530000
    assert invoice.amount_remaining == 0 and invoice.status_transitions.paid_at is not None

    line = invoice.lines.data[1]
    note = await v1.credit_notes.create_async(
        {
            "invoice": invoice.id,
            "lines": [{"type": "invoice_line_item", "invoice_line_item": line.id, "quantity": 1}],
            "reason": "order_change",
            "metadata": {"q2c_key": "contract-OPP-1:credit:1"},
        }
    )
    assert note.id.startswith("cn_") and note.total == 10000 and note.status == "issued"
    assert note.number == f"{invoice.number}-CN-01" and note.type == "post_payment"
    again = await v1.invoices.retrieve_async(invoice.id)
    assert again.post_payment_credit_notes_amount == 10000
    assert (await v1.customers.retrieve_async(customer.id)).balance == -10000

    listed = await v1.credit_notes.list_async({"invoice": invoice.id})
    assert [n.id for n in listed.data] == [note.id]


async def test_card_payment_and_decline(stripe_client: stripe.StripeClient) -> None:
    v1 = stripe_client.v1
    customer = await v1.customers.create_async({"name": "Beta"})
    invoices = []
    for _ in range(2):
        draft = await v1.invoices.create_async({"customer": customer.id, "currency": "usd"})
        await v1.invoice_items.create_async(
            {"customer": customer.id, "invoice": draft.id, "amount": 1999, "currency": "usd"}
        )
        invoices.append(await v1.invoices.finalize_invoice_async(draft.id))

    paid = await v1.invoices.pay_async(invoices[0].id, {"payment_method": "pm_card_visa"})
    assert paid.status == "paid" and paid.attempt_count == 1
    assert paid.payments is not None
    payment = paid.payments.data[0]
    assert payment.payment.type == "payment_intent"
    intent = await v1.payment_intents.retrieve_async(str(payment.payment.payment_intent))
    assert intent.status == "succeeded" and intent.amount == 1999

    with pytest.raises(stripe.CardError) as declined:
        await v1.invoices.pay_async(invoices[1].id, {"payment_method": "pm_card_chargeDeclined"})
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    still_open = await v1.invoices.retrieve_async(invoices[1].id)
    assert still_open.status == "open" and still_open.attempt_count == 1


async def test_lists_paginate_and_search(
    stripe_client: stripe.StripeClient, sandbox: SandboxHandle
) -> None:
    v1 = stripe_client.v1
    ids = [
        (await v1.customers.create_async({"name": f"C{i}", "metadata": {"batch": "b1"}})).id
        for i in range(7)
    ]
    page = await v1.customers.list_async({"limit": 3})
    assert page.has_more and [c.id for c in page.data] == ids[::-1][:3]
    every = [c.id async for c in page.auto_paging_iter()]
    assert every == ids[::-1]

    found = await v1.customers.search_async(
        {"query": "metadata['batch']:'b1' AND name:'C3'", "limit": 5}
    )
    assert [c.id for c in found.data] == [ids[3]]
    batch = await v1.customers.search_async({"query": 'metadata["batch"]:"b1"', "limit": 2})
    assert batch.has_more and batch.next_page
    assert len([c async for c in batch.auto_paging_iter()]) == 7

    customer = ids[0]
    invoice = await v1.invoices.create_async(
        {"customer": customer, "currency": "jpy", "metadata": {"q2c_contract_id": "OPP-9"}}
    )
    hits = await v1.invoices.search_async(
        {"query": f"metadata['q2c_contract_id']:'OPP-9' AND customer:'{customer}'"}
    )
    assert [i.id for i in hits.data] == [invoice.id]
    none = await v1.invoices.search_async({"query": "metadata['q2c_contract_id']:'OPP-0'"})
    assert none.data == [] and not none.has_more
