"""Fixtures of the catalog-sync tests: a worker on the dev server against the emptied sandbox.

`contract_rig` (tests/workflows) runs the real worker (every workflow and activity, catalog
sync included) on a task queue of its own; `Catalog` seeds Salesforce products with their
standard price-book entries and reads back what billing, the ERP and Salesforce hold.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from activities.catalog_io import CatalogSyncInput, CatalogSyncResult, ProductSync
from adapters.billing import BillingPrice
from adapters.erp import ITEM
from starter.catalog import run_catalog_sync
from tests.workflows.conftest import ContractRig, contract_rig, ledger_engine

__all__ = ["Catalog", "catalog", "contract_rig", "ledger_engine"]


def product(
    code: str | None,
    name: str,
    *,
    kind: str | None = "subscription",
    prices: dict[str, str] | None = None,
    ref: str | None = None,
) -> dict[str, Any]:
    """A Product2 and its standard price-book entries, as seed records."""
    ref = ref or (code or name).replace(" ", "-")
    record: dict[str, Any] = {
        "attributes": {"referenceId": ref},
        "Name": name,
        "ProductCode": code,
        "IsActive": True,
        "Q2C_Kind__c": kind,
    }
    entries = [
        {
            "Pricebook2Id": "@standardPricebook",
            "Product2Id": f"@{ref}",
            "UnitPrice": price,
            "CurrencyIsoCode": currency,
            "IsActive": True,
        }
        for currency, price in (prices or {}).items()
    ]
    return {"Product2": [record], "PricebookEntry": entries}


@dataclass
class Catalog:
    rig: ContractRig

    async def seed(self, *products: dict[str, Any]) -> dict[str, str]:
        """Load the products; returns reference → Product2 Id."""
        body: dict[str, list[dict[str, Any]]] = {"Product2": [], "PricebookEntry": []}
        for item in products:
            body["Product2"] += item["Product2"]
            body["PricebookEntry"] += item["PricebookEntry"]
        answer = await asyncio.to_thread(self.rig.sandbox.seed, "salesforce", body)
        return dict(answer["ids"])

    async def sync(self, **request: Any) -> CatalogSyncResult:
        result, _ = await run_catalog_sync(
            self.rig.client, self.rig.settings, CatalogSyncInput(**request)
        )
        return result

    async def product2(self, product_id: str) -> dict[str, Any]:
        return await self.rig.salesforce.get("Product2", product_id)

    async def entries(self, product_id: str) -> dict[str, dict[str, Any]]:
        """Currency → the product's standard price-book entry."""
        records = await self.rig.salesforce.query(
            "SELECT Id, CurrencyIsoCode, UnitPrice, Q2C_Billing_Price_Id__c FROM PricebookEntry "
            f"WHERE Product2Id = '{product_id}'"
        )
        return {str(r["CurrencyIsoCode"]): r for r in records}

    async def billing_products(self) -> dict[str, Any]:
        """Product code → the billing product (the sandbox's state, read over HTTP)."""
        state = await asyncio.to_thread(self.rig.sandbox.state, "billing")
        found: dict[str, Any] = {}
        for obj in state["product"]:
            code = str((obj.get("metadata") or {}).get("q2c_product_code"))
            assert code not in found, f"two billing products for {code}"
            found[code] = obj
        return found

    async def prices(self, billing_product_id: str) -> list[BillingPrice]:
        return await self.rig.billing.list_prices(billing_product_id)

    async def active_prices(self, billing_product_id: str) -> dict[str, Decimal]:
        """Currency → amount of each active price (at most one per currency)."""
        active: dict[str, Decimal] = {}
        for price in await self.prices(billing_product_id):
            if price.active:
                assert price.currency not in active, f"two active {price.currency} prices"
                active[price.currency] = price.unit_amount
        return active

    async def erp_item(self, code: str) -> dict[str, Any] | None:
        return await self.rig.erp.find(ITEM, f"item-{code}")

    async def erp_item_count(self) -> int:
        return len(await self.rig.erp.list_ids(ITEM))


def by_code(result: CatalogSyncResult) -> dict[str, ProductSync]:
    return {p.code or p.name: p for p in result.products}


@pytest.fixture
def catalog(contract_rig: ContractRig) -> Catalog:
    return Catalog(contract_rig)
