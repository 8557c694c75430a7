"""Stripe's exceptions become q2c's typed errors: retry what may succeed, park the rest."""

# The SDK's exception constructors are untyped; the tests build them as the SDK does.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import stripe

from adapters.billing.failures import translate
from adapters.errors import (
    BusinessError,
    IdempotencyConflictError,
    NotFoundError,
    TransientError,
)


def body(kind: str, message: str = "m", **extra: str) -> dict[str, object]:
    return {"error": {"type": kind, "message": message, **extra}}


def test_connection_failures_and_timeouts_are_transient() -> None:
    error = translate(stripe.APIConnectionError("Network error: A ReadTimeout was raised"))
    assert isinstance(error, TransientError) and error.code == "connection_error"


def test_rate_limits_carry_retry_after() -> None:
    exc = stripe.RateLimitError(
        "slow down", "{}", 429, body("invalid_request_error"), {"retry-after": "7"}
    )
    error = translate(exc)
    assert isinstance(error, TransientError) and error.retry_after == 7.0


def test_server_errors_and_conflicts_are_transient() -> None:
    for status in (500, 502, 503, 409):
        exc = stripe.APIError("boom", "{}", status, body("api_error"), {"Retry-After": "2"})
        error = translate(exc)
        assert isinstance(error, TransientError), status
        assert error.retry_after == 2.0


def test_idempotency_errors_are_conflicts() -> None:
    exc = stripe.IdempotencyError(
        "Keys for idempotent requests ...", "{}", 400, body("idempotency_error"), {}
    )
    assert isinstance(translate(exc), IdempotencyConflictError)


def test_unknown_objects_are_not_found() -> None:
    exc = stripe.InvalidRequestError(
        "No such invoice: 'in_x'",
        "id",
        "resource_missing",
        "{}",
        404,
        body("invalid_request_error"),
        {},
    )
    error = translate(exc)
    assert isinstance(error, NotFoundError) and error.code == "resource_missing"


def test_refusals_are_business_errors_with_stripes_code() -> None:
    exc = stripe.InvalidRequestError(
        "Invoice is already paid.", None, None, "{}", 400, body("invalid_request_error"), {}
    )
    error = translate(exc)
    assert type(error) is BusinessError and error.code == "invalid_request"
    card = stripe.CardError(
        "Your card was declined.", "", "card_declined", "{}", 402, body("card_error"), {}
    )
    assert translate(card).code == "card_declined"
    auth = stripe.AuthenticationError("Invalid API Key provided", "{}", 401, None, {})
    assert type(translate(auth)) is BusinessError
    param = stripe.InvalidRequestError(
        "Missing required param: name.", "name", "parameter_missing", "{}", 400, None, {}
    )
    assert "param: name" in translate(param).message
