"""NetSuite's REST record service (`/services/rest/record/v1/...`) and OAuth 2.0 token endpoint.

Create answers 204 with a `Location` header, as do update (PATCH) and upsert (PUT on
`eid:VALUE`); GET takes an internal id or `eid:VALUE`, and `expandSubResources=true` inlines
sublists (otherwise they are links, as in NetSuite).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from sandbox.context import SandboxContext
from sandbox.erp import query
from sandbox.erp.errors import LOGIN_DETAIL, NetSuiteError, invalid_content, not_found
from sandbox.erp.schema import RecordType, record_type_ci
from sandbox.erp.store import ErpStore
from sandbox.forms import bearer_token, token_request
from sandbox.tokens import TokenIssuer

RECORD = "/services/rest/record/v1"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIMIT = 1000


def _load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid_content(f"Invalid content in the request body: {exc}") from None


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _jwt_issuer(assertion: str, secret: str) -> str | None:
    """The `iss` of a client assertion JWT; an HS256 one must be signed with the secret.

    NetSuite verifies a PS256 signature against the certificate mapped to the integration; the
    sandbox holds no certificate, so it checks the issuer (and HS256 signatures) only.
    """
    try:
        header_b64, payload_b64, signature_b64 = assertion.split(".")
        header = json.loads(_b64(header_b64))
        payload = json.loads(_b64(payload_b64))
        if header.get("alg") == "HS256":
            expected = hmac.new(
                secret.encode(), f"{header_b64}.{payload_b64}".encode(), "sha256"
            ).digest()
            if not hmac.compare_digest(expected, _b64(signature_b64)):
                return None
        issuer = payload.get("iss")
        return issuer if isinstance(issuer, str) else None
    except (ValueError, binascii.Error, json.JSONDecodeError, AttributeError):
        return None


class ErpApi:
    def __init__(self, ctx: SandboxContext, store: ErpStore) -> None:
        self.ctx = ctx
        self.store = store
        self.tokens = TokenIssuer(
            ctx.engine, ctx.clock, "erp", ctx.settings.sandbox_token_ttl_seconds
        )

    # --- plumbing -----------------------------------------------------------------------------

    def authorize(self, request: Request) -> None:
        if not self.tokens.valid(bearer_token(request)):
            raise NetSuiteError(401, "INVALID_LOGIN", LOGIN_DETAIL)

    def record_type(self, name: str) -> RecordType:
        found = record_type_ci(name)
        if found is None:
            raise NetSuiteError(404, "NONEXISTENT_ID", f"Record type '{name}' does not exist.")
        return found

    def base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/") + RECORD

    def strict(self, request: Request) -> bool:
        """`X-NetSuite-PropertyNameValidation: Ignore|Warning` lets unknown fields pass."""
        mode = request.headers.get("x-netsuite-propertynamevalidation", "error").lower()
        return mode not in ("ignore", "warning")

    def render(
        self, request: Request, rt: RecordType, data: dict[str, Any], expand: bool
    ) -> dict[str, Any]:
        base = self.base(request)
        self_href = f"{base}/{rt.name}/{data['id']}"
        out: dict[str, Any] = {"links": [{"rel": "self", "href": self_href}]}
        for spec in rt.fields.values():
            value = data.get(spec.name)
            if value is not None:
                out[spec.name] = self._render_value(base, spec.kind, spec.ref_type, value)
        for sublist, specs in rt.sublists.items():
            links = [{"rel": "self", "href": f"{self_href}/{sublist}"}]
            if not expand:
                out[sublist] = {"links": links}
                continue
            items = []
            for line in data.get(sublist) or []:
                item: dict[str, Any] = {
                    "links": [{"rel": "self", "href": f"{self_href}/{sublist}/{line['line']}"}],
                    "line": line["line"],
                }
                for spec in specs.values():
                    if line.get(spec.name) is not None:
                        item[spec.name] = self._render_value(
                            base, spec.kind, spec.ref_type, line[spec.name]
                        )
                items.append(item)
            out[sublist] = {
                "links": links,
                "count": len(items),
                "hasMore": False,
                "items": items,
                "offset": 0,
                "totalResults": len(items),
            }
        return out

    def _render_value(self, base: str, kind: str, ref_type: str | None, value: Any) -> Any:
        if kind == "ref" and ref_type:
            record_id = str(value["id"])
            rendered: dict[str, Any] = {
                "links": [{"rel": "self", "href": f"{base}/{ref_type}/{record_id}"}],
                "id": record_id,
            }
            name = self.store.ref_name(ref_type, record_id)
            if name is not None:
                rendered["refName"] = name
            return rendered
        if kind == "number":
            return float(Decimal(value))
        if kind == "integer":
            return int(value)
        return value

    def created(self, request: Request, rt: RecordType, record_id: int) -> Response:
        location = f"{self.base(request)}/{rt.name}/{record_id}"
        return Response(status_code=204, headers={"Location": location})

    # --- OAuth --------------------------------------------------------------------------------

    async def token(self, request: Request) -> JSONResponse:
        params = await token_request(request)
        if params is None:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        settings = self.ctx.settings
        client_id, secret = settings.erp_client_id, settings.erp_client_secret
        if params.get("client_assertion_type") == JWT_BEARER:
            issuer = _jwt_issuer(params.get("client_assertion", ""), secret)
            authorized = issuer is not None and hmac.compare_digest(issuer, client_id)
        else:
            authorized = hmac.compare_digest(
                params.get("client_id", ""), client_id
            ) and hmac.compare_digest(params.get("client_secret", ""), secret)
        if not authorized:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = self.tokens.issue(client_id)
        ttl = str(self.ctx.settings.sandbox_token_ttl_seconds)
        return JSONResponse(
            {"access_token": issued.token, "expires_in": ttl, "token_type": "bearer"}
        )

    # --- records ------------------------------------------------------------------------------

    async def list_records(self, request: Request, record_type: str) -> dict[str, Any]:
        self.authorize(request)
        rt = self.record_type(record_type)
        params = request.query_params
        try:
            limit = int(params.get("limit", MAX_LIMIT))
            offset = int(params.get("offset", 0))
        except ValueError:
            raise NetSuiteError(
                400, "INVALID_PARAMETER", "limit and offset must be integers."
            ) from None
        if not 1 <= limit <= MAX_LIMIT or offset < 0 or offset % limit:
            raise NetSuiteError(
                400,
                "INVALID_PARAMETER",
                f"limit must be 1 to {MAX_LIMIT} and offset a multiple of limit.",
                query_param="offset",
            )
        matching = query.select(rt, self.store.all(rt), params.get("q"))
        page = matching[offset : offset + limit]
        base = f"{self.base(request)}/{rt.name}"
        has_more = offset + limit < len(matching)
        last = max((len(matching) - 1) // limit * limit, 0)

        def page_url(at: int) -> str:
            wanted: dict[str, Any] = {"limit": limit, "offset": at}
            if params.get("q"):
                wanted["q"] = params["q"]
            return f"{base}?{urlencode(wanted)}"

        links = []
        if offset > 0:
            links.append({"rel": "first", "href": page_url(0)})
            links.append({"rel": "prev", "href": page_url(max(offset - limit, 0))})
        if has_more:
            links.append({"rel": "next", "href": page_url(offset + limit)})
            links.append({"rel": "last", "href": page_url(last)})
        links.append({"rel": "self", "href": page_url(offset)})
        return {
            "links": links,
            "count": len(page),
            "hasMore": has_more,
            "items": [
                {"links": [{"rel": "self", "href": f"{base}/{r['id']}"}], "id": r["id"]}
                for r in page
            ],
            "offset": offset,
            "totalResults": len(matching),
        }

    async def create(self, request: Request, record_type: str) -> Response:
        self.authorize(request)
        rt = self.record_type(record_type)
        body = _load_json(await request.body())
        return self.created(request, rt, self.store.create(rt, body, strict=self.strict(request)))

    async def read(self, request: Request, record_type: str, key: str) -> dict[str, Any]:
        self.authorize(request)
        rt = self.record_type(record_type)
        data = self.store.get(rt, key)
        if data is None:
            raise not_found()
        expand = request.query_params.get("expandSubResources", "").lower() == "true"
        rendered = self.render(request, rt, data, expand)
        fields = request.query_params.get("fields")
        if fields:
            wanted = {name.strip().lower() for name in fields.split(",")} | {"links", "id"}
            rendered = {k: v for k, v in rendered.items() if k.lower() in wanted}
        return rendered

    async def read_sublist(
        self, request: Request, record_type: str, key: str, sublist: str
    ) -> dict[str, Any]:
        self.authorize(request)
        rt = self.record_type(record_type)
        name = rt.sublist_ci(sublist)
        data = self.store.get(rt, key)
        if data is None or name is None:
            raise not_found()
        rendered: dict[str, Any] = self.render(request, rt, data, expand=True)[name]
        return rendered

    async def update(self, request: Request, record_type: str, key: str) -> Response:
        self.authorize(request)
        rt = self.record_type(record_type)
        body = _load_json(await request.body())
        record_id = self.store.update(rt, key, body, strict=self.strict(request))
        return self.created(request, rt, record_id)

    async def upsert(self, request: Request, record_type: str, key: str) -> Response:
        self.authorize(request)
        rt = self.record_type(record_type)
        if not key.startswith("eid:"):
            raise NetSuiteError(
                400,
                "INVALID_REQUEST",
                "The upsert operation (PUT) needs an external ID in the URL: .../eid:VALUE.",
            )
        body = _load_json(await request.body())
        record_id, _ = self.store.upsert(rt, key[4:], body, strict=self.strict(request))
        return self.created(request, rt, record_id)

    async def delete(self, request: Request, record_type: str, key: str) -> Response:
        self.authorize(request)
        rt = self.record_type(record_type)
        if not rt.writable:
            raise NetSuiteError(
                405, "INVALID_REQUEST", f"Records of type {rt.name} cannot be deleted here."
            )
        self.store.delete(rt, key)
        return Response(status_code=204)

    def install(self, app: FastAPI) -> None:
        router = APIRouter()

        def route(path: str, handler: Callable[..., Any], methods: list[str]) -> None:
            for variant in (path, path + "/"):
                router.add_api_route(variant, handler, methods=methods, include_in_schema=False)

        route("/services/rest/auth/oauth2/v1/token", self.token, ["POST"])
        route(RECORD + "/{record_type}", self.list_records, ["GET"])
        route(RECORD + "/{record_type}", self.create, ["POST"])
        route(RECORD + "/{record_type}/{key}", self.read, ["GET"])
        route(RECORD + "/{record_type}/{key}", self.update, ["PATCH"])
        route(RECORD + "/{record_type}/{key}", self.upsert, ["PUT"])
        route(RECORD + "/{record_type}/{key}", self.delete, ["DELETE"])
        route(RECORD + "/{record_type}/{key}/{sublist}", self.read_sublist, ["GET"])
        app.include_router(router)
