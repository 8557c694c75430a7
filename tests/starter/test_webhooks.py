"""Every answer of the webhook receiver, against the dev server, a worker and the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine
from temporalio.client import Client

from adapters import temporal_client
from adapters.billing import BillingAdapter
from adapters.database import make_engine
from adapters.settings import Settings
from adapters.webhook_events import WebhookEvents
from sandbox.billing.webhooks import signature_header
from starter.webhooks.app import create_app
from starter.webhooks.receiver import Receiver
from starter.webhooks.signature import sign
from tests.starter.conftest import Stack, days, last_month_end
from workflows.contract import ContractWorkflow

pytestmark = [pytest.mark.devserver]


def _id() -> str:
    return f"evt_{uuid.uuid4().hex[:16]}"


def closed_won(opportunity_id: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or _id(),
        "type": "opportunity.closed_won",
        "opportunity_id": opportunity_id,
    }


async def test_closed_won_starts_the_contract_once(stack: Stack) -> None:
    booked = await stack.book(start=days(-20), end=days(345))
    event = closed_won(booked.opportunity_id)

    first = await stack.post_salesforce(event)
    assert first.status_code == 202, first.text
    assert first.json() == {
        "status": "accepted",
        "event_id": event["id"],
        "workflow_id": booked.workflow_id,
        "started": True,
    }
    again = await stack.post_salesforce(event)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"

    other = await stack.post_salesforce(closed_won(booked.opportunity_id))
    assert other.status_code == 202
    assert other.json()["started"] is False  # a new event reaches the running contract

    status = await stack.active(booked)
    assert status.documents_posted == 1
    assert await stack.signals(booked, "booked") == 2


async def test_the_same_amendment_webhook_three_times_has_one_effect(stack: Stack) -> None:
    amendment = {
        "id": "AMD-1",
        "effective_date": days(-3).isoformat(),
        "changes": [{"line_id": "L1", "quantity": 15}],
    }
    booked = await stack.book(start=days(-20), end=days(345), amendments=[amendment])
    assert (await stack.post_salesforce(closed_won(booked.opportunity_id))).status_code == 202
    before = await stack.active(booked)
    event = {
        "id": _id(),
        "type": "contract.amended",
        "opportunity_id": booked.opportunity_id,
        "amendment_id": booked.amendment_ids["AMD-1"],
    }

    answers = [(await stack.post_salesforce(event)).status_code for _ in range(3)]

    assert answers == [202, 200, 200]
    after = await stack.wait(
        booked,
        lambda s: s.pending_messages == 0 and s.documents_posted > before.documents_posted,
        "amended",
    )
    assert after.documents_posted == before.documents_posted + 1  # one proration invoice
    assert await stack.signals(booked, "amendment") == 1
    report = await stack.handle(booked).query(ContractWorkflow.report)
    assert [o.line_id for o in report.obligations] == ["L1", "L1@AMD-1"]


async def test_a_cancellation_webhook_carries_the_cancellation_amendment(stack: Stack) -> None:
    cancel = {"id": "AMD-C", "effective_date": days(-2).isoformat(), "cancel": True}
    booked = await stack.book(start=days(-20), end=days(345), amendments=[cancel])
    assert (await stack.post_salesforce(closed_won(booked.opportunity_id))).status_code == 202
    await stack.active(booked)
    response = await stack.post_salesforce(
        {
            "id": _id(),
            "type": "contract.cancelled",
            "opportunity_id": booked.opportunity_id,
            "amendment_id": booked.amendment_ids["AMD-C"],
        }
    )
    assert response.status_code == 202
    status = await stack.wait(booked, lambda s: s.stage == "Cancelled", "cancelled")
    assert status.billed_to_date == status.recognized_to_date  # credited what was not served


async def test_an_amendment_of_an_unknown_contract_is_404(stack: Stack) -> None:
    response = await stack.post_salesforce(
        {
            "id": _id(),
            "type": "contract.amended",
            "opportunity_id": "006NOSUCHTHING0000",
            "amendment_id": "a0A000000000001AAA",
        }
    )
    assert response.status_code == 404
    assert "no running contract" in response.json()["detail"]


async def test_closed_won_of_a_contract_that_has_ended_is_409(stack: Stack) -> None:
    booked = await stack.book(start=last_month_end() - dt.timedelta(days=45), end=last_month_end())
    assert (await stack.post_salesforce(closed_won(booked.opportunity_id))).status_code == 202
    await stack.wait(booked, lambda s: s.finished, "expired")
    await stack.handle(booked).result()
    response = await stack.post_salesforce(closed_won(booked.opportunity_id))
    assert response.status_code == 409
    assert "already run to its end" in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "secret", "why"),
    [
        ("", None, "missing"),
        ("t=1,v1=00", None, "tolerance"),
        (None, "not-the-secret", "does not match"),
        ("nonsense", None, "expected t="),
    ],
)
async def test_a_bad_or_stale_signature_is_401(
    stack: Stack, header: str | None, secret: str | None, why: str
) -> None:
    response = await stack.post_salesforce(closed_won("006A"), secret=secret, header=header)
    assert response.status_code == 401
    assert why in response.json()["detail"]


async def test_the_previous_secret_is_accepted_while_rotating(stack: Stack) -> None:
    rotated = stack.settings.model_copy(
        update={
            "salesforce_webhook_secret": "new-secret",
            "salesforce_webhook_secret_previous": stack.settings.salesforce_webhook_secret,
        }
    )
    app = _app(stack, rotated, stack.client)
    booked = await stack.book(start=days(5), end=days(370))
    async with _asgi(app) as http:
        for secret, status in (
            ("new-secret", 202),
            (stack.settings.salesforce_webhook_secret, 202),
        ):
            body = json.dumps(closed_won(booked.opportunity_id)).encode()
            response = await http.post(
                "/webhooks/salesforce",
                content=body,
                headers={"X-Q2C-Signature": _sign(body, secret)},
            )
            assert response.status_code == status, response.text
        body = json.dumps(closed_won(booked.opportunity_id)).encode()
        response = await http.post(
            "/webhooks/salesforce", content=body, headers={"X-Q2C-Signature": _sign(body, "x")}
        )
        assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "fields"),
    [
        (b"{not json", 400, None),
        (b"\xff\xfe", 400, None),
        (b"[1, 2]", 422, None),
        (b'{"id": "e1", "type": "contract.exploded", "opportunity_id": "006A"}', 422, ["type"]),
        (
            b'{"id": "e1", "type": "contract.amended", "opportunity_id": "006A"}',
            422,
            ["amendment_id"],
        ),
        (
            b'{"type": "opportunity.closed_won", "opportunity_id": "006 A"}',
            422,
            ["id", "opportunity_id"],
        ),
    ],
    ids=["not-json", "not-utf8", "not-an-object", "unknown-type", "no-amendment", "bad-fields"],
)
async def test_a_malformed_or_invalid_body_names_what_is_wrong(
    stack: Stack, body: bytes, status: int, fields: list[str] | None
) -> None:
    response = await stack.http.post(
        f"{stack.webhook_url}/webhooks/salesforce",
        content=body,
        headers={"X-Q2C-Signature": _sign(body, stack.settings.salesforce_webhook_secret)},
    )
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if fields is not None:
        assert sorted({str(e["loc"][-1]) for e in detail}) == sorted(fields)


async def test_temporal_unreachable_is_503_and_nothing_is_lost(stack: Stack) -> None:
    dead = await temporal_client.connect(target_host="127.0.0.1:1", lazy=True)
    booked = await stack.book(start=days(5), end=days(370))
    event = closed_won(booked.opportunity_id)
    body = json.dumps(event).encode()
    headers = {"X-Q2C-Signature": _sign(body, stack.settings.salesforce_webhook_secret)}
    async with _asgi(_app(stack, stack.settings, dead)) as http:
        refused = await http.post("/webhooks/salesforce", content=body, headers=headers)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"

    # The sender retries later, when Temporal answers: the event was not taken for done.
    retried = await stack.post_salesforce(event)
    assert retried.status_code == 202
    assert retried.json()["started"] is True


async def test_an_unreachable_event_table_is_503(stack: Stack, tmp_path: Any) -> None:
    receiver = Receiver(
        stack.settings,
        stack.client,
        WebhookEvents(create_engine(f"sqlite:///{tmp_path}/missing/dir/events.db")),
        BillingAdapter(stack.settings),
    )
    async with _asgi(create_app(receiver)) as http:
        body = json.dumps(closed_won("006A")).encode()
        response = await http.post(
            "/webhooks/salesforce",
            content=body,
            headers={"X-Q2C-Signature": _sign(body, stack.settings.salesforce_webhook_secret)},
        )
    assert response.status_code == 503
    assert "Retry-After" in response.headers


async def test_health_and_openapi(stack: Stack) -> None:
    assert (await stack.http.get(f"{stack.webhook_url}/healthz")).json() == {"status": "ok"}
    schema = (await stack.http.get(f"{stack.webhook_url}/openapi.json")).json()
    salesforce = schema["paths"]["/webhooks/salesforce"]["post"]
    assert {"202", "200", "400", "401", "404", "413", "422", "503"} <= set(salesforce["responses"])
    body = salesforce["requestBody"]["content"]["application/json"]["schema"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in body["oneOf"]} == {
        "ClosedWon",
        "ContractAmended",
        "ContractCancelled",
    }
    assert "ClosedWon" in schema["components"]["schemas"]
    assert "/webhooks/billing" in schema["paths"]


# -- billing ---------------------------------------------------------------------------------


async def _invoice_event(stack: Stack, booked: Any, kind: str) -> dict[str, Any]:
    """A Stripe event about the contract's first invoice, as the billing platform sends it."""
    async with BillingAdapter(stack.settings) as billing:
        invoice = (await billing.list_invoices_for(contract_id=booked.number))[0]
    response = await stack.http.get(
        f"{stack.settings.billing_url}/v1/invoices/{invoice.id}",
        headers={"Authorization": f"Bearer {stack.settings.billing_api_key}"},
    )
    return {
        "id": _id(),
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": response.json()},
    }


async def _post_billing(
    stack: Stack, event: dict[str, Any], secret: str | None = None
) -> httpx.Response:
    payload = json.dumps(event)
    header = signature_header(payload, secret or stack.settings.billing_webhook_secret)
    return await stack.http.post(
        f"{stack.webhook_url}/webhooks/billing",
        content=payload.encode(),
        headers={"Stripe-Signature": header},
    )


async def test_a_paid_invoice_reaches_its_contract_from_the_billing_platform(stack: Stack) -> None:
    booked = await stack.book(start=days(-20), end=days(345))
    assert (await stack.post_salesforce(closed_won(booked.opportunity_id))).status_code == 202
    before = await stack.active(booked)
    endpoint = await stack.http.post(
        f"{stack.settings.billing_url}/_sandbox/webhook_endpoints",
        json={"url": f"{stack.webhook_url}/webhooks/billing", "enabled_events": ["invoice.paid"]},
    )
    endpoint.raise_for_status()
    try:
        async with BillingAdapter(stack.settings) as billing:
            invoice = (await billing.list_invoices_for(contract_id=booked.number))[0]
            await billing.pay_invoice(invoice.id, key=f"test:pay:{invoice.id}")
    finally:
        await stack.http.delete(
            f"{stack.settings.billing_url}/_sandbox/webhook_endpoints/{endpoint.json()['id']}"
        )
    deliveries = await stack.http.get(f"{stack.settings.billing_url}/_sandbox/webhook_deliveries")
    ours = [d for d in deliveries.json()["data"] if d["endpoint_id"] == endpoint.json()["id"]]
    assert [d["status_code"] for d in ours] == [202]
    after = await stack.wait(
        booked, lambda s: s.journals_posted > before.journals_posted, "payment posted"
    )
    assert after.journals_posted == before.journals_posted + 1  # Dr Cash / Cr AR


async def test_billing_events_duplicates_failures_and_strangers(stack: Stack) -> None:
    booked = await stack.book(start=days(-20), end=days(345))
    assert (await stack.post_salesforce(closed_won(booked.opportunity_id))).status_code == 202
    await stack.active(booked)

    failed = await _invoice_event(stack, booked, "invoice.payment_failed")
    answers = [(await _post_billing(stack, failed)).status_code for _ in range(3)]
    assert answers == [202, 200, 200]
    assert await stack.signals(booked, "payment_failed") == 1

    finalized = await _invoice_event(stack, booked, "invoice.finalized")
    ignored = await _post_billing(stack, finalized)
    assert (ignored.status_code, ignored.json()["status"]) == (200, "ignored")

    foreign = await _invoice_event(stack, booked, "invoice.paid")
    foreign["data"]["object"]["metadata"] = {}
    stranger = await _post_billing(stack, foreign)
    assert (stranger.status_code, stranger.json()["detail"]) == (
        200,
        "not an invoice issued by q2c",
    )

    forged = await _post_billing(stack, failed, secret="whsec_forged")
    assert forged.status_code == 401
    unsigned = await stack.http.post(f"{stack.webhook_url}/webhooks/billing", content=b"{}")
    assert unsigned.status_code == 401
    not_an_event = await _post_billing(stack, {"hello": "world"})
    assert not_an_event.status_code == 400


# -- helpers ---------------------------------------------------------------------------------


def _sign(body: bytes, secret: str) -> str:
    return sign(body, secret)


def _app(stack: Stack, settings: Settings, client: Client) -> FastAPI:
    engine = make_engine(stack.settings.database_url)
    return create_app(Receiver(settings, client, WebhookEvents(engine), BillingAdapter(settings)))


def _asgi(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")
