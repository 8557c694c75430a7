"""The inputs and outputs of catalog sync (pydantic, through the data converter), and its rules.

Salesforce is the system of record for products and prices (DESIGN.md §1): each active
`Product2` with its active entries in the standard price book becomes one billing product with
one active price per currency, and one ERP item. The rules here are pure, so the workflow and
the activities apply the same ones.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Literal, get_args

from pydantic import BaseModel, Field

from domain.models import LineKind

KINDS: tuple[str, ...] = get_args(LineKind)

Outcome = Literal["created", "updated", "unchanged", "unmappable", "failed"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

# What a product's mapping is called on Salesforce records (read by ContractWorkflow).
PRICE_FIELD = "Q2C_Billing_Price_Id__c"
ITEM_FIELD = "Q2C_ERP_Item_Id__c"


def product_key(code: str) -> str:
    """The billing product's idempotency key (the one `map_products` has always used)."""
    return f"product:{code}"


def price_key(code: str, currency: str, unit_price: Decimal) -> str:
    """A price's key names its amount: prices are immutable, a new amount is a new price."""
    return f"price:{code}:{currency}:{unit_price.normalize():f}"


def item_key(code: str) -> str:
    return f"item-{code}"


class CatalogEntry(BaseModel):
    """An active entry of the standard price book: the product's list price in one currency."""

    id: str
    currency: str
    unit_price: Decimal
    billing_price_id: str | None = None


class CatalogProduct(BaseModel):
    """An active `Product2` as the sync needs it."""

    id: str
    name: str
    code: str | None = None
    kind: str | None = None
    family: str | None = None
    currency: str | None = Field(None, description="Product2.CurrencyIsoCode (its main one).")
    billing_price_id: str | None = None
    erp_item_id: str | None = None
    entries: list[CatalogEntry] = Field(default_factory=list)

    def main_entry(self) -> CatalogEntry:
        """The entry whose billing price goes on Product2: the product's own currency if it has
        an entry in it, else the first currency in alphabetical order."""
        ordered = sorted(self.entries, key=lambda e: e.currency)
        return next((e for e in ordered if e.currency == self.currency), ordered[0])


class ReadCatalog(BaseModel):
    product_ids: list[str] | None = Field(None, description="None: every active product.")


class Catalog(BaseModel):
    products: list[CatalogProduct]


class ProductSync(BaseModel):
    """What the sync did for one product, and the ids it maps to."""

    product_id: str
    code: str | None
    name: str
    outcome: Outcome
    changes: list[str] = Field(default_factory=list)
    reason: str | None = None
    billing_product_id: str | None = None
    billing_price_id: str | None = None
    erp_item_id: str | None = None
    prices: dict[str, str] = Field(default_factory=dict, description="currency → price id")


class RetriedContract(BaseModel):
    """A contract parked for a missing mapping: retried, or still waiting on products."""

    workflow_id: str
    retried: bool
    waiting_on: list[str] = Field(default_factory=list)


class CatalogSyncInput(BaseModel):
    product_ids: list[str] | None = Field(None, description="None: the whole catalog.")
    retry_parked: bool = True
    vendor_window_seconds: float = Field(
        600.0, gt=0, description="How long a vendor may stay down before a step gives up."
    )


class CatalogSyncResult(BaseModel):
    products: list[ProductSync]
    contracts: list[RetriedContract] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(p.outcome for p in self.products)
        return {outcome: found.get(outcome, 0) for outcome in OUTCOMES}

    @property
    def retried(self) -> list[str]:
        return [c.workflow_id for c in self.contracts if c.retried]


def unmappable_reason(product: CatalogProduct) -> str | None:
    """Why a product cannot be mapped from what Salesforce holds (None: it can be)."""
    if not product.code or not product.code.strip():
        return "no ProductCode"
    if not product.kind:
        return "no charge kind (Q2C_Kind__c)"
    if product.kind not in KINDS:
        return f"unknown charge kind {product.kind!r} (Q2C_Kind__c: {', '.join(KINDS)})"
    if not product.entries:
        return "no active price-book entry (standard price book)"
    negative = sorted(e.currency for e in product.entries if e.unit_price < 0)
    if negative:
        return f"negative list price in {', '.join(negative)}"
    return None


def duplicate_codes(products: list[CatalogProduct]) -> dict[str, str]:
    """Product2 Id → reason, for every product whose code another active product has too
    (billing and ERP records are keyed by code, so neither can be chosen)."""
    by_code: dict[str, list[str]] = {}
    for product in products:
        if product.code:
            by_code.setdefault(product.code, []).append(product.id)
    return {
        product_id: f"ProductCode {code!r} is on {len(ids)} active products ({', '.join(ids)})"
        for code, ids in by_code.items()
        if len(ids) > 1
        for product_id in ids
    }
