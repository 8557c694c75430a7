"""Canonical input models: customer, product, contract and its lines, amendment, usage, scenario.

These are the shapes of DESIGN.md §6 and of what the Salesforce and billing adapters read. They
check types and ranges; rules that need context (an amendment against the term in force, usage
against its line) are checked by `domain.validation` and by the schedule, which name the field
path of the problem.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.money import is_known_currency

__all__ = [
    "Amendment",
    "BillingFrequency",
    "Contract",
    "ContractLine",
    "Customer",
    "LineChange",
    "LineKind",
    "Product",
    "Scenario",
    "UsageRecord",
]

LineKind = Literal["subscription", "one_time", "usage"]
BillingFrequency = Literal["monthly", "quarterly", "annual"]

# Far above any real price or quantity, and far below what makes exact arithmetic on it blow
# up (1e999999999 is a valid JSON number: as cents, a billion-digit integer).
LARGEST = Decimal("1000000000000000")
Amount = Annotated[Decimal, Field(ge=0, le=LARGEST, allow_inf_nan=False)]
Quantity = Annotated[Decimal, Field(ge=0, le=LARGEST, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


class Customer(_Model):
    """The buyer; `id` is the Salesforce account id, the external ids are filled on activation."""

    id: Id
    name: str
    email: str | None = None
    billing_customer_id: str | None = None
    erp_customer_id: str | None = None


class Product(_Model):
    """A sellable product and where it lives elsewhere: billing price, ERP item, and its SSP.

    Activation refuses a contract whose product lacks a mapping (`missing_mappings`), which parks
    it in NeedsAttention rather than billing something the ERP cannot book.
    """

    code: Id
    name: str
    kind: LineKind
    ssp: Amount | None = None
    billing_product_id: str | None = None
    billing_price_id: str | None = None
    erp_item_id: str | None = None

    def missing_mappings(self) -> list[str]:
        """Names of the mappings this product still lacks."""
        missing = []
        if not self.billing_price_id:
            missing.append("billing_price_id")
        if not self.erp_item_id:
            missing.append("erp_item_id")
        return missing


class ContractLine(_Model):
    """One line of a contract (or a line added by an amendment).

    `subscription`: `unit_price` per unit per year; `one_time`: a fee per unit on its start date;
    `usage`: `unit_price` per unit above `included` units per billing period. `ssp` is in the
    same units as `unit_price` (absent: the current unit price). `start_date`/`end_date` bound
    the line inside the term (default: the contract's start, or the amendment's effective date,
    and the contract's end).
    """

    id: Id
    product_code: Id
    kind: LineKind
    quantity: Quantity | None = None
    unit_price: Amount
    ssp: Amount | None = None
    included: Quantity = Decimal(0)
    start_date: date | None = None
    end_date: date | None = None
    description: str | None = None


class Contract(_Model):
    """A booked contract: the term (both ends inclusive), currency, billing frequency and lines."""

    id: Id
    customer: Customer
    currency: str
    legal_entity: str = ""
    start_date: date
    end_date: date
    billing_frequency: BillingFrequency = "monthly"
    lines: Annotated[list[ContractLine], Field(min_length=1)]

    @field_validator("currency", mode="before")
    @classmethod
    def _known_currency(cls, value: object) -> object:
        if isinstance(value, str):
            code = value.strip().upper()
            if not is_known_currency(code):
                raise ValueError(f"unknown currency {value!r} (expected an ISO 4217 code)")
            return code
        return value


class LineChange(_Model):
    """What an amendment changes on an existing line, from its effective date on."""

    line_id: Id
    quantity: Quantity | None = None
    unit_price: Amount | None = None
    ssp: Amount | None = None
    included: Quantity | None = None


class Amendment(_Model):
    """A change to a running contract, effective on `effective_date`.

    `received_on` is the business day q2c learns of it (default: the effective date); periods
    already invoiced by then are re-billed on the amendment's own document.
    """

    id: Id
    effective_date: date
    received_on: date | None = None
    changes: list[LineChange] = Field(default_factory=list)
    add_lines: list[ContractLine] = Field(default_factory=list)
    remove_lines: list[Id] = Field(default_factory=list)
    end_date: date | None = None
    cancel: bool = False

    @property
    def received(self) -> date:
        """The day the amendment is applied: received_on, or the effective date."""
        return self.received_on or self.effective_date


class UsageRecord(_Model):
    """Units of a usage line consumed on a day."""

    line_id: Id
    date: date
    quantity: Quantity
    id: str | None = None


class Scenario(_Model):
    """A contract with its amendments and usage, and the business date to report on (§6)."""

    contract: Contract
    amendments: list[Amendment] = Field(default_factory=list)
    usage: list[UsageRecord] = Field(default_factory=list)
    as_of: date
    description: str | None = None
