"""How every API request runs: authentication, parameters, one transaction, idempotency, events.

Mutations hold the app's lock and run in one database transaction together with their events
and their idempotency record, so a request either happened completely (and a retry with its key
gets the same answer) or not at all. The lock also serializes every read and write of the
sandbox's tables, which keeps an in-memory SQLite connection safe across worker threads.
Webhooks go out after the commit, outside the lock.
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from sandbox.billing import idempotency, shapes
from sandbox.billing.errors import StripeError, invalid
from sandbox.billing.forms import FormError, decode_form
from sandbox.billing.ids import new_id
from sandbox.billing.models import BillingWebhookEndpoint, JsonObject
from sandbox.billing.params import Params
from sandbox.billing.store import Store
from sandbox.billing.webhooks import Dispatcher, wants
from sandbox.context import SandboxContext

API_VERSION = "2026-10-28.endive"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class ApiCall:
    """One authenticated API request, its parameters decoded."""

    method: str
    path: str
    params: JsonObject
    request_id: str
    idempotency_key: str | None
    api_version: str

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Result:
    body: JsonObject
    status: int = 200


@dataclass
class Tx:
    """What a mutation handler works with: the store, its parameters, the time, its events."""

    store: Store
    params: Params
    now: int
    call: ApiCall
    endpoints: list[BillingWebhookEndpoint]
    events: list[JsonObject] = field(default_factory=list)

    def emit(self, event_type: str, obj: JsonObject, previous: JsonObject | None = None) -> None:
        """Record an event carrying a snapshot of `obj` as it is now (written with the
        transaction, so a request that fails leaves no event behind)."""
        self.events.append(
            shapes.event(
                new_id("event"),
                self.now,
                event_type=event_type,
                obj=copy.deepcopy(shapes.embed_lines(obj) if obj["object"] == "invoice" else obj),
                previous_attributes=previous,
                api_version=self.call.api_version,
                request_id=self.call.request_id,
                idempotency_key=self.call.idempotency_key,
                pending_webhooks=sum(1 for e in self.endpoints if wants(e, event_type)),
            )
        )


@dataclass
class Reader:
    store: Store
    params: Params
    now: int
    call: ApiCall


class BillingService:
    """The app's state: context, lock, in-flight idempotency keys, webhook dispatcher."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.lock = threading.RLock()
        self.in_flight = idempotency.InFlight()
        self.dispatcher = Dispatcher(ctx.engine, self.lock)

    def now(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    def authenticate(self, authorization: str | None) -> None:
        """Bearer `sk_...`, or HTTP basic auth with the key as the user name."""
        if not authorization:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        scheme, _, credentials = authorization.partition(" ")
        key = credentials.strip()
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(key, validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif scheme.lower() != "bearer":
            key = ""
        if key != self.ctx.settings.billing_api_key:
            shown = f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"
            raise StripeError(401, f"Invalid API Key provided: {shown}")

    def mutate(self, call: ApiCall, handler: Callable[[Tx], Result]) -> JSONResponse:
        key = call.idempotency_key
        if key is not None:
            idempotency.check_key(key)
            self.in_flight.enter(key)
        try:
            with self.lock:
                endpoints = self.dispatcher.endpoints()
                with Session(self.ctx.engine) as session:
                    response, events, now = self._run(session, call, handler, endpoints)
        finally:
            if key is not None:
                self.in_flight.leave(key)
        if events:
            self.dispatcher.deliver(events, now)  # after the commit, outside the lock
        return response

    def _run(
        self,
        session: Session,
        call: ApiCall,
        handler: Callable[[Tx], Result],
        endpoints: list[BillingWebhookEndpoint],
    ) -> tuple[JSONResponse, list[JsonObject], int]:
        now = self.now()
        key = call.idempotency_key
        digest = idempotency.fingerprint(call.params)
        headers = {"Idempotency-Key": key} if key else {}
        if key is not None:
            replay = idempotency.lookup(session, key, call.endpoint, digest, now)
            if replay is not None:
                session.commit()
                headers.update(idempotency.replay_headers(replay))
                return JSONResponse(replay.body, replay.status, headers=headers), [], now
        store = Store(session)
        tx = Tx(store, Params(call.params), now, call, endpoints)
        try:
            result = handler(tx)
            tx.params.finish()
        except StripeError:
            session.rollback()
            raise
        for event in tx.events:
            store.insert(event)
        if key is not None and (200 <= result.status < 300 or result.status == 402):
            idempotency.save(
                session,
                key,
                call.endpoint,
                digest,
                now,
                result.status,
                result.body,
                call.request_id,
            )
        session.commit()
        return JSONResponse(result.body, result.status, headers=headers), tx.events, now

    def read(self, call: ApiCall, handler: Callable[[Reader], JsonObject]) -> JSONResponse:
        with self.lock, Session(self.ctx.engine) as session:
            reader = Reader(Store(session), Params(call.params), self.now(), call)
            body = handler(reader)
            reader.params.finish()
        return JSONResponse(body)


def service_of(request: Request) -> BillingService:
    service: BillingService = request.app.state.billing
    return service


async def api_call(request: Request) -> ApiCall:
    """FastAPI dependency: authenticate and decode the query string and form body."""
    service = service_of(request)
    service.authenticate(request.headers.get("authorization"))
    try:
        params: dict[str, Any] = decode_form(request.url.query)
        if request.method in ("POST", "DELETE"):
            body = await request.body()
            content_type = request.headers.get("content-type", "")
            if body.strip() and not content_type.lower().startswith(FORM):
                raise invalid(
                    f"Invalid request: unsupported Content-Type {content_type or '(none)'}. "
                    f"Send parameters as {FORM}."
                )
            params.update(decode_form(body))
    except FormError as exc:
        raise invalid(str(exc), param=exc.param) from None
    request_id = str(getattr(request.state, "request_id", "")) or new_id("request", 14)
    return ApiCall(
        method=request.method,
        path=request.url.path,
        params=params,
        request_id=request_id,
        idempotency_key=request.headers.get("idempotency-key"),
        api_version=request.headers.get("stripe-version") or API_VERSION,
    )


@dataclass(frozen=True)
class Endpoint:
    """What a route receives: its request, ready to run as a mutation or a read."""

    service: BillingService
    call: ApiCall

    def mutate(self, handler: Callable[[Tx], Result]) -> JSONResponse:
        return self.service.mutate(self.call, handler)

    def read(self, handler: Callable[[Reader], JsonObject]) -> JSONResponse:
        return self.service.read(self.call, handler)


async def endpoint(request: Request) -> Endpoint:
    return Endpoint(service_of(request), await api_call(request))


Api = Annotated[Endpoint, Depends(endpoint)]
