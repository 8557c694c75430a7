"""The ContractWorkflow's input, long-lived state and messages (pydantic, for the data converter).

Everything the workflow must remember across continue-as-new lives in `ContractState`, one
model: the booking as read, the amendments and usage it accepted, what it has posted, and the
operator-facing stage.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from activities.contract_io import Booking
from domain.documents import BillingDocument, DocumentKind, DocumentSource, JournalEntry
from domain.models import Amendment, UsageRecord

Stage = Literal[
    "Validating",
    "Provisioning",
    "Active",
    "Amending",
    "Renewing",
    "Cancelled",
    "Expired",
    "NeedsAttention",
]


class PostedDocument(BaseModel):
    """A document as issued by the billing platform: what posting and crediting need of it.

    Not its lines: the state carried across continue-as-new stays small over a long contract.
    """

    key: str
    kind: DocumentKind
    source: DocumentSource
    date: dt.date
    total: Decimal
    billing_id: str
    billing_number: str | None = None

    @classmethod
    def of(cls, document: BillingDocument, billing_id: str, number: str | None) -> PostedDocument:
        return cls(
            key=document.key,
            kind=document.kind,
            source=document.source,
            date=document.date,
            total=document.total,
            billing_id=billing_id,
            billing_number=number,
        )


class PendingUsage(BaseModel):
    usage_id: str
    line_id: str
    date: dt.date
    quantity: Decimal


class PaymentNotice(BaseModel):
    """The billing platform says an invoice was paid (a thin webhook, read back by id)."""

    payment_id: str
    invoice_id: str


class CancelRequest(BaseModel):
    request_id: str
    effective_date: dt.date


class AmendmentRequest(BaseModel):
    amendment_id: str


class AmendmentOutcome(BaseModel):
    """The answer of the `amend` update: applied, or refused with the reason.

    `amendment_id` is the amendment's own id (its Name in Salesforce, e.g. AMD-7), whatever id
    the update was sent with.
    """

    amendment_id: str
    accepted: bool
    treatment: str | None = None
    message: str = ""


class ContractState(BaseModel):
    """Everything the workflow carries from one run to the next."""

    opportunity_id: str
    term: int = 1
    clock_offset_seconds: float = 0.0
    transient_window_seconds: float = 3600.0
    search_attributes: bool = True
    booking: Booking | None = None
    billing_customer_id: str | None = None
    erp_customer_id: str | None = None
    activated: bool = False
    amendments: list[Amendment] = Field(default_factory=list)
    amendment_requests: dict[str, str] = Field(
        default_factory=dict,
        description="Amendment id (its Name) → the id messages named it by (the Salesforce "
        "record id), to answer `amend` and to read a refused amendment again.",
    )
    refused_amendments: dict[str, str] = Field(default_factory=dict)
    seen_messages: list[str] = Field(default_factory=list)
    usage: list[UsageRecord] = Field(default_factory=list)
    pending_amendments: list[str] = Field(default_factory=list)
    pending_usage: list[PendingUsage] = Field(default_factory=list)
    pending_payments: list[PaymentNotice] = Field(default_factory=list)
    pending_cancels: list[CancelRequest] = Field(default_factory=list)
    deferred_amendments: list[Amendment] = Field(
        default_factory=list,
        description="Amendments that came after today's documents went out, which they would "
        "change: taken on the next business day (patch amendment-after-todays-billing).",
    )
    deferred_on: dt.date | None = None
    amendment_outcomes: dict[str, AmendmentOutcome] = Field(default_factory=dict)
    posted_documents: dict[str, PostedDocument] = Field(default_factory=dict)
    posted_journals: dict[str, JournalEntry] = Field(default_factory=dict)
    plan_version: int = 0
    plan_posted_hash: str | None = None
    processed_through: dt.date | None = None
    written_status: str | None = None
    finished: bool = False
    stage: Stage = "Validating"
    attention_reason: str | None = None
    attention_detail: str | None = None
    last_error: str | None = None


class ContractInput(BaseModel):
    """Start (or continue) a contract. In production the clock offset is zero."""

    opportunity_id: str
    clock_offset_seconds: float = 0.0
    transient_window_seconds: float = 3600.0
    search_attributes: bool = Field(
        True, description="False only where the server has none (the time-skipping one)."
    )
    state: ContractState | None = None


class ContractStatus(BaseModel):
    """The `status` query: what an operator asks first."""

    contract_id: str
    term: int
    stage: Stage
    business_date: dt.date
    processed_through: dt.date | None
    next_due: dt.date | None
    next_wake: dt.datetime | None
    attention_reason: str | None
    attention_detail: str | None
    currency: str | None
    billed_to_date: Decimal | None
    recognized_to_date: Decimal | None
    deferred_revenue: Decimal | None
    pending_messages: int
    finished: bool
    documents_posted: int
    journals_posted: int


class ContractOutcome(BaseModel):
    contract_id: str
    final_stage: Stage
    terms_served: int
