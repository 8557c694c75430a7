"""Salesforce's REST API (`/services/data/vXX.X/...`) and OAuth token endpoint over the store.

Paths are registered with and without a trailing slash, because clients build both
(simple-salesforce posts to `.../sobjects/Account/`); a redirect would lose a POST body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from sandbox.context import SandboxContext
from sandbox.forms import bearer_token, token_request
from sandbox.salesforce import soql
from sandbox.salesforce.errors import (
    SalesforceError,
    invalid_session,
    json_parser_error,
    not_found,
)
from sandbox.salesforce.schema import SCHEMA, Field, SObject, sobject_ci
from sandbox.salesforce.store import USER_ID, SalesforceStore, render_record
from sandbox.salesforce.values import make_id
from sandbox.tokens import TokenIssuer

VERSION = re.compile(r"^v\d{2,3}\.0$")
ORG_ID = make_id("00D", 1)
DEFAULT_BATCH = 2000
DAY_SECONDS = 86400.0


class ApiLimits:
    """The org's daily API request allowance (rolling 24 hours of sandbox time)."""

    def __init__(self) -> None:
        self.max_requests: int | None = None
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.max_requests = None
            self._calls.clear()

    def _trim(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - DAY_SECONDS:
            self._calls.popleft()

    def count(self, now: float) -> None:
        """Count one API call, or refuse it with REQUEST_LIMIT_EXCEEDED when over the limit."""
        with self._lock:
            self._trim(now)
            if self.max_requests is not None and len(self._calls) >= self.max_requests:
                raise SalesforceError(
                    403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
                )
            self._calls.append(now)

    def usage(self, now: float) -> tuple[int, int]:
        with self._lock:
            self._trim(now)
            maximum = self.max_requests if self.max_requests is not None else 15000
            return len(self._calls), maximum


class Cursors:
    """Query locators for `nextRecordsUrl` (kept in memory; a reset forgets them)."""

    def __init__(self) -> None:
        self._results: dict[str, list[dict[str, Any]]] = {}
        self._next = 0
        self._lock = threading.Lock()

    def open(self, records: list[dict[str, Any]]) -> str:
        with self._lock:
            self._next += 1
            locator = make_id("01g", self._next)
            self._results[locator] = records
            return locator

    def get(self, locator: str) -> list[dict[str, Any]] | None:
        with self._lock:
            return self._results.get(locator)

    def clear(self) -> None:
        with self._lock:
            self._results.clear()


def _load_json(raw: bytes) -> Any:
    """Parse a request body, keeping decimals exact; Salesforce's JSON_PARSER_ERROR if bad."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise json_parser_error(
            f"Unexpected character in the request body: {getattr(exc, 'msg', exc)} "
            f"at [line:{line}, column:{column}]"
        ) from None


def _describe_field(f: Field) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": f.display,
        "type": f.type,
        "length": f.length if f.type in ("string", "textarea", "picklist", "id") else 0,
        "nillable": not f.required and f.name != "Id",
        "createable": f.createable,
        "updateable": f.updateable,
        "calculated": not f.createable and not f.updateable,
        "externalId": f.external_id,
        "unique": f.external_id,
        "idLookup": f.external_id or f.name == "Id",
        "custom": f.name.endswith("__c"),
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": f.relationship_name,
        "cascadeDelete": f.cascade_delete,
        "restrictedPicklist": f.restricted,
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": v == f.default}
            for v in f.picklist
        ],
        "defaultValue": f.default if f.default is not None else None,
    }


def _sobject_urls(version: str, sobject: SObject) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{sobject.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _sobject_summary(version: str, sobject: SObject) -> dict[str, Any]:
    return {
        "name": sobject.name,
        "label": sobject.label,
        "keyPrefix": sobject.key_prefix,
        "custom": sobject.name.endswith("__c"),
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "urls": _sobject_urls(version, sobject),
    }


class SalesforceApi:
    """The handlers, sharing the store, tokens, limits and query cursors of one app."""

    def __init__(self, ctx: SandboxContext, store: SalesforceStore) -> None:
        self.ctx = ctx
        self.store = store
        self.tokens = TokenIssuer(
            ctx.engine, ctx.clock, "salesforce", ctx.settings.sandbox_token_ttl_seconds
        )
        self.limits = ApiLimits()
        self.cursors = Cursors()

    # --- plumbing -----------------------------------------------------------------------------

    def authorize(self, request: Request, version: str) -> None:
        """Version, session and API limit checks every REST call goes through."""
        if not VERSION.match(version):
            raise not_found()
        if not self.tokens.valid(bearer_token(request)):
            raise invalid_session()
        self.limits.count(self.ctx.clock.now().timestamp())

    def sobject(self, name: str) -> SObject:
        found = sobject_ci(name)
        if found is None:
            raise not_found()
        return found

    # --- OAuth --------------------------------------------------------------------------------

    async def token(self, request: Request) -> JSONResponse:
        params = await token_request(request)
        if params is None or "grant_type" not in params:
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status_code=400,
            )
        if params["grant_type"] != "client_credentials":
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status_code=400,
            )
        settings = self.ctx.settings
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if not (
            hmac.compare_digest(client_id, settings.salesforce_client_id)
            and hmac.compare_digest(secret, settings.salesforce_client_secret)
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "invalid client credentials"},
                status_code=400,
            )
        issued = self.tokens.issue(client_id, prefix=ORG_ID[:15] + "!")
        base = str(request.base_url).rstrip("/")
        identity = f"{base}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(issued.issued_at * 1000))
        signature = base64.b64encode(
            hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        return JSONResponse(
            {
                "access_token": issued.token,
                "signature": signature,
                "scope": "api",
                "instance_url": base,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
            }
        )

    # --- discovery ----------------------------------------------------------------------------

    async def versions(self) -> list[dict[str, str]]:
        return [{"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}]

    async def resources(self, request: Request, version: str) -> dict[str, str]:
        self.authorize(request, version)
        base = f"/services/data/{version}"
        return {name: f"{base}/{name}" for name in ("sobjects", "query", "queryAll", "limits")}

    async def limits_resource(self, request: Request, version: str) -> dict[str, Any]:
        self.authorize(request, version)
        used, maximum = self.limits.usage(self.ctx.clock.now().timestamp())
        return {"DailyApiRequests": {"Max": maximum, "Remaining": max(maximum - used, 0)}}

    async def describe_global(self, request: Request, version: str) -> dict[str, Any]:
        self.authorize(request, version)
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [_sobject_summary(version, o) for o in SCHEMA.values()],
        }

    async def sobject_info(self, request: Request, version: str, name: str) -> dict[str, Any]:
        self.authorize(request, version)
        return {"objectDescribe": _sobject_summary(version, self.sobject(name)), "recentItems": []}

    async def describe(self, request: Request, version: str, name: str) -> dict[str, Any]:
        self.authorize(request, version)
        sobject = self.sobject(name)
        return {
            **_sobject_summary(version, sobject),
            "fields": [_describe_field(f) for f in sobject.fields.values()],
            "childRelationships": [
                {
                    "childSObject": c.child,
                    "field": c.field,
                    "relationshipName": c.name,
                    "cascadeDelete": SCHEMA[c.child].fields[c.field].cascade_delete,
                }
                for c in sobject.children.values()
            ],
        }

    # --- query --------------------------------------------------------------------------------

    def _batch_size(self, request: Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        match = re.search(r"batchSize\s*=\s*(\d+)", options, re.IGNORECASE)
        if not match:
            return DEFAULT_BATCH
        return min(max(int(match.group(1)), 200), DEFAULT_BATCH)

    def _page(
        self,
        version: str,
        locator: str | None,
        records: list[dict[str, Any]],
        start: int,
        size: int,
    ) -> dict[str, Any]:
        page = records[start : start + size]
        done = start + size >= len(records)
        answer: dict[str, Any] = {"totalSize": len(records), "done": done, "records": page}
        if not done:
            if locator is None:
                locator = self.cursors.open(records)
            answer["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{start + size}"
        return answer

    async def query(self, request: Request, version: str) -> dict[str, Any]:
        self.authorize(request, version)
        source = request.query_params.get("q")
        if source is None:
            raise SalesforceError(
                400, "MALFORMED_QUERY", "A query string has to be specified (q parameter)"
            )
        query = soql.bind(soql.parse(source))
        evaluator = soql.Evaluator(self.store.snapshot(), self.ctx.clock.now(), version)
        rows = evaluator.top_level(query)
        if query.count:
            return {"totalSize": len(rows), "done": True, "records": []}
        records = [evaluator.render(query, row) for row in rows]
        return self._page(version, None, records, 0, self._batch_size(request))

    async def query_more(self, request: Request, version: str, locator: str) -> dict[str, Any]:
        self.authorize(request, version)
        cursor, _, position = locator.rpartition("-")
        records = self.cursors.get(cursor) if position.isdigit() else None
        if records is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, cursor, records, int(position), self._batch_size(request))

    # --- records ------------------------------------------------------------------------------

    async def create(self, request: Request, version: str, name: str) -> JSONResponse:
        self.authorize(request, version)
        sobject = self.sobject(name)
        record_id = self.store.create(sobject, _load_json(await request.body()))
        return JSONResponse({"id": record_id, "success": True, "errors": []}, status_code=201)

    def _fields_param(self, request: Request, sobject: SObject) -> list[Field] | None:
        raw = request.query_params.get("fields")
        if not raw:
            return None
        chosen = []
        for name in raw.split(","):
            f = sobject.field_ci(name.strip())
            if f is None:
                raise soql._no_column(name.strip(), sobject)
            chosen.append(f)
        if sobject.fields["Id"] not in chosen:
            chosen.append(sobject.fields["Id"])
        return chosen

    async def read(self, request: Request, version: str, name: str, record_id: str) -> Any:
        self.authorize(request, version)
        sobject = self.sobject(name)
        data = self.store.get(sobject, record_id)
        if data is None:
            raise not_found()
        return render_record(sobject, data, version, self._fields_param(request, sobject))

    async def update(self, request: Request, version: str, name: str, record_id: str) -> Response:
        self.authorize(request, version)
        self.store.update(self.sobject(name), record_id, _load_json(await request.body()))
        return Response(status_code=204)

    async def delete(self, request: Request, version: str, name: str, record_id: str) -> Response:
        self.authorize(request, version)
        self.store.delete(self.sobject(name), record_id)
        return Response(status_code=204)

    def _external_field(self, sobject: SObject, field_name: str) -> Field:
        f = sobject.field_ci(field_name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        return f

    async def read_external(
        self, request: Request, version: str, name: str, field_name: str, value: str
    ) -> Any:
        self.authorize(request, version)
        sobject = self.sobject(name)
        record_id = self.store.find_external(
            sobject, self._external_field(sobject, field_name), value
        )
        data = self.store.get(sobject, record_id) if record_id else None
        if data is None:
            raise not_found()
        return render_record(sobject, data, version, self._fields_param(request, sobject))

    async def upsert(
        self, request: Request, version: str, name: str, field_name: str, value: str
    ) -> JSONResponse:
        self.authorize(request, version)
        sobject = self.sobject(name)
        f = self._external_field(sobject, field_name)
        update_only = request.query_params.get("updateOnly", "").lower() == "true"
        body = _load_json(await request.body())
        record_id, created = self.store.upsert(sobject, f, value, body, update_only=update_only)
        return JSONResponse(
            {"id": record_id, "success": True, "errors": [], "created": created},
            status_code=201 if created else 200,
        )

    async def delete_external(
        self, request: Request, version: str, name: str, field_name: str, value: str
    ) -> Response:
        self.authorize(request, version)
        sobject = self.sobject(name)
        record_id = self.store.find_external(
            sobject, self._external_field(sobject, field_name), value
        )
        if record_id is None:
            raise not_found()
        self.store.delete(sobject, record_id)
        return Response(status_code=204)

    # --- registration -------------------------------------------------------------------------

    def install(self, app: FastAPI) -> None:
        router = APIRouter()

        def route(path: str, handler: Callable[..., Any], methods: list[str]) -> None:
            for variant in (path, path + "/"):
                router.add_api_route(variant, handler, methods=methods, include_in_schema=False)

        data = "/services/data/{version}"
        sobjects = data + "/sobjects/{name}"
        route("/services/oauth2/token", self.token, ["POST"])
        route("/services/data", self.versions, ["GET"])
        route(data, self.resources, ["GET"])
        route(data + "/limits", self.limits_resource, ["GET"])
        route(data + "/query", self.query, ["GET"])
        route(data + "/queryAll", self.query, ["GET"])
        route(data + "/query/{locator}", self.query_more, ["GET"])
        route(data + "/queryAll/{locator}", self.query_more, ["GET"])
        route(data + "/sobjects", self.describe_global, ["GET"])
        route(sobjects, self.sobject_info, ["GET"])
        route(sobjects, self.create, ["POST"])
        route(sobjects + "/describe", self.describe, ["GET"])
        route(sobjects + "/{record_id}", self.read, ["GET"])
        route(sobjects + "/{record_id}", self.update, ["PATCH"])
        route(sobjects + "/{record_id}", self.delete, ["DELETE"])
        route(sobjects + "/{field_name}/{value}", self.read_external, ["GET"])
        route(sobjects + "/{field_name}/{value}", self.upsert, ["PATCH"])
        route(sobjects + "/{field_name}/{value}", self.delete_external, ["DELETE"])
        app.include_router(router)

        async def usage_header(request: Request, call_next: Callable[..., Any]) -> Response:
            response: Response = await call_next(request)
            if request.url.path.startswith("/services/data/"):
                used, maximum = self.limits.usage(self.ctx.clock.now().timestamp())
                response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{maximum}"
            return response

        app.middleware("http")(usage_header)
