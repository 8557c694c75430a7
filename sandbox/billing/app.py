"""The billing sandbox app: Stripe's invoicing API over real HTTP, for the unmodified SDK."""

from __future__ import annotations

from fastapi import FastAPI

from sandbox.billing.admin import install_billing_admin
from sandbox.billing.errors import error_body, install_error_handlers
from sandbox.billing.ids import new_id
from sandbox.billing.routes import (
    credit_notes,
    customers,
    events,
    invoiceitems,
    invoices,
    payments,
    prices,
    products,
)
from sandbox.billing.service import BillingService
from sandbox.context import SandboxContext
from sandbox.db import create_all
from sandbox.faults import ASGIApp, Message, Receive, Scope, Send, install_faults

ROUTERS = (customers, products, prices, invoiceitems, invoices, credit_notes, payments, events)


class RequestIdMiddleware:
    """Give each request a `req_…` id, answered in `Request-Id` and recorded on its events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id("request", 14)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(ctx: SandboxContext) -> FastAPI:
    """The app on the billing port; its tables are created in the shared sandbox database."""
    create_all(ctx.engine)
    service = BillingService(ctx)
    app = FastAPI(
        title="q2c sandbox: billing (Stripe API shape)",
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.billing = service
    for module in ROUTERS:
        app.include_router(module.router)
    install_error_handlers(app)
    install_faults(app, "billing", ctx.injector, error_body)
    install_billing_admin(app, service)
    app.add_middleware(RequestIdMiddleware)
    return app
