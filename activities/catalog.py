"""The catalog-sync activities: Salesforce products and price books → billing and the ERP.

Each step is idempotent without a ledger, because every record it makes is found again by its
key in the system that holds it: the billing product by `product:<code>` (metadata), its prices
by listing the product's prices (a consistent list, not search), the ERP item by its external
id `item-<code>`, and the mapping on Salesforce by comparing the fields before writing them.
Running the sync twice changes nothing the second time; a worker killed half-way leaves
records that the next attempt finds and completes.

Billing prices are immutable (Stripe's model): a new list price in Salesforce makes a new price
(keyed by its amount), the old one is archived (`active=false`), and the mapping moves to the
new one. A product that Salesforce does not describe well enough, or that billing or the ERP
refuse, is *unmappable*: reported with the reason, nothing written back onto it.

A product deactivated in Salesforce that still carries a mapping is *retired*: its billing
prices and product archived and its ERP item marked inactive (`isInactive`), so nothing new can
be sold or billed with them; the ids stay on Salesforce and contracts already running keep the
ids they hold (invoice lines carry amounts, journal lines accounts). Reactivated in Salesforce,
the next sync brings the same records back (the product and price are reactivated, the item
active again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from activities.catalog_io import (
    ITEM_FIELD,
    PRICE_FIELD,
    Catalog,
    CatalogEntry,
    CatalogPage,
    CatalogProduct,
    ProductSync,
    ReadCatalog,
    ReadPage,
    RetriedContract,
    codes_on_several,
    item_key,
    price_key,
    product_key,
    unmappable_reason,
)
from activities.contract import vendor_errors
from adapters.billing import BillingAdapter, BillingPrice, BillingProduct
from adapters.erp import ITEM, ErpClient, external_id_for
from adapters.errors import BusinessError
from adapters.salesforce import SalesforceClient, soql_literal

BILLING, ERP = "billing", "erp"
IN_CHUNK = 100  # ids per SOQL `IN (...)` list

PRODUCT_FIELDS = (
    f"Id, Name, ProductCode, Family, CurrencyIsoCode, Q2C_Kind__c, {PRICE_FIELD}, {ITEM_FIELD}"
)
ENTRY_FIELDS = f"Id, Product2Id, CurrencyIsoCode, UnitPrice, {PRICE_FIELD}"
ENTRY_FILTER = "IsActive = true AND Pricebook2.IsStandard = true"


class RetryParked(BaseModel):
    """Which contracts to look at and how to wake them (the workflow knows ContractWorkflow)."""

    query: str
    workflow_id_prefix: str
    signal: str


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def _amount(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(soql_literal(v) for v in values) + ")"


def _products(records: list[dict[str, Any]], entries: list[dict[str, Any]]) -> list[CatalogProduct]:
    """Product2 records with their price-book entries, by (code, Id)."""
    by_product: dict[str, list[CatalogEntry]] = {}
    for entry in entries:
        by_product.setdefault(str(entry["Product2Id"]), []).append(
            CatalogEntry(
                id=str(entry["Id"]),
                currency=str(entry["CurrencyIsoCode"]),
                unit_price=entry["UnitPrice"],
                billing_price_id=entry.get(PRICE_FIELD),
            )
        )
    products = [
        CatalogProduct(
            id=str(record["Id"]),
            name=str(record["Name"]),
            code=record.get("ProductCode"),
            kind=record.get("Q2C_Kind__c"),
            family=record.get("Family"),
            currency=record.get("CurrencyIsoCode"),
            billing_price_id=record.get(PRICE_FIELD),
            erp_item_id=record.get(ITEM_FIELD),
            entries=sorted(by_product.get(str(record["Id"]), []), key=lambda e: e.currency),
        )
        for record in records
    ]
    products.sort(key=lambda p: (p.code or "", p.id))
    return products


class Refused(Exception):
    """Billing or the ERP refused a record of the product: it is unmappable for that reason."""


class CatalogActivities:
    """Catalog sync around one worker's adapters."""

    def __init__(
        self, salesforce: SalesforceClient, billing: BillingAdapter, erp: ErpClient
    ) -> None:
        self.salesforce = salesforce
        self.billing = billing
        self.erp = erp

    def all(self) -> list[Any]:
        return [
            self.read_catalog,
            self.read_page,
            self.sync_product,
            self.retire_product,
            self.retry_parked_contracts,
        ]

    # -- read ------------------------------------------------------------------------------

    @activity.defn(name="catalog_read")
    async def read_catalog(self, request: ReadCatalog) -> Catalog:
        """Active products and their active entries in the standard price book, by SOQL."""
        with vendor_errors():
            return await self.read(request.product_ids)

    async def read(self, product_ids: Sequence[str] | None = None) -> Catalog:
        records: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        if product_ids is None:
            records = await self.salesforce.query(
                f"SELECT {PRODUCT_FIELDS} FROM Product2 WHERE IsActive = true"
            )
            entries = await self.salesforce.query(
                f"SELECT {ENTRY_FIELDS} FROM PricebookEntry WHERE {ENTRY_FILTER}"
            )
        else:
            for chunk in _chunks(list(dict.fromkeys(product_ids))):
                ids = _in_list(chunk)
                records += await self.salesforce.query(
                    f"SELECT {PRODUCT_FIELDS} FROM Product2 WHERE IsActive = true AND Id IN {ids}"
                )
                entries += await self.salesforce.query(
                    f"SELECT {ENTRY_FIELDS} FROM PricebookEntry "
                    f"WHERE {ENTRY_FILTER} AND Product2Id IN {ids}"
                )
        return Catalog(products=_products(records, entries))

    @activity.defn(name="catalog_read_page")
    async def read_page(self, request: ReadPage) -> CatalogPage:
        """One page of the catalog, in Id order: active products with their active entries
        and the codes they share with any other active product, or (phase `retire`) inactive
        products that still carry a mapping and whether an active product has their code."""
        with vendor_errors():
            return await self.page(request)

    async def page(self, request: ReadPage) -> CatalogPage:
        if request.product_ids is not None:
            wanted = sorted(set(request.product_ids))
            after = [i for i in wanted if request.after is None or i > request.after]
            chosen = after[: request.limit]
            catalog = await self.read(chosen) if chosen else Catalog(products=[])
            more = len(after) > len(chosen)
            products = catalog.products
        else:
            where = (
                "IsActive = true"
                if request.phase == "active"
                else f"IsActive = false AND ({PRICE_FIELD} != null OR {ITEM_FIELD} != null)"
            )
            if request.after is not None:
                where += f" AND Id > {soql_literal(request.after)}"
            records = await self.salesforce.query(
                f"SELECT {PRODUCT_FIELDS} FROM Product2 WHERE {where} "
                f"ORDER BY Id LIMIT {request.limit}"
            )
            entries: list[dict[str, Any]] = []
            if request.phase == "active":
                for chunk in _chunks([str(r["Id"]) for r in records]):
                    entries += await self.salesforce.query(
                        f"SELECT {ENTRY_FIELDS} FROM PricebookEntry "
                        f"WHERE {ENTRY_FILTER} AND Product2Id IN {_in_list(chunk)}"
                    )
            products = _products(records, entries)
            more = len(records) == request.limit
            chosen = [str(r["Id"]) for r in records]
        shared = await self._active_with_codes([p.code for p in products if p.code])
        pairs = [(p.id, p.code) for p in products]
        page = CatalogPage(products=products, next_after=chosen[-1] if more else None)
        if request.phase == "active":
            page.duplicates = codes_on_several(pairs, shared)
        else:
            for product in products:
                holders = sorted(i for i, code in shared if product.code and code == product.code)
                if holders:
                    page.in_use[product.id] = (
                        f"ProductCode {product.code!r} is on active product "
                        f"{', '.join(holders)}: its billing and ERP records stay in use"
                    )
        return page

    async def _active_with_codes(self, codes: list[str]) -> list[tuple[str, str | None]]:
        """(Id, ProductCode) of every active product with one of the codes, in any page."""
        found: list[tuple[str, str | None]] = []
        for chunk in _chunks(sorted(set(codes))):
            records = await self.salesforce.query(
                "SELECT Id, ProductCode FROM Product2 "
                f"WHERE IsActive = true AND ProductCode IN {_in_list(chunk)}"
            )
            found += [(str(r["Id"]), r.get("ProductCode")) for r in records]
        return found

    # -- retire ----------------------------------------------------------------------------

    @activity.defn(name="catalog_retire_product")
    async def retire_product(self, product: CatalogProduct) -> ProductSync:
        """An inactive product's billing prices and product archived, its ERP item inactive."""
        with vendor_errors():
            return await self.retire(product)

    async def retire(self, product: CatalogProduct) -> ProductSync:
        result = ProductSync(
            product_id=product.id, code=product.code, name=product.name, outcome="unchanged"
        )
        if not product.code or not product.code.strip():
            return result.model_copy(
                update={
                    "outcome": "unmappable",
                    "reason": "inactive and mapped, but no ProductCode to find its billing "
                    "and ERP records by: retire them by hand",
                }
            )
        changes: list[str] = []
        billed = await self.billing.find_product(product_key(product.code))
        if billed is not None:
            result.billing_product_id = billed.id
            for price in await self.billing.list_prices(billed.id):
                if price.active:
                    await self.billing.set_price_active(price.id, False)
                    changes.append(f"{price.currency} price {price.id} archived")
            if billed.active:
                await self.billing.update_product(billed.id, active=False)
                changes.append(f"billing product {billed.id} archived")
        external = external_id_for(item_key(product.code))
        item = await self.erp.find(ITEM, external)
        if item is not None:
            result.erp_item_id = external
            if not item.get("isInactive"):
                await self.erp.upsert(ITEM, external, {"isInactive": True})
                changes.append(f"ERP item {external} inactive")
        outcome = "retired" if changes else "unchanged"
        return result.model_copy(update={"outcome": outcome, "changes": changes})

    # -- one product -----------------------------------------------------------------------

    @activity.defn(name="catalog_sync_product")
    async def sync_product(self, product: CatalogProduct) -> ProductSync:
        """Billing product and prices, ERP item, mapping on Salesforce, for one product."""
        with vendor_errors():
            return await self.sync(product)

    async def sync(self, product: CatalogProduct) -> ProductSync:
        result = ProductSync(
            product_id=product.id, code=product.code, name=product.name, outcome="unchanged"
        )
        reason = unmappable_reason(product)
        if reason is not None:
            return result.model_copy(update={"outcome": "unmappable", "reason": reason})
        assert product.code is not None and product.kind is not None
        changes: list[str] = []
        try:
            billed, created = await self._billing_product(product, changes)
            result.billing_product_id = billed.id
            prices = await self._prices(product, billed, changes)
            item = await self._erp_item(product, changes)
        except Refused as exc:
            return result.model_copy(
                update={"outcome": "unmappable", "reason": str(exc), "changes": changes}
            )
        main = prices[product.main_entry().currency]
        await self._write_back(product, main, item, prices, changes)
        outcome = "created" if created else "updated" if changes else "unchanged"
        return result.model_copy(
            update={
                "outcome": outcome,
                "changes": changes,
                "billing_price_id": main,
                "erp_item_id": item,
                "prices": prices,
            }
        )

    async def _billing_product(
        self, product: CatalogProduct, changes: list[str]
    ) -> tuple[BillingProduct, bool]:
        assert product.code is not None
        key = product_key(product.code)
        try:
            billed = await self.billing.find_product(key)
            if billed is None:
                billed = await self.billing.ensure_product(
                    key=key, code=product.code, name=product.name
                )
                changes.append(f"billing product {billed.id} created")
                return billed, True
            if billed.name != product.name or not billed.active:
                if billed.name != product.name:
                    changes.append(f"name {billed.name!r} → {product.name!r}")
                if not billed.active:
                    changes.append(f"billing product {billed.id} reactivated")
                billed = await self.billing.update_product(
                    billed.id, name=product.name, active=True
                )
            return billed, False
        except BusinessError as exc:
            if exc.system != BILLING:
                raise
            raise Refused(f"billing refused the product: {exc.message}") from exc

    async def _prices(
        self, product: CatalogProduct, billed: BillingProduct, changes: list[str]
    ) -> dict[str, str]:
        """Currency → the one active price at the price book's amount; others archived."""
        existing = await self.billing.list_prices(billed.id)
        chosen: dict[str, str] = {}
        refused: list[str] = []
        for entry in product.entries:
            try:
                chosen[entry.currency] = await self._price(
                    product, billed, entry, existing, changes
                )
            except BusinessError as exc:
                if exc.system != BILLING:
                    raise
                refused.append(f"billing refused the {entry.currency} price: {exc.message}")
        wanted = {entry.currency for entry in product.entries}
        for price in existing:
            if price.active and price.currency not in wanted:
                await self.billing.set_price_active(price.id, False)
                changes.append(
                    f"{price.currency} price {price.id} archived (no active price-book entry)"
                )
        if refused:
            raise Refused("; ".join(refused))
        return chosen

    async def _price(
        self,
        product: CatalogProduct,
        billed: BillingProduct,
        entry: CatalogEntry,
        existing: list[BillingPrice],
        changes: list[str],
    ) -> str:
        assert product.code is not None
        amount, currency = entry.unit_price, entry.currency
        active = [p for p in existing if p.currency == currency and p.active]
        same = [p for p in active if p.unit_amount == amount]
        keep = next((p for p in same if p.id == entry.billing_price_id), same[0] if same else None)
        if keep is None:
            price = await self.billing.ensure_price(
                key=price_key(product.code, currency, amount),
                product_id=billed.id,
                product_code=product.code,
                currency=currency,
                unit_amount=amount,
            )
            if not price.active:  # back to an amount it had before: that price again
                price = await self.billing.set_price_active(price.id, True)
            was = ", ".join(_amount(p.unit_amount) for p in active)
            now = _amount(amount)
            changes.append(
                f"{currency} price {was} → {now} ({price.id})"
                if was
                else f"{currency} price {now} ({price.id})"
            )
            keep = price
        for other in active:
            if other.id != keep.id:
                await self.billing.set_price_active(other.id, False)
                changes.append(
                    f"{currency} price {other.id} ({_amount(other.unit_amount)}) archived"
                )
        return keep.id

    async def _erp_item(self, product: CatalogProduct, changes: list[str]) -> str:
        assert product.code is not None
        external = external_id_for(item_key(product.code))
        wanted = {
            "itemId": product.code,
            "displayName": product.name,
            "custitem_q2c_kind": product.kind,
        }
        try:
            found = await self.erp.find(ITEM, external)
            differs = (
                [name for name, value in wanted.items() if found.get(name) != value]
                if found is not None
                else []
            )
            if found is not None and found.get("isInactive"):  # retired, active again
                differs.append("isInactive")
            if found is None or differs:
                await self.erp.ensure_item(
                    external,
                    product.code,
                    display_name=product.name,
                    kind=product.kind,
                    fields={"isInactive": False},
                )
                changes.append(
                    f"ERP item {external} created"
                    if found is None
                    else f"ERP item {external} updated ({', '.join(differs)})"
                )
        except BusinessError as exc:
            if exc.system != ERP:
                raise
            raise Refused(f"the ERP refused the item: {exc.message}") from exc
        return external

    async def _write_back(
        self,
        product: CatalogProduct,
        price_id: str,
        item_id: str,
        prices: dict[str, str],
        changes: list[str],
    ) -> None:
        """The ids onto Product2 (what ContractWorkflow reads) and each price-book entry."""
        fields: dict[str, str] = {}
        if product.billing_price_id != price_id:
            fields[PRICE_FIELD] = price_id
        if product.erp_item_id != item_id:
            fields[ITEM_FIELD] = item_id
        if fields:
            await self.salesforce.update("Product2", product.id, fields)
            changes.append(f"Product2 {', '.join(fields)} set")
        for entry in product.entries:
            if entry.billing_price_id != prices[entry.currency]:
                await self.salesforce.update(
                    "PricebookEntry", entry.id, {PRICE_FIELD: prices[entry.currency]}
                )

    # -- contracts parked for a missing mapping -------------------------------------------

    @activity.defn(name="catalog_retry_parked")
    async def retry_parked_contracts(self, request: RetryParked) -> list[RetriedContract]:
        """Signal `retry` to every contract parked for a missing mapping whose products are
        all mapped now (found through Temporal visibility); list the others with what they
        still wait on."""
        client = activity.client()
        workflow_ids = [found.id async for found in client.list_workflows(request.query)]
        opportunities = {
            wid: wid.removeprefix(request.workflow_id_prefix)
            for wid in workflow_ids
            if wid.startswith(request.workflow_id_prefix)
        }
        with vendor_errors():
            missing = await self._unmapped_products(sorted(set(opportunities.values())))
        contracts: list[RetriedContract] = []
        for workflow_id, opportunity_id in sorted(opportunities.items()):
            waiting_on = missing.get(opportunity_id, [])
            retried = False
            if not waiting_on:
                try:
                    await client.get_workflow_handle(workflow_id).signal(request.signal)
                    retried = True
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:  # ended meanwhile: nothing to do
                        raise
            contracts.append(
                RetriedContract(workflow_id=workflow_id, retried=retried, waiting_on=waiting_on)
            )
            activity.heartbeat(workflow_id)
        return contracts

    async def _unmapped_products(self, opportunity_ids: list[str]) -> dict[str, list[str]]:
        """Opportunity Id → the codes of its products that still lack a mapping."""
        missing: dict[str, set[str]] = {}
        for chunk in _chunks(opportunity_ids):
            lines = await self.salesforce.query(
                "SELECT OpportunityId, Product2Id, Product2.ProductCode, "
                f"Product2.{PRICE_FIELD}, Product2.{ITEM_FIELD} "
                f"FROM OpportunityLineItem WHERE OpportunityId IN {_in_list(chunk)}"
            )
            for line in lines:
                product = line.get("Product2") or {}
                if not product.get(PRICE_FIELD) or not product.get(ITEM_FIELD):
                    code = product.get("ProductCode") or line.get("Product2Id")
                    missing.setdefault(str(line["OpportunityId"]), set()).add(str(code))
        return {opportunity: sorted(codes) for opportunity, codes in missing.items()}
