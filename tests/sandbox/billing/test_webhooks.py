"""Signed webhooks that `stripe.Webhook.construct_event` verifies, and `GET /v1/events`."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import stripe

from sandbox.billing.webhooks import signature_header
from tests.sandbox.billing.conftest import Receiver

SECRET = "whsec_test_secret"


async def post(api: httpx.AsyncClient, path: str, status: int = 200, /, **form: Any) -> Any:
    answer = await api.post(path, data={k: str(v) for k, v in form.items()})
    assert answer.status_code == status, answer.text
    return answer.json()


async def open_invoice(api: httpx.AsyncClient, **customer: str) -> dict[str, Any]:
    cus = (await post(api, "/v1/customers", name="Acme", **customer))["id"]
    inv = await post(
        api, "/v1/invoices", customer=cus, currency="eur", **{"metadata[q2c_contract_id]": "OPP-1"}
    )
    await post(api, "/v1/invoiceitems", customer=cus, invoice=inv["id"], amount=900, currency="eur")
    return dict(await post(api, f"/v1/invoices/{inv['id']}/finalize"))


async def register(api: httpx.AsyncClient, url: str, **extra: Any) -> dict[str, Any]:
    answer = await api.post("/_sandbox/webhook_endpoints", json={"url": url, **extra})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def verified(receiver: Receiver, event_type: str, secret: str = SECRET) -> stripe.Event:
    [delivery] = [d for d in receiver.deliveries if json.loads(d.body)["type"] == event_type]
    assert delivery.headers["Content-Type"].startswith("application/json")
    event: stripe.Event = stripe.Webhook.construct_event(
        delivery.body, delivery.headers["Stripe-Signature"], secret
    )
    return event


async def test_invoice_paid_is_delivered_signed(api: httpx.AsyncClient, receiver: Receiver) -> None:
    await register(api, receiver.url, secret=SECRET)
    invoice = await open_invoice(api)
    await post(api, f"/v1/invoices/{invoice['id']}/pay", paid_out_of_band="true")
    event = verified(receiver, "invoice.paid")
    assert event.id.startswith("evt_") and event.livemode is False
    paid = event.data.object
    assert paid["id"] == invoice["id"] and paid["status"] == "paid"
    assert paid["metadata"]["q2c_contract_id"] == "OPP-1"
    assert receiver.types() == [
        "customer.created",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
        "invoice.finalized",
        "invoice.paid",
    ]


async def test_payment_failed_is_delivered_signed(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(
        api, receiver.url, secret=SECRET, enabled_events=["invoice.payment_failed", "invoice.paid"]
    )
    invoice = await open_invoice(
        api, **{"invoice_settings[default_payment_method]": "pm_card_chargeDeclined"}
    )
    declined = await post(api, f"/v1/invoices/{invoice['id']}/pay", 402)
    assert declined["error"]["type"] == "card_error"
    assert declined["error"]["decline_code"] == "generic_decline"
    event = verified(receiver, "invoice.payment_failed")
    assert event.data.object["id"] == invoice["id"] and event.data.object["attempt_count"] == 1
    assert receiver.types() == ["invoice.payment_failed"]


async def test_tampered_wrong_secret_and_stale_signatures_are_refused(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(api, receiver.url, secret=SECRET)
    await post(api, "/v1/customers", name="Acme")
    [delivery] = receiver.deliveries
    header = delivery.headers["Stripe-Signature"]
    assert stripe.Webhook.construct_event(delivery.body, header, SECRET).type == "customer.created"
    tampered = delivery.body.replace(b"Acme", b"Evil")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, header, "whsec_other")
    stale = signature_header(delivery.body.decode(), SECRET, int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(delivery.body, stale, SECRET)


async def test_default_secret_comes_from_settings(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint = await register(api, receiver.url)
    assert endpoint["secret"] == "whsec_q2c_sandbox" and endpoint["enabled_events"] == ["*"]
    await post(api, "/v1/customers", name="A")
    assert verified(receiver, "customer.created", "whsec_q2c_sandbox").type == "customer.created"
    listed = (await api.get("/_sandbox/webhook_endpoints")).json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert (await api.delete(f"/_sandbox/webhook_endpoints/{endpoint['id']}")).json()["deleted"]
    await post(api, "/v1/customers", name="B")
    assert len(receiver.deliveries) == 1


async def test_failed_deliveries_are_recorded_and_retried(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(api, receiver.url, secret=SECRET)
    receiver.status = 503
    await post(api, "/v1/customers", name="A")
    [attempt] = (await api.get("/_sandbox/webhook_deliveries")).json()["data"]
    assert attempt["delivered"] is False and attempt["status_code"] == 503
    receiver.status = 200
    retried = (await api.post("/_sandbox/webhook_deliveries/retry")).json()["data"]
    assert [r["delivered"] for r in retried] == [True]
    assert (await api.post("/_sandbox/webhook_deliveries/retry")).json()["data"] == []
    bad = await api.post("/_sandbox/webhook_endpoints", json={"url": "not a url"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("url:")


async def test_events_are_listed_newest_first(api: httpx.AsyncClient) -> None:
    invoice = await open_invoice(api)
    events = (await api.get("/v1/events")).json()["data"]
    assert events[0]["type"] == "invoice.finalized"
    assert all(e["request"]["id"].startswith("req_") for e in events)
    only = (await api.get("/v1/events", params={"type": "invoice.*"})).json()["data"]
    assert {e["type"] for e in only} == {"invoice.created", "invoice.updated", "invoice.finalized"}
    one = (await api.get(f"/v1/events/{events[0]['id']}")).json()
    assert one["data"]["object"]["id"] == invoice["id"]
