"""The sandbox answers in Stripe's shapes: every top-level field of Stripe's published example
objects (tests/fixtures/vendor/stripe) is present, with the same JSON type where both are set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vendor" / "stripe"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


def same_shape(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"missing fields: {missing}"
    for key, value in theirs.items():
        mine = ours[key]
        if value is None or mine is None:
            continue
        if isinstance(value, bool) or isinstance(mine, bool):
            assert isinstance(mine, bool) == isinstance(value, bool), key
        elif isinstance(value, int | float):
            assert isinstance(mine, int | float), key
        else:
            assert type(mine) is type(value), f"{key}: {type(mine).__name__}"
    assert ours["object"] == theirs["object"] and ours["livemode"] is False


async def post(api: httpx.AsyncClient, path: str, **form: Any) -> dict[str, Any]:
    answer = await api.post(path, data={k: str(v) for k, v in form.items()})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture
async def objects(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """One of each resource, made through the API."""
    customer = await post(api, "/v1/customers", name="Acme", email="a@acme.test")
    product = await post(api, "/v1/products", name="Seat")
    price = await post(
        api,
        "/v1/prices",
        product=product["id"],
        currency="usd",
        unit_amount=2000,
        **{"recurring[interval]": "month"},
    )
    invoice = await post(api, "/v1/invoices", customer=customer["id"], currency="usd")
    item = await post(
        api,
        "/v1/invoiceitems",
        customer=customer["id"],
        invoice=invoice["id"],
        amount=1000,
        currency="usd",
        description="Seats",
    )
    await post(api, f"/v1/invoices/{invoice['id']}/finalize")
    paid = await post(api, f"/v1/invoices/{invoice['id']}/pay", payment_method="pm_card_visa")
    note = await post(
        api,
        "/v1/credit_notes",
        **{
            "invoice": invoice["id"],
            "lines[0][type]": "invoice_line_item",
            "lines[0][invoice_line_item]": paid["lines"]["data"][0]["id"],
            "lines[0][amount]": 300,
        },
    )
    payment = paid["payments"]["data"][0]
    intent = (await api.get(f"/v1/payment_intents/{payment['payment']['payment_intent']}")).json()
    event = (await api.get("/v1/events", params={"limit": 1})).json()["data"][0]
    return {
        "customer": customer,
        "product": product,
        "price": price,
        "invoiceitem": item,
        "invoice": paid,
        "invoice_line_item": paid["lines"]["data"][0],
        "credit_note": note,
        "credit_note_line_item": note["lines"]["data"][0],
        "payment_intent": intent,
        "invoice_payment": payment,
        "event": event,
    }


@pytest.mark.parametrize(
    "name",
    [
        "customer",
        "product",
        "price",
        "invoiceitem",
        "invoice",
        "invoice_line_item",
        "credit_note",
        "credit_note_line_item",
        "payment_intent",
        "invoice_payment",
        "event",
    ],
)
async def test_sandbox_objects_have_stripes_shape(
    objects: dict[str, dict[str, Any]], name: str
) -> None:
    same_shape(objects[name], fixture(name))


async def test_list_and_error_envelopes(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/v1/customers")).json()
    assert set(listed) == {"object", "data", "has_more", "url"} and listed["object"] == "list"
    found = (await api.get("/v1/customers/search", params={"query": "name:'x'"})).json()
    assert found["object"] == "search_result" and found["next_page"] is None
    error = (await api.get("/v1/customers/cus_x")).json()["error"]
    assert set(error) <= {"type", "code", "message", "param", "doc_url", "decline_code"}
