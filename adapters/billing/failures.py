"""Stripe's exceptions as q2c's typed errors, which decide retry (Temporal) versus park.

Connection failures and timeouts, 5xx, 409 (a concurrent request with the same idempotency key)
and 429 are transient, with the server's `Retry-After` when it sent one. An idempotency error is
`IdempotencyConflictError`; an unknown object `NotFoundError`; every other refusal (invalid
request, declined card, bad key or permission) is a `BusinessError` carrying Stripe's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from adapters.errors import (
    AdapterError,
    BusinessError,
    IdempotencyConflictError,
    NotFoundError,
    TransientError,
)
from adapters.http import parse_retry_after

SYSTEM = "billing"


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return str(value) if value is not None else None


def _message(exc: stripe.StripeError) -> str:
    text = exc.user_message or str(exc) or type(exc).__name__
    param = getattr(exc, "param", None)
    return f"{text} (param: {param})" if param else text


def translate(exc: stripe.StripeError) -> AdapterError:
    """The typed error for a Stripe exception."""
    status = exc.http_status
    code = exc.code
    message = _message(exc)
    retry_after = parse_retry_after(_header(exc.headers, "retry-after"))
    if isinstance(exc, stripe.APIConnectionError):
        return TransientError(SYSTEM, message, code="connection_error")
    if isinstance(exc, stripe.RateLimitError):
        return TransientError(SYSTEM, message, code=code or "rate_limit", retry_after=retry_after)
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyConflictError(SYSTEM, message, code="idempotency_error")
    if isinstance(exc, stripe.InvalidRequestError):
        if status == 404 or code == "resource_missing":
            return NotFoundError(SYSTEM, message, code=code or "resource_missing")
        return BusinessError(SYSTEM, message, code=code or "invalid_request")
    if isinstance(exc, stripe.CardError):
        return BusinessError(SYSTEM, message, code=code or "card_error")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return BusinessError(SYSTEM, message, code=code or "authentication_failed")
    if status is None or status >= 500 or status in (409, 429):
        return TransientError(
            SYSTEM, message, code=code or f"http_{status or 'error'}", retry_after=retry_after
        )
    return BusinessError(SYSTEM, message, code=code or f"http_{status}")


class InvalidWebhookError(BusinessError):
    """A webhook refused: its `Stripe-Signature` is missing, wrong or outside the tolerance
    window (`signature_invalid`), or its signed body is not an event (`payload_invalid`)."""
