"""The billing sandbox's tables: Stripe objects as JSON, idempotency keys, webhook plumbing.

Every API object is one `billing_objects` row holding its Stripe-shaped JSON, with the few
columns that lists filter on (`object`, `customer`, `invoice`) and an insertion sequence that
orders lists newest-first and makes `starting_after` cursors stable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Text
from sqlmodel import Field

from sandbox.db import SandboxModel

JsonObject = dict[str, Any]


class BillingObject(SandboxModel, table=True):
    __tablename__ = "billing_objects"

    seq: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    id: str = Field(sa_column=Column(String(64), nullable=False, unique=True, index=True))
    object: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    created: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer: str | None = Field(default=None, sa_column=Column(String(64), index=True))
    invoice: str | None = Field(default=None, sa_column=Column(String(64), index=True))
    body: JsonObject = Field(sa_column=Column(JSON, nullable=False))


class BillingMetadata(SandboxModel, table=True):
    """One metadata pair of one object, so `metadata['k']:'v'` searches use an index."""

    __tablename__ = "billing_metadata"
    __table_args__ = (Index("ix_billing_metadata_lookup", "object", "key", "value"),)

    seq: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    object_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    object: str = Field(sa_column=Column(String(40), nullable=False))
    key: str = Field(sa_column=Column(String(40), nullable=False))
    value: str = Field(sa_column=Column(String(500), nullable=False))


class BillingIdempotencyKey(SandboxModel, table=True):
    """The saved answer to the first request made with an `Idempotency-Key`."""

    __tablename__ = "billing_idempotency_keys"

    key: str = Field(sa_column=Column(String(255), primary_key=True))
    endpoint: str = Field(sa_column=Column(String(300), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    created: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: int = Field(sa_column=Column(Integer, nullable=False))
    body: JsonObject = Field(sa_column=Column(JSON, nullable=False))
    request_id: str = Field(sa_column=Column(String(64), nullable=False))


class BillingWebhookEndpoint(SandboxModel, table=True):
    """Where signed events are POSTed (`POST /_sandbox/webhook_endpoints`)."""

    __tablename__ = "billing_webhook_endpoints"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    url: str = Field(sa_column=Column(Text, nullable=False))
    secret: str = Field(sa_column=Column(String(255), nullable=False))
    enabled_events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created: int = Field(sa_column=Column(BigInteger, nullable=False))


class BillingWebhookDelivery(SandboxModel, table=True):
    """One attempt to deliver one event to one endpoint, and how it went."""

    __tablename__ = "billing_webhook_deliveries"

    seq: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    event_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    endpoint_id: str = Field(sa_column=Column(String(64), nullable=False))
    attempted_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    error: str | None = Field(default=None, sa_column=Column(Text))
    delivered: bool = Field(default=False)


ALL_TABLES: tuple[type[SandboxModel], ...] = (
    BillingObject,
    BillingMetadata,
    BillingIdempotencyKey,
    BillingWebhookEndpoint,
    BillingWebhookDelivery,
)
