"""The webhook receiver's HTTP face (FastAPI): routes, answers and the OpenAPI schema.

Answers: 202 accepted (the signal is durably in Temporal), 200 duplicate or ignored, 401 bad or
stale signature, 400 a body that is not JSON, 422 a body that is JSON but not a valid event
(with the field errors), 404 a contract that is not running, 409 a contract that has ended,
503 with Retry-After when Temporal or the event table does not answer, so the sender retries.
The signature is checked on the raw body before anything else is read from it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from adapters.billing.failures import InvalidWebhookError
from adapters.observability import tracing
from starter.control import ContractNotFound, StartRefused, TemporalUnavailable
from starter.webhooks import signature
from starter.webhooks.models import SALESFORCE_EVENT, Answer, Problem
from starter.webhooks.receiver import Receiver

RETRY_AFTER_SECONDS = 5
STRIPE_SIGNATURE = "Stripe-Signature"


class BadRequest(Exception):
    """The body is not what the route takes (not JSON, not an object)."""


def _problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=status, headers=headers)


def _answer(result: tuple[int, Answer]) -> JSONResponse:
    status, answer = result
    return JSONResponse(answer.model_dump(mode="json", exclude_none=True), status_code=status)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None


_ERRORS: dict[int, str] = {
    400: "The body is not JSON.",
    401: "Signature missing, wrong or outside the tolerance.",
    404: "No running contract for that opportunity.",
    409: "The contract has already run to its end.",
    422: "The body is JSON but not a valid event; `detail` lists the field errors.",
    503: "Temporal (or the event table) did not answer; retry after `Retry-After` seconds.",
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": _ERRORS[code]} for code in codes}


def create_app(receiver: Receiver) -> FastAPI:
    app = FastAPI(
        title="q2c webhook receiver",
        version="1",
        description="Salesforce and billing events reach contract workflows as signals.",
    )
    settings = receiver.settings
    secrets = (settings.salesforce_webhook_secret, settings.salesforce_webhook_secret_previous)

    @app.exception_handler(signature.SignatureError)
    async def unauthorized(_: Request, exc: signature.SignatureError) -> JSONResponse:
        return _problem(401, str(exc))

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return _problem(400, str(exc))

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        errors = exc.errors(include_url=False, include_context=False)
        for error in errors:  # an unknown or missing event type: say which field
            if not error["loc"] and error["type"].startswith("union_tag"):
                error["loc"] = ("type",)
        return _problem(422, errors)

    @app.exception_handler(ContractNotFound)
    async def not_found(_: Request, exc: ContractNotFound) -> JSONResponse:
        return _problem(404, f"no running contract: {exc}")

    @app.exception_handler(StartRefused)
    async def refused(_: Request, exc: StartRefused) -> JSONResponse:
        return _problem(409, str(exc))

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        detail = str(exc) if isinstance(exc, TemporalUnavailable) else "event table unavailable"
        return _problem(503, detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    app.add_exception_handler(TemporalUnavailable, unavailable)
    app.add_exception_handler(SQLAlchemyError, unavailable)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/webhooks/salesforce",
        summary="Salesforce contract events (X-Q2C-Signature)",
        status_code=202,
        response_model=Answer,
        responses={200: {"model": Answer}, **_responses(400, 401, 404, 409, 422, 503)},
    )
    async def salesforce(request: Request) -> JSONResponse:
        """`opportunity.closed_won` starts the contract; `contract.amended` and
        `contract.cancelled` deliver the amendment's id, read back from Salesforce."""
        body = await request.body()
        signature.verify(
            request.headers.get(signature.HEADER),
            body,
            secrets,
            settings.webhook_tolerance_seconds,
        )
        event = SALESFORCE_EVENT.validate_python(_json_body(body))
        return _answer(await receiver.salesforce(event))

    @app.post(
        "/webhooks/billing",
        summary="Billing events (Stripe-Signature): invoice.paid, invoice.payment_failed",
        status_code=202,
        response_model=Answer,
        responses={200: {"model": Answer}, **_responses(400, 401, 404, 503)},
    )
    async def billing(request: Request) -> JSONResponse:
        """A paid invoice, or a failed payment, reaches its contract as a payment signal."""
        body = await request.body()
        header = request.headers.get(STRIPE_SIGNATURE)
        if not header:
            raise signature.SignatureError(f"{STRIPE_SIGNATURE} header missing")
        try:
            event = receiver.billing.parse_webhook(body, header)
        except InvalidWebhookError as exc:
            if exc.code == "signature_invalid":
                raise signature.SignatureError(exc.message) from None
            raise BadRequest(exc.message) from None
        return _answer(await receiver.billing_event(event))

    _document_event_body(app)
    tracing.instrument_app(app)  # when tracing is on: a span per request
    return app


def _document_event_body(app: FastAPI) -> None:
    """The Salesforce route reads its raw body (to check the signature first), so its body
    schema is added to the OpenAPI document by hand."""
    schema = SALESFORCE_EVENT.json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            document.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
            document["paths"]["/webhooks/salesforce"]["post"]["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
