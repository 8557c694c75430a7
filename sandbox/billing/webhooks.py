"""Signed webhook delivery: each event is POSTed to every endpoint that wants its type.

The `Stripe-Signature` header is `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">` keyed by
the endpoint's secret, which `stripe.Webhook.construct_event` verifies. The timestamp is wall
time, not the sandbox clock: receivers check it against their own clock (five minutes of
tolerance by default), and a sandbox clock moved days ahead must not make every delivery stale.
Delivery happens right after the request that caused the event commits, so a test sees it when
the API call returns; failed deliveries are recorded and can be sent again with
`POST /_sandbox/webhook_deliveries/retry`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from sandbox.billing.models import BillingWebhookDelivery, BillingWebhookEndpoint, JsonObject

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
DELIVERY_TIMEOUT_SECONDS = 5.0


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` value for `payload` signed with `secret` at `timestamp`."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode("utf-8"), f"{signed_at}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={signed_at},v1={digest}"


def wants(endpoint: BillingWebhookEndpoint, event_type: str) -> bool:
    return "*" in endpoint.enabled_events or event_type in endpoint.enabled_events


@dataclass(frozen=True)
class Outcome:
    endpoint_id: str
    event_id: str
    delivered: bool
    status_code: int | None
    error: str | None


class Dispatcher:
    """Sends events to the registered endpoints and records every attempt.

    Database access takes the app's lock (`lock`), like every other access; the endpoint list
    is cached until `invalidate()`, since it changes only through the admin routes.
    """

    def __init__(
        self, engine: Engine, lock: threading.RLock, timeout: float = DELIVERY_TIMEOUT_SECONDS
    ) -> None:
        self.engine = engine
        self.lock = lock
        self.client = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._endpoints: list[BillingWebhookEndpoint] | None = None

    def endpoints(self) -> list[BillingWebhookEndpoint]:
        with self.lock:
            if self._endpoints is None:
                with Session(self.engine) as session:
                    self._endpoints = list(session.exec(select(BillingWebhookEndpoint)).all())
            return list(self._endpoints)

    def invalidate(self) -> None:
        with self.lock:
            self._endpoints = None

    def deliver(self, events: list[JsonObject], now: int) -> list[Outcome]:
        """POST each event to each endpoint that wants it; never raises."""
        endpoints = self.endpoints()
        outcomes = [
            self._send(endpoint, event)
            for event in events
            for endpoint in endpoints
            if wants(endpoint, str(event["type"]))
        ]
        if outcomes:
            self._record(outcomes, now)
        return outcomes

    def retry_failed(self, events: dict[str, JsonObject], now: int) -> list[Outcome]:
        """Send again every (event, endpoint) pair whose latest attempt failed."""
        with self.lock, Session(self.engine) as session:
            rows = session.exec(
                select(BillingWebhookDelivery).order_by(col(BillingWebhookDelivery.seq))
            )
            latest = {(r.event_id, r.endpoint_id): r.delivered for r in rows.all()}
        endpoints = {e.id: e for e in self.endpoints()}
        outcomes = [
            self._send(endpoints[endpoint_id], events[event_id])
            for (event_id, endpoint_id), delivered in latest.items()
            if not delivered and endpoint_id in endpoints and event_id in events
        ]
        if outcomes:
            self._record(outcomes, now)
        return outcomes

    def _send(self, endpoint: BillingWebhookEndpoint, event: JsonObject) -> Outcome:
        payload = json.dumps(event, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, endpoint.secret),
        }
        try:
            response = self.client.post(endpoint.url, content=payload.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(endpoint.id, event["id"], False, None, f"{type(exc).__name__}: {exc}")
        ok = 200 <= response.status_code < 300
        error = None if ok else f"HTTP {response.status_code}"
        return Outcome(endpoint.id, event["id"], ok, response.status_code, error)

    def _record(self, outcomes: list[Outcome], now: int) -> None:
        with self.lock, Session(self.engine) as session:
            for outcome in outcomes:
                session.add(
                    BillingWebhookDelivery(
                        event_id=outcome.event_id,
                        endpoint_id=outcome.endpoint_id,
                        attempted_at=now,
                        status_code=outcome.status_code,
                        error=outcome.error,
                        delivered=outcome.delivered,
                    )
                )
            session.commit()
