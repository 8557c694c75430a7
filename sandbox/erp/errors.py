"""NetSuite's error answers: `{"type", "title", "status", "o:errorDetails": [...]}`.

Each detail is `{"detail", "o:errorCode"}`, with `o:errorPath` when a body field is at fault.

Every client mistake (bad JSON, unknown record type or field, wrong type, unbalanced journal,
edit of a posted entry) is a 4xx in this shape; only a sandbox bug answers 500.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

_RFC2616 = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
_TYPES = {
    400: f"{_RFC2616}#sec10.4.1",
    401: _RFC2616,
    403: f"{_RFC2616}#sec10.4.4",
    404: f"{_RFC2616}#sec10.4.5",
    405: f"{_RFC2616}#sec10.4.6",
    415: f"{_RFC2616}#sec10.4.16",
    429: "https://tools.ietf.org/html/rfc6585#section-4",
    500: f"{_RFC2616}#sec10.5.1",
    503: f"{_RFC2616}#sec10.5.4",
}
NOT_FOUND_DETAIL = "The record instance does not exist. Provide a valid record instance ID."
LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)


class NetSuiteError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        query_param: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
        self.query_param = query_param

    def body(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"detail": self.detail, "o:errorCode": self.code}
        if self.path:
            entry["o:errorPath"] = self.path
        if self.query_param:
            entry["o:errorQueryParam"] = self.query_param
        return error_body(self.status, [entry])


def error_body(status: int, details: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {
        "type": _TYPES.get(status, f"{_RFC2616}#sec10"),
        "title": title,
        "status": status,
        "o:errorDetails": details,
    }


def not_found(detail: str = NOT_FOUND_DETAIL) -> NetSuiteError:
    return NetSuiteError(404, "NONEXISTENT_ID", detail)


def invalid_content(detail: str, path: str | None = None) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_CONTENT", detail, path=path)


def user_error(detail: str, path: str | None = None) -> NetSuiteError:
    return NetSuiteError(400, "USER_ERROR", detail, path=path)


def error_response(error: NetSuiteError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        error.body(),
        status_code=error.status,
        headers=headers,
        media_type="application/vnd.oracle.resource+json; type=error",
    )


def injected_error_body(status: int, message: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The body the fault layer sends for an injected 5xx or 429, in NetSuite's shape."""
    code = {429: "CONCURRENCY_LIMIT_EXCEEDED", 503: "SERVICE_UNAVAILABLE"}.get(
        status, "UNEXPECTED_ERROR"
    )
    return error_body(status, [{"detail": message, "o:errorCode": code}]), {}


def install_error_handlers(app: FastAPI) -> None:
    async def on_netsuite(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NetSuiteError)
        return error_response(exc)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            error = NetSuiteError(
                405,
                "INVALID_REQUEST",
                f"The HTTP method {request.method} is not allowed for this resource.",
            )
        elif exc.status_code == 404:
            error = NetSuiteError(
                404, "INVALID_URL", f"The URL {request.url.path} does not point to a resource."
            )
        else:
            error = NetSuiteError(exc.status_code, "INVALID_REQUEST", str(exc.detail))
        return error_response(error)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        return error_response(NetSuiteError(400, "INVALID_PARAMETER", str(first["msg"])))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        detail = f"An unexpected error occurred in the sandbox: {type(exc).__name__}: {exc}"
        return error_response(NetSuiteError(500, "UNEXPECTED_ERROR", detail))

    app.add_exception_handler(NetSuiteError, on_netsuite)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)
