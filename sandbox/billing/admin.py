"""The billing app's admin routes: webhook endpoints and deliveries, reset, seed and state.

`POST /_sandbox/webhook_endpoints` `{"url", "secret"?, "enabled_events"?}` registers a receiver
(the secret defaults to `Q2C_BILLING_WEBHOOK_SECRET`, the events to `["*"]`); deliveries are
listed at `GET /_sandbox/webhook_deliveries` and failed ones sent again with
`POST /_sandbox/webhook_deliveries/retry`. Seeding runs the same code as the API:
`{"customers": [{...params}], "products": [...], "prices": [...], "webhook_endpoints": [...]}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError
from sqlmodel import Session, col, select

from sandbox.admin import SeedError, install_admin
from sandbox.billing.errors import StripeError
from sandbox.billing.ids import new_id
from sandbox.billing.models import (
    ALL_TABLES,
    BillingIdempotencyKey,
    BillingWebhookDelivery,
    BillingWebhookEndpoint,
    JsonObject,
)
from sandbox.billing.routes import customers, prices, products
from sandbox.billing.service import API_VERSION, ApiCall, BillingService, Result, Tx
from sandbox.billing.store import Store
from sandbox.db import clear_tables
from sandbox.faults import ADMIN_PREFIX

DUMPED = (
    "customer",
    "product",
    "price",
    "invoiceitem",
    "invoice",
    "credit_note",
    "payment_intent",
    "invoice_payment",
)
SEEDERS: dict[str, tuple[str, Callable[[Tx], Result]]] = {
    "customers": ("/v1/customers", customers.create),
    "products": ("/v1/products", products.create),
    "prices": ("/v1/prices", prices.create),
}


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    secret: str | None = Field(None, min_length=1)
    enabled_events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)


def _endpoint_json(endpoint: BillingWebhookEndpoint) -> JsonObject:
    return {
        "id": endpoint.id,
        "object": "webhook_endpoint",
        "url": endpoint.url,
        "secret": endpoint.secret,
        "enabled_events": endpoint.enabled_events,
        "created": endpoint.created,
        "status": "enabled",
    }


def add_endpoint(service: BillingService, data: EndpointIn) -> JsonObject:
    endpoint = BillingWebhookEndpoint(
        id=new_id("webhook_endpoint"),
        url=str(data.url),
        secret=data.secret or service.ctx.settings.billing_webhook_secret,
        enabled_events=data.enabled_events,
        created=service.now(),
    )
    with service.lock, Session(service.ctx.engine) as session:
        session.add(endpoint)
        session.commit()
        session.refresh(endpoint)
        service.dispatcher.invalidate()
        return _endpoint_json(endpoint)


def _seed(service: BillingService, data: Any) -> dict[str, Any]:
    if data is None:
        return {"seeded": {}}  # q2c creates its own customers, products and prices
    if not isinstance(data, dict):
        raise SeedError("the billing seed is an object of lists keyed by resource")
    unknown = set(data) - {*SEEDERS, "webhook_endpoints"}
    if unknown:
        raise SeedError(f"unknown resources: {', '.join(sorted(unknown))}")
    seeded: dict[str, list[str]] = {}
    for index, item in enumerate(data.get("webhook_endpoints", [])):
        try:
            endpoint = add_endpoint(service, EndpointIn.model_validate(item))
        except ValueError as exc:
            raise SeedError(f"webhook_endpoints[{index}]: {exc}") from None
        seeded.setdefault("webhook_endpoints", []).append(endpoint["id"])
    for resource, (path, handler) in SEEDERS.items():
        for index, params in enumerate(data.get(resource, [])):
            call = ApiCall("POST", path, params, new_id("request", 14), None, API_VERSION)
            try:
                response = service.mutate(call, handler)
            except StripeError as exc:
                raise SeedError(f"{resource}[{index}]: {exc.message}") from None
            seeded.setdefault(resource, []).append(json.loads(bytes(response.body))["id"])
    return {"seeded": seeded}


def _dump(service: BillingService) -> dict[str, Any]:
    with service.lock, Session(service.ctx.engine) as session:
        store = Store(session)
        state: dict[str, Any] = {kind: store.all(kind) for kind in DUMPED}
        state["events"] = store.count("event")
        state["idempotency_keys"] = len(session.exec(select(BillingIdempotencyKey.key)).all())
        endpoints = session.exec(select(BillingWebhookEndpoint)).all()
        state["webhook_endpoints"] = [_endpoint_json(e) for e in endpoints]
    return state


def _reset(service: BillingService) -> None:
    with service.lock:
        clear_tables(service.ctx.engine, *ALL_TABLES)
        service.in_flight.clear()
        service.dispatcher.invalidate()


def install_billing_admin(app: FastAPI, service: BillingService) -> None:
    install_admin(
        app,
        service.ctx,
        reset=lambda: _reset(service),
        seed=lambda data: _seed(service, data),
        dump=lambda: _dump(service),
    )

    async def create_endpoint(request: Request) -> JSONResponse:
        try:
            data = EndpointIn.model_validate_json((await request.body()) or b"{}")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return JSONResponse({"error": f"{where}: {first['msg']}"}, status_code=400)
        return JSONResponse(add_endpoint(service, data))

    def list_endpoints() -> JsonObject:
        return {"data": [_endpoint_json(e) for e in service.dispatcher.endpoints()]}

    def delete_endpoint(endpoint_id: str) -> JsonObject:
        with service.lock, Session(service.ctx.engine) as session:
            endpoint = session.get(BillingWebhookEndpoint, endpoint_id)
            if endpoint is not None:
                session.delete(endpoint)
                session.commit()
                service.dispatcher.invalidate()
        return {"id": endpoint_id, "deleted": endpoint is not None}

    def list_deliveries() -> JsonObject:
        with service.lock, Session(service.ctx.engine) as session:
            statement = select(BillingWebhookDelivery).order_by(col(BillingWebhookDelivery.seq))
            rows = session.exec(statement).all()
            return {"data": [row.model_dump() for row in rows]}

    def retry_deliveries() -> JsonObject:
        with service.lock, Session(service.ctx.engine) as session:
            events = {e["id"]: e for e in Store(session).all("event")}
        outcomes = service.dispatcher.retry_failed(events, service.now())
        return {"data": [asdict(o) for o in outcomes]}

    prefix = f"{ADMIN_PREFIX}/webhook_endpoints"
    tags: list[str | Any] = ["sandbox"]
    app.add_api_route(prefix, create_endpoint, methods=["POST"], tags=tags)
    app.add_api_route(prefix, list_endpoints, methods=["GET"], tags=tags)
    app.add_api_route(f"{prefix}/{{endpoint_id}}", delete_endpoint, methods=["DELETE"], tags=tags)
    deliveries = f"{ADMIN_PREFIX}/webhook_deliveries"
    app.add_api_route(deliveries, list_deliveries, methods=["GET"], tags=tags)
    app.add_api_route(f"{deliveries}/retry", retry_deliveries, methods=["POST"], tags=tags)
