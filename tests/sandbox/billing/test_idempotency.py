"""Stripe's `Idempotency-Key` semantics: replay, mismatch, in-flight, 24 hours of sandbox time."""

from __future__ import annotations

import httpx
import pytest
import stripe

from sandbox.billing.idempotency import RETENTION_SECONDS
from sandbox.context import SandboxContext
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def count(api: httpx.AsyncClient, resource: str) -> int:
    return len((await api.get(f"/v1/{resource}", params={"limit": 100})).json()["data"])


async def test_same_key_and_params_replay_the_first_answer(api: httpx.AsyncClient) -> None:
    form = {"name": "Acme", "metadata[q2c_key]": "customer:ACC-1"}
    first = await api.post("/v1/customers", data=form, headers={"Idempotency-Key": "k-1"})
    second = await api.post("/v1/customers", data=form, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["original-request"] == first.headers["request-id"]
    assert "idempotent-replayed" not in first.headers
    assert await count(api, "customers") == 1


async def test_same_key_other_params_is_an_idempotency_error(api: httpx.AsyncClient) -> None:
    await api.post("/v1/customers", data={"name": "Acme"}, headers={"Idempotency-Key": "k-2"})
    other = await api.post(
        "/v1/customers", data={"name": "Beta"}, headers={"Idempotency-Key": "k-2"}
    )
    assert other.status_code == 400
    error = other.json()["error"]
    assert error["type"] == "idempotency_error"
    assert "same parameters" in error["message"]
    elsewhere = await api.post(
        "/v1/products", data={"name": "X"}, headers={"Idempotency-Key": "k-2"}
    )
    assert elsewhere.status_code == 400 and "same endpoint" in elsewhere.json()["error"]["message"]
    assert await count(api, "customers") == 1


async def test_keys_are_forgotten_after_24_hours_of_sandbox_time(
    api: httpx.AsyncClient, billing_ctx: SandboxContext
) -> None:
    form = {"name": "Acme"}
    first = await api.post("/v1/customers", data=form, headers={"Idempotency-Key": "k-3"})
    billing_ctx.clock.advance(RETENTION_SECONDS - 60)
    replay = await api.post("/v1/customers", data=form, headers={"Idempotency-Key": "k-3"})
    assert replay.json()["id"] == first.json()["id"]
    billing_ctx.clock.advance(60)
    fresh = await api.post("/v1/customers", data=form, headers={"Idempotency-Key": "k-3"})
    assert fresh.status_code == 200 and fresh.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in fresh.headers
    other = await api.post("/v1/customers", data={"name": "Z"}, headers={"Idempotency-Key": "k-3"})
    assert other.status_code == 400  # the key now belongs to the new request
    assert await count(api, "customers") == 2


async def test_refused_requests_save_nothing(api: httpx.AsyncClient) -> None:
    bad = await api.post("/v1/invoices", data={}, headers={"Idempotency-Key": "k-4"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parameter_missing"
    customer = (await api.post("/v1/customers", data={"name": "A"})).json()["id"]
    good = await api.post(
        "/v1/invoices", data={"customer": customer}, headers={"Idempotency-Key": "k-4"}
    )
    assert good.status_code == 200


async def test_a_key_in_flight_gets_409(
    api: httpx.AsyncClient, billing_ctx: SandboxContext
) -> None:
    service = api._transport.app.state.billing  # type: ignore[attr-defined]
    service.in_flight.enter("k-5")
    busy = await api.post("/v1/customers", data={"name": "A"}, headers={"Idempotency-Key": "k-5"})
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    service.in_flight.leave("k-5")
    assert (
        await api.post("/v1/customers", data={"name": "A"}, headers={"Idempotency-Key": "k-5"})
    ).status_code == 200


async def test_long_keys_are_refused(api: httpx.AsyncClient) -> None:
    answer = await api.post("/v1/customers", data={}, headers={"Idempotency-Key": "k" * 256})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "idempotency_error"


async def test_commit_then_fail_is_answered_by_the_retry(
    stripe_client: stripe.StripeClient, sandbox: SandboxHandle
) -> None:
    """The first call commits and the client sees a 500; the retry with its key gets the
    committed answer, so exactly one customer exists."""
    sandbox.set_faults(
        "billing", [{"route": "/v1/customers", "method": "POST", "commit_then_fail_rate": 1.0}]
    )
    options: stripe.RequestOptions = {"idempotency_key": "commit-then-fail"}
    with pytest.raises(stripe.APIError) as failed:
        await stripe_client.v1.customers.create_async({"name": "Acme"}, options)
    assert failed.value.http_status == 500
    assert failed.value.error is not None and failed.value.error.type == "api_error"
    sandbox.clear_faults()
    customer = await stripe_client.v1.customers.create_async({"name": "Acme"}, options)
    assert customer.last_response is not None
    assert customer.last_response.headers["idempotent-replayed"] == "true"
    listed = await stripe_client.v1.customers.list_async()
    assert [c.id for c in listed.data] == [customer.id]


async def test_the_sdk_raises_idempotency_error(stripe_client: stripe.StripeClient) -> None:
    options: stripe.RequestOptions = {"idempotency_key": "sdk-key"}
    await stripe_client.v1.customers.create_async({"name": "Acme"}, options)
    with pytest.raises(stripe.IdempotencyError) as raised:
        await stripe_client.v1.customers.create_async({"name": "Other"}, options)
    assert raised.value.http_status == 400
