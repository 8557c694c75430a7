"""What the billing adapter returns: Stripe objects read into q2c's terms (Decimal + ISO code).

Parsers accept the SDK's objects or plain JSON (Stripe's published fixtures, stored payloads)
and read fields defensively, because Stripe adds fields over API versions and older objects
lack newer ones. Dates that q2c dated itself (document date, service period) are read from the
`q2c_*` metadata it wrote; Stripe's timestamps are the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe
from pydantic import BaseModel, ConfigDict, Field

from adapters.billing.money import from_minor_units, iso_currency, unit_amount_major

# Metadata keys q2c writes on billing objects.
KEY = "q2c_key"  # the idempotency key of the effect that created the object
ACCOUNT_ID = "q2c_account_id"  # Salesforce account of a customer
PRODUCT_CODE = "q2c_product_code"  # product code of a product or price
CONTRACT_ID = "q2c_contract_id"  # contract (opportunity) of an invoice or credit note
DOCUMENT_DATE = "q2c_document_date"  # business date of an invoice or credit note (ISO)
PERIOD_START = "q2c_period_start"  # first day of the billed service period (ISO)
PERIOD_END = "q2c_period_end"  # last day of the billed service period (ISO, inclusive)
LINE_ID = "q2c_line_id"  # contract line an invoice item bills
INVOICE_KEY = "q2c_invoice_key"  # on an invoice item: the key of its invoice

JsonLike = Mapping[str, Any]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class BillingCustomer(Record):
    id: str
    name: str | None
    email: str | None
    account_id: str | None
    currency: str | None
    key: str | None
    metadata: dict[str, str] = Field(default_factory=dict)


class BillingProduct(Record):
    id: str
    name: str
    code: str | None
    active: bool
    key: str | None
    metadata: dict[str, str] = Field(default_factory=dict)


class BillingPrice(Record):
    id: str
    product_id: str
    currency: str
    unit_amount: Decimal
    active: bool
    recurring_interval: str | None
    lookup_key: str | None
    key: str | None
    metadata: dict[str, str] = Field(default_factory=dict)


class InvoiceLine(Record):
    """One line q2c bills: an amount it computed, in the invoice's currency."""

    description: str
    amount: Decimal
    period_start: date | None = None
    period_end: date | None = None
    line_id: str | None = None
    key: str | None = Field(None, description="Defaults to `<invoice key>:line:<position>`.")
    metadata: dict[str, str] = Field(default_factory=dict)


class CreditLine(Record):
    """One line of a credit note: part of an invoice line, or a free-standing credit."""

    amount: Decimal
    description: str | None = None
    invoice_line_id: str | None = Field(None, description="An `il_` id of the invoice.")


class BillingInvoiceLine(Record):
    id: str
    invoice_item_id: str | None
    description: str | None
    amount: Decimal
    period_start: date | None
    period_end: date | None
    key: str | None
    metadata: dict[str, str] = Field(default_factory=dict)


class BillingInvoice(Record):
    id: str
    number: str | None
    status: str | None
    customer_id: str | None
    currency: str
    total: Decimal
    amount_due: Decimal
    amount_paid: Decimal
    amount_remaining: Decimal
    credited: Decimal = Field(
        description="Credit notes issued against it (before and after payment)."
    )
    document_date: date | None
    due_date: date | None
    created: datetime
    finalized_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    period_start: date | None
    period_end: date | None
    contract_id: str | None
    key: str | None
    lines: list[BillingInvoiceLine]
    lines_complete: bool = Field(description="False when Stripe embedded only the first lines.")
    metadata: dict[str, str] = Field(default_factory=dict)


class BillingCreditNoteLine(Record):
    id: str
    amount: Decimal
    description: str | None
    invoice_line_id: str | None


class BillingCreditNote(Record):
    id: str
    number: str | None
    status: str | None
    invoice_id: str
    customer_id: str | None
    currency: str
    total: Decimal
    document_date: date | None
    created: datetime
    reason: str | None
    memo: str | None
    contract_id: str | None
    key: str | None
    lines: list[BillingCreditNoteLine]
    metadata: dict[str, str] = Field(default_factory=dict)


class BillingEvent(Record):
    """A verified webhook: what happened to which object (q2c reads the facts afterwards)."""

    id: str
    type: str
    created: datetime
    object_type: str | None
    object_id: str | None
    contract_id: str | None
    key: str | None
    livemode: bool


def _plain(obj: stripe.StripeObject | JsonLike) -> dict[str, Any]:
    return obj.to_dict() if isinstance(obj, stripe.StripeObject) else dict(obj)


def _metadata(data: JsonLike) -> dict[str, str]:
    return {str(k): str(v) for k, v in (data.get("metadata") or {}).items()}


def _ref(value: Any) -> str | None:
    """An expandable field: an id, or an expanded object carrying one."""
    if isinstance(value, Mapping):
        return str(value["id"]) if value.get("id") else None
    return str(value) if value else None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def _date(value: Any) -> date | None:
    stamp = _time(value)
    return stamp.date() if stamp is not None else None


def _iso(metadata: Mapping[str, str], key: str) -> date | None:
    text = metadata.get(key)
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _money(data: JsonLike, field: str, currency: str) -> Decimal:
    return from_minor_units(int(data.get(field) or 0), currency)


def period_bounds(start: Any, end: Any) -> tuple[date | None, date | None]:
    """Stripe's period timestamps as inclusive dates (an end after the start is exclusive)."""
    first, last = _time(start), _time(end)
    if first is None or last is None:
        return (first.date() if first else None), (last.date() if last else None)
    if last > first:
        last -= timedelta(seconds=1)
    return first.date(), last.date()


def customer_from(obj: stripe.StripeObject | JsonLike) -> BillingCustomer:
    data = _plain(obj)
    metadata = _metadata(data)
    currency = data.get("currency")
    return BillingCustomer(
        id=data["id"],
        name=data.get("name"),
        email=data.get("email"),
        account_id=metadata.get(ACCOUNT_ID),
        currency=iso_currency(currency) if currency else None,
        key=metadata.get(KEY),
        metadata=metadata,
    )


def product_from(obj: stripe.StripeObject | JsonLike) -> BillingProduct:
    data = _plain(obj)
    metadata = _metadata(data)
    return BillingProduct(
        id=data["id"],
        name=data.get("name") or "",
        code=metadata.get(PRODUCT_CODE),
        active=bool(data.get("active", True)),
        key=metadata.get(KEY),
        metadata=metadata,
    )


def price_from(obj: stripe.StripeObject | JsonLike) -> BillingPrice:
    data = _plain(obj)
    metadata = _metadata(data)
    currency = iso_currency(data["currency"])
    minor = data.get("unit_amount_decimal")
    if minor is None:
        minor = data.get("unit_amount") or 0
    recurring = data.get("recurring") or {}
    return BillingPrice(
        id=data["id"],
        product_id=_ref(data.get("product")) or "",
        currency=currency,
        unit_amount=unit_amount_major(minor, currency),
        active=bool(data.get("active", True)),
        recurring_interval=recurring.get("interval"),
        lookup_key=data.get("lookup_key"),
        key=metadata.get(KEY),
        metadata=metadata,
    )


def invoice_line_from(data: JsonLike, currency: str) -> BillingInvoiceLine:
    metadata = _metadata(data)
    period = data.get("period") or {}
    start, end = period_bounds(period.get("start"), period.get("end"))
    parent = data.get("parent") or {}
    details = parent.get("invoice_item_details") or {}
    return BillingInvoiceLine(
        id=data["id"],
        invoice_item_id=_ref(details.get("invoice_item")),
        description=data.get("description"),
        amount=_money(data, "amount", currency),
        period_start=_iso(metadata, PERIOD_START) or start,
        period_end=_iso(metadata, PERIOD_END) or end,
        key=metadata.get(KEY),
        metadata=metadata,
    )


def invoice_from(
    obj: stripe.StripeObject | JsonLike, lines: list[JsonLike] | None = None
) -> BillingInvoice:
    """An invoice; `lines` (all of them, when the caller paged through) replace the embedded."""
    data = _plain(obj)
    metadata = _metadata(data)
    currency = iso_currency(data["currency"])
    embedded = data.get("lines") or {}
    raw_lines = lines if lines is not None else list(embedded.get("data") or [])
    transitions = data.get("status_transitions") or {}
    credited = int(data.get("pre_payment_credit_notes_amount") or 0) + int(
        data.get("post_payment_credit_notes_amount") or 0
    )
    return BillingInvoice(
        id=data["id"],
        number=data.get("number"),
        status=data.get("status"),
        customer_id=_ref(data.get("customer")),
        currency=currency,
        total=_money(data, "total", currency),
        amount_due=_money(data, "amount_due", currency),
        amount_paid=_money(data, "amount_paid", currency),
        amount_remaining=_money(data, "amount_remaining", currency),
        credited=from_minor_units(credited, currency),
        document_date=_iso(metadata, DOCUMENT_DATE) or _date(data.get("effective_at")),
        due_date=_date(data.get("due_date")),
        created=_time(data.get("created")) or datetime.fromtimestamp(0, UTC),
        finalized_at=_time(transitions.get("finalized_at")),
        paid_at=_time(transitions.get("paid_at")),
        voided_at=_time(transitions.get("voided_at")),
        period_start=_iso(metadata, PERIOD_START),
        period_end=_iso(metadata, PERIOD_END),
        contract_id=metadata.get(CONTRACT_ID),
        key=metadata.get(KEY),
        lines=[invoice_line_from(_plain(line), currency) for line in raw_lines],
        lines_complete=lines is not None or not embedded.get("has_more", False),
        metadata=metadata,
    )


def credit_note_from(obj: stripe.StripeObject | JsonLike) -> BillingCreditNote:
    data = _plain(obj)
    metadata = _metadata(data)
    currency = iso_currency(data["currency"])
    lines = (data.get("lines") or {}).get("data") or []
    return BillingCreditNote(
        id=data["id"],
        number=data.get("number"),
        status=data.get("status"),
        invoice_id=_ref(data.get("invoice")) or "",
        customer_id=_ref(data.get("customer")),
        currency=currency,
        total=_money(data, "total", currency),
        document_date=_iso(metadata, DOCUMENT_DATE) or _date(data.get("effective_at")),
        created=_time(data.get("created")) or datetime.fromtimestamp(0, UTC),
        reason=data.get("reason"),
        memo=data.get("memo"),
        contract_id=metadata.get(CONTRACT_ID),
        key=metadata.get(KEY),
        lines=[
            BillingCreditNoteLine(
                id=line["id"],
                amount=_money(line, "amount", currency),
                description=line.get("description"),
                invoice_line_id=_ref(line.get("invoice_line_item")),
            )
            for line in lines
        ],
        metadata=metadata,
    )


def event_from(obj: stripe.StripeObject | JsonLike) -> BillingEvent:
    data = _plain(obj)
    inner = (data.get("data") or {}).get("object") or {}
    metadata = _metadata(inner) if isinstance(inner, Mapping) else {}
    return BillingEvent(
        id=data["id"],
        type=data["type"],
        created=_time(data.get("created")) or datetime.fromtimestamp(0, UTC),
        object_type=inner.get("object"),
        object_id=inner.get("id"),
        contract_id=metadata.get(CONTRACT_ID),
        key=metadata.get(KEY),
        livemode=bool(data.get("livemode", False)),
    )
