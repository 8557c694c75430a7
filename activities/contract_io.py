"""The inputs and outputs of the contract activities (pydantic, through the data converter).

Each effect carries its idempotency key, `contract-<opportunity>:<what>` (DESIGN.md §4), built
by the workflow from the domain's deterministic document and journal keys.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

from domain.documents import BillingDocument, JournalEntry
from domain.models import Contract
from domain.revenue_plan import RevenuePlan


class ProductMapping(BaseModel):
    """Where a product code lives in billing and in the ERP (from Salesforce's Product2)."""

    product_code: str
    name: str
    billing_price_id: str
    erp_item_id: str


class Booking(BaseModel):
    """What activation reads from Salesforce, already mapped to the domain."""

    contract: Contract
    products: dict[str, ProductMapping]
    auto_renew: bool = False
    account_name: str


class ReadBooking(BaseModel):
    opportunity_id: str


class ReadAmendment(BaseModel):
    opportunity_id: str
    amendment_id: str


class EnsureCustomer(BaseModel):
    key: str
    contract_id: str
    account_id: str
    name: str
    currency: str
    legal_entity: str


class PostRevenuePlan(BaseModel):
    key: str
    contract_id: str
    erp_customer_id: str
    legal_entity: str
    start_date: dt.date
    end_date: dt.date
    version: int
    plan: RevenuePlan


class WriteBack(BaseModel):
    opportunity_id: str
    status: str
    attention_reason: str | None = None
    workflow_id: str | None = None
    billing_customer_id: str | None = None
    erp_customer_id: str | None = None
    erp_revenue_schedule_id: str | None = None


class IssueDocument(BaseModel):
    """An invoice or credit note to issue; a credit note names the invoices it may credit."""

    key: str
    customer_id: str
    document: BillingDocument
    credit_against: list[str] = Field(default_factory=list)


class IssuedDocument(BaseModel):
    billing_id: str
    number: str | None = None


class PostJournal(BaseModel):
    key: str
    entry: JournalEntry
    legal_entity: str
    erp_customer_id: str


class ReadPayment(BaseModel):
    invoice_id: str
    payment_id: str


class PaymentFacts(BaseModel):
    """What billing says was paid, read back from the invoice (webhooks are thin)."""

    invoice_id: str
    amount: Decimal
    currency: str
    paid_on: dt.date | None
