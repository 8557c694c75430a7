"""The inputs and outputs of catalog sync (pydantic, through the data converter), and its rules.

Salesforce is the system of record for products and prices (DESIGN.md §1): each active
`Product2` with its active entries in the standard price book becomes one billing product with
one active price per currency, and one ERP item. The rules here are pure, so the workflow and
the activities apply the same ones.

A whole-catalog run reads the catalog a page at a time (`ReadPage`, keyset by `Product2.Id`),
first the active products, then the inactive ones that still carry a mapping (to retire), and
carries its cursor and running totals (`CatalogSyncState`) across continue-as-new. Its result
keeps the counts of every product and the details of at most `detail_limit` of them, those
that need attention first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, get_args

from pydantic import BaseModel, Field

from domain.models import LineKind

KINDS: tuple[str, ...] = get_args(LineKind)

Outcome = Literal["created", "updated", "unchanged", "unmappable", "failed", "retired"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
# Which product details a result keeps when it cannot keep them all (higher first).
RANK: dict[str, int] = {
    "failed": 3,
    "unmappable": 3,
    "retired": 2,
    "created": 1,
    "updated": 1,
    "unchanged": 0,
}
# active: the active products; retire: the inactive ones with a mapping; done: nothing left.
Phase = Literal["active", "retire", "done"]

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


class ReadPage(BaseModel):
    """One page of the catalog: up to `limit` products of `phase` whose Id is after `after`."""

    phase: Literal["active", "retire"] = "active"
    after: str | None = Field(None, description="The last Product2 Id of the page before.")
    limit: int = Field(200, ge=1)
    product_ids: list[str] | None = Field(None, description="None: the whole catalog.")


class CatalogPage(BaseModel):
    products: list[CatalogProduct]
    next_after: str | None = Field(None, description="None: the phase has no more pages.")
    duplicates: dict[str, str] = Field(
        default_factory=dict,
        description="Product2 Id → why it is unmappable: its code is on another active product "
        "(any page of the catalog).",
    )
    in_use: dict[str, str] = Field(
        default_factory=dict,
        description="Inactive Product2 Id → why its records are not retired: an active product "
        "has its code, so the billing product and ERP item are that product's now.",
    )


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


class CatalogSyncState(BaseModel):
    """Where a sync is and what it did so far: carried by continue-as-new to the next run."""

    phase: Phase = "active"
    after: str | None = None
    runs: int = 1
    totals: dict[str, int] = Field(default_factory=dict, description="outcome → products")
    products: list[ProductSync] = Field(default_factory=list, description="The details kept.")
    not_listed: int = 0

    def add(self, result: ProductSync, limit: int) -> None:
        self.totals[result.outcome] = self.totals.get(result.outcome, 0) + 1
        if not keep_details(self.products, result, limit):
            self.not_listed += 1


class CatalogSyncInput(BaseModel):
    product_ids: list[str] | None = Field(None, description="None: the whole catalog.")
    retry_parked: bool = True
    vendor_window_seconds: float = Field(
        600.0, gt=0, description="How long a vendor may stay down before a step gives up."
    )
    page_size: int = Field(200, ge=1, le=2000, description="Products read per activity.")
    pages_per_run: int = Field(
        5,
        ge=1,
        description="Pages one run syncs before it continues as new (earlier if Temporal "
        "suggests it): bounds a run's history.",
    )
    detail_limit: int = Field(
        200, ge=0, description="Product details the result keeps (the counts cover all)."
    )
    state: CatalogSyncState | None = Field(
        None, description="Set by continue-as-new only: the cursor and totals so far."
    )


class CatalogSyncResult(BaseModel):
    products: list[ProductSync]
    contracts: list[RetriedContract] = Field(default_factory=list)
    totals: dict[str, int] | None = Field(
        None,
        description="Outcome → products over the whole run; None in a result from before "
        "paging, whose `products` lists every product.",
    )
    not_listed: int = Field(0, description="Products counted in `totals` but not listed.")
    runs: int = Field(1, description="Runs of the chain (continue-as-new) the sync took.")

    def counts(self) -> dict[str, int]:
        found = self.totals
        if found is None:
            found = dict(Counter(p.outcome for p in self.products))
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


def keep_details(kept: list[ProductSync], result: ProductSync, limit: int) -> bool:
    """Keep `result` in `kept` (at most `limit` long): while there is room, or in place of the
    last kept one of a lower rank (an unchanged product gives way to a created one, that to an
    unmappable one). False when a product's details are left out (this one or the one it
    replaced)."""
    if len(kept) < limit:
        kept.append(result)
        return True
    if not kept:
        return False
    lowest = min(range(len(kept)), key=lambda i: (RANK[kept[i].outcome], -i))
    if RANK[kept[lowest].outcome] < RANK[result.outcome]:
        del kept[lowest]
        kept.append(result)
    return False


def codes_on_several(
    wanted: Sequence[tuple[str, str | None]], active: Sequence[tuple[str, str | None]]
) -> dict[str, str]:
    """Product2 Id → reason, for each `wanted` (Id, code) whose code is on more than one of the
    `active` products (Id, code): the active products that have any of the wanted codes."""
    by_code: dict[str, set[str]] = {}
    for product_id, code in active:
        if code:
            by_code.setdefault(code, set()).add(product_id)
    found: dict[str, str] = {}
    for product_id, code in wanted:
        ids = sorted(by_code.get(code or "", set()) | {product_id}) if code else []
        if len(ids) > 1:
            found[product_id] = (
                f"ProductCode {code!r} is on {len(ids)} active products ({', '.join(ids)})"
            )
    return found


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
