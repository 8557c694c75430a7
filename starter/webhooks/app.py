"""The webhook receiver's HTTP face (FastAPI): routes, answers and the OpenAPI schema.

Answers: 202 accepted (the signal is durably in Temporal), 200 duplicate or ignored, 401 bad or
stale signature, 400 a body that is not JSON, 422 a body that is JSON but not a valid event
(with the field errors), 404 a contract that is not running, 409 a contract that has ended,
(a payment of a contract that has ended is 202: `LatePaymentWorkflow` posts its journal),
413 a body over Q2C_WEBHOOK_MAX_BODY_BYTES (1 MiB by default; the connection is then closed),
503 with Retry-After when Temporal or the event table does not answer, so the sender retries.
The body size is checked before the body is read whole: a Content-Length over the limit is
answered at once, and a chunked body is read only until it passes the limit. The signature is
checked on the raw body before anything else is read from it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from adapters.billing.failures import InvalidWebhookError
from adapters.billing.records import BillingEvent
from adapters.observability import tracing
from starter.control import ContractNotFound, StartRefused, TemporalUnavailable
from starter.webhooks import signature
from starter.webhooks.models import SALESFORCE_EVENT, Answer, BillingEventBody, Problem
from starter.webhooks.receiver import Receiver

RETRY_AFTER_SECONDS = 5
log = logging.getLogger("q2c.webhooks")
ACCEPTED = "Accepted: the signal (or signal-with-start) is durably in Temporal."
DUPLICATE = "Duplicate (an event id already accepted; nothing done again) or ignored."
STRIPE_SIGNATURE = "Stripe-Signature"


class BadRequest(Exception):
    """The body is not what the route takes (not JSON, not an object)."""


class BodyTooLarge(Exception):
    """The body is over the receiver's limit (the message gives sizes, never the body)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, or `BodyTooLarge` as soon as it is known to be over `limit` bytes: from
    Content-Length before any of it is read, else (a chunked body) once the bytes read pass
    the limit: at most `limit` bytes are kept, plus the chunk that went over."""
    declared = request.headers.get("content-length", "").strip()
    huge = len(declared) > 18  # beyond any limit (and beyond what int() takes at 4300)
    if declared.isascii() and declared.isdigit() and (huge or int(declared) > limit):
        shown = f"{declared[:20]}..." if len(declared) > 20 else declared
        raise BodyTooLarge(f"body of {shown} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: an answer that quotes a hostile body (a lone
    surrogate such as `"\\ud800"` is valid JSON but not UTF-8) still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def _problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    content = {"detail": jsonable_encoder(detail)}
    return AsciiJSONResponse(content, status_code=status, headers=headers)


def _answer(result: tuple[int, Answer]) -> JSONResponse:
    status, answer = result
    content = answer.model_dump(mode="json", exclude_none=True)
    return AsciiJSONResponse(content, status_code=status)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("body is not JSON q2c reads: nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise BadRequest("body is not JSON q2c reads: a number has too many digits") from None


_ERRORS: dict[int, str] = {
    400: "The body is not JSON.",
    401: "Signature missing, wrong or outside the tolerance.",
    404: "No running contract for that opportunity.",
    409: "The contract has already run to its end.",
    413: "The body is over Q2C_WEBHOOK_MAX_BODY_BYTES (1 MiB by default); the connection is "
    "closed.",
    422: "The body is JSON but not a valid event; `detail` lists the field errors.",
    503: "Temporal (or the event table) did not answer; retry after `Retry-After` seconds.",
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": _ERRORS[code]} for code in codes}


_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]+")  # no controls, no lone surrogates


def _storable(value: str, longest: int) -> bool:
    return len(value) <= longest and _PRINTABLE.fullmatch(value) is not None


def _check_billing_event(event: BillingEvent) -> None:
    """The ids the receiver keeps must fit the event table (and be text a database stores): a
    signed event that cannot be recorded is refused (400), not answered 503 forever."""
    limits = {"id": (event.id, 255), "type": (event.type, 64), "invoice id": (event.object_id, 255)}
    for what, (value, longest) in limits.items():
        if value is not None and not _storable(value, longest):
            raise BadRequest(f"event {what}: 1 to {longest} printable characters expected")


def create_app(receiver: Receiver) -> FastAPI:
    app = FastAPI(
        title="q2c webhook receiver",
        version="1",
        description="Salesforce and billing events reach contract workflows as signals.",
    )
    settings = receiver.settings
    secrets = (settings.salesforce_webhook_secret, settings.salesforce_webhook_secret_previous)

    @app.exception_handler(signature.SignatureError)
    async def unauthorized(request: Request, exc: signature.SignatureError) -> JSONResponse:
        # The reason only (missing, stale, no match), never the header or the body.
        log.warning("%s refused (401): %s", request.url.path, exc)
        return _problem(401, str(exc))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        # Sizes only: the body was not read (or not read whole), and is never logged.
        log.warning("%s refused (413): %s (Q2C_WEBHOOK_MAX_BODY_BYTES)", request.url.path, exc)
        # Closed after the answer, so a sender cannot go on streaming what will not be read.
        return _problem(413, str(exc), {"Connection": "close"})

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> JSONResponse:
        return _problem(400, str(exc))

    @app.exception_handler(ValidationError)
    async def invalid(_: Request, exc: ValidationError) -> JSONResponse:
        # Without the input: the answer does not echo (possibly huge) bodies back.
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
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

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        detail = str(exc) if isinstance(exc, TemporalUnavailable) else "event table unavailable"
        log.warning("%s answered 503, the sender retries: %s", request.url.path, detail)
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
        response_description=ACCEPTED,
        responses={
            200: {"model": Answer, "description": DUPLICATE},
            **_responses(400, 401, 404, 409, 413, 422, 503),
        },
    )
    async def salesforce(request: Request) -> JSONResponse:
        """`opportunity.closed_won` starts the contract; `contract.amended` and
        `contract.cancelled` deliver the amendment's id, read back from Salesforce."""
        body = await read_body(request, settings.webhook_max_body_bytes)
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
        response_description=ACCEPTED,
        responses={
            200: {"model": Answer, "description": DUPLICATE},
            **_responses(400, 401, 404, 413, 503),
        },
    )
    async def billing(request: Request) -> JSONResponse:
        """A paid invoice, or a failed payment, reaches its contract as a payment signal."""
        body = await read_body(request, settings.webhook_max_body_bytes)
        header = request.headers.get(STRIPE_SIGNATURE)
        if not header:
            raise signature.SignatureError(f"{STRIPE_SIGNATURE} header missing")
        if not header.isascii():  # Stripe's comparison refuses it, as a body error
            raise signature.SignatureError(f"{STRIPE_SIGNATURE}: not a Stripe signature")
        try:
            event = receiver.billing.parse_webhook(body, header)
        except InvalidWebhookError as exc:
            if exc.code == "signature_invalid":
                raise signature.SignatureError(exc.message) from None
            raise BadRequest(exc.message) from None
        _check_billing_event(event)
        return _answer(await receiver.billing_event(event))

    _document_event_body(app)
    tracing.instrument_app(app)  # when tracing is on: a span per request
    return app


def _signature_header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,  # answered 401 when missing
        "description": description,
        "schema": {"type": "string"},
    }


def _document_event_body(app: FastAPI) -> None:
    """Both routes read their raw body (to check the signature first), so their body schemas
    and signature headers are added to the OpenAPI document by hand."""
    template = "#/components/schemas/{model}"
    schema = SALESFORCE_EVENT.json_schema(ref_template=template)
    definitions = schema.pop("$defs", {})
    billing_schema = BillingEventBody.model_json_schema(ref_template=template)
    definitions.update(billing_schema.pop("$defs", {}))
    definitions["BillingEventBody"] = billing_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            document.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
            salesforce = document["paths"]["/webhooks/salesforce"]["post"]
            salesforce["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
            salesforce["parameters"] = [
                _signature_header(
                    signature.HEADER,
                    "`t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>` with "
                    "Q2C_SALESFORCE_WEBHOOK_SECRET (or the previous secret while rotating); "
                    "refused outside Q2C_WEBHOOK_TOLERANCE_SECONDS.",
                )
            ]
            billing = document["paths"]["/webhooks/billing"]["post"]
            billing["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": template.format(model="BillingEventBody")}
                    }
                },
            }
            billing["parameters"] = [
                _signature_header(
                    STRIPE_SIGNATURE,
                    "Stripe's `t=<unix time>,v1=<signature>` with Q2C_BILLING_WEBHOOK_SECRET.",
                )
            ]
            billing["responses"]["400"]["description"] = (
                "The body is not a billing event, or an id in it is not one q2c can keep."
            )
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
