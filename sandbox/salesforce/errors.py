"""Salesforce's error answers: `[{"message", "errorCode", "fields"}]` with the vendor's status.

Handlers turn every client mistake (bad JSON, unknown route, wrong method) into this shape with
a 4xx; only a sandbox bug answers 500, and then still in Salesforce's shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

NOT_FOUND_MESSAGE = "The requested resource does not exist"


class SalesforceError(Exception):
    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]


def not_found(message: str = NOT_FOUND_MESSAGE) -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", message)


def invalid_session() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def json_parser_error(message: str) -> SalesforceError:
    return SalesforceError(400, "JSON_PARSER_ERROR", message)


def malformed_query(message: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_QUERY", message)


def error_response(error: SalesforceError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def injected_error_body(status: int, message: str) -> tuple[list[Any], dict[str, str]]:
    """The body the fault layer sends for an injected 5xx or 429, in Salesforce's shape."""
    code = {429: "REQUEST_LIMIT_EXCEEDED", 503: "SERVER_UNAVAILABLE"}.get(
        status, "UNKNOWN_EXCEPTION"
    )
    return SalesforceError(status, code, message).body(), {}


def install_error_handlers(app: FastAPI) -> None:
    async def on_salesforce(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SalesforceError)
        return error_response(exc)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            error = SalesforceError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are "
                + (exc.headers or {}).get("Allow", "GET"),
            )
        elif exc.status_code == 404:
            error = not_found()
        else:
            error = SalesforceError(exc.status_code, "INVALID_REQUEST", str(exc.detail))
        return error_response(error)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(
            SalesforceError(400, "INVALID_FIELD", f"{where}: {first['msg']}".strip(": "))
        )

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        message = f"An unexpected error occurred in the sandbox: {type(exc).__name__}: {exc}"
        return error_response(SalesforceError(500, "UNKNOWN_EXCEPTION", message))

    app.add_exception_handler(SalesforceError, on_salesforce)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
