"""Stripe's error body, raised from anywhere in the app and rendered in one place.

Every failure a client can see is `{"error": {"type", "code", "message", "param", ...}}` with
the status Stripe uses (400, 401, 402, 404, 409, 429, 5xx), never FastAPI's own shapes, so the
official SDK raises the same exception classes against the sandbox as against Stripe.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

DOCS = "https://docs.stripe.com/error-codes"


class StripeError(Exception):
    """An answer in Stripe's error shape; raising it rolls back the request's transaction."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """Stripe leaves out the fields that do not apply (no `code`, no `param`)."""
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/#{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A 400 `invalid_request_error`."""
    return StripeError(400, message, param=param, code=code)


def missing_param(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def no_such(kind: str, object_id: str, *, param: str | None = None) -> StripeError:
    """Unknown id: 404 when it is the path's object, 400 when a parameter names it."""
    status = 404 if param is None else 400
    return StripeError(
        status,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param if param is not None else "id",
    )


def error_body(status: int, message: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The body the fault injector sends for an injected 5xx or 429, as Stripe would."""
    if status == 429:
        error = StripeError(429, f"{message}: too many requests hit the API too quickly.")
        error.code = "rate_limit"
        return error.body(), {}
    return StripeError(status, message, type="api_error").body(), {"Stripe-Should-Retry": "true"}


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure, including unknown URLs and crashes, to Stripe's error shape."""

    async def on_stripe_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StripeError)
        return exc.response()

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405):
            message = (
                f"Unrecognized request URL ({request.method}: {request.url.path}). "
                "Please see https://docs.stripe.com/api or we can help at "
                "https://support.stripe.com/."
            )
            return StripeError(404, message).response()
        return StripeError(exc.status_code, str(exc.detail)).response()

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        return invalid(f"Invalid request: {exc}").response()

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        message = "An unknown error occurred in the billing sandbox."
        return StripeError(500, message, type="api_error").response()

    app.add_exception_handler(StripeError, on_stripe_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_crash)
