"""CatalogSyncWorkflow on the dev server against the sandbox over HTTP.

Salesforce holds the catalog; after a sync every mappable product has one billing product, one
active billing price per price-book currency at the list price, and one ERP item, and its ids
are on Product2 (what ContractWorkflow checks at activation) and on each price-book entry.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.catalog.conftest import Catalog, by_code, product
from tests.workflows.conftest import ContractRig, contract_scenario, seats

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


async def test_fresh_catalog_creates_products_prices_items_and_mappings(catalog: Catalog) -> None:
    ids = await catalog.seed(
        product("SEAT-PRO", "Seat (Pro)", prices={"EUR": "1100", "USD": "1200"}),
        product("ONBOARD", "Onboarding", kind="one_time", prices={"USD": "5000"}),
        product("API-CALLS", "API calls", kind="usage", prices={"EUR": "0.002"}),
    )
    result = await catalog.sync()

    assert result.counts() == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "unmappable": 0,
        "failed": 0,
        "retired": 0,
    }
    billing = await catalog.billing_products()
    assert {code: p["name"] for code, p in billing.items()} == {
        "SEAT-PRO": "Seat (Pro)",
        "ONBOARD": "Onboarding",
        "API-CALLS": "API calls",
    }
    assert await catalog.active_prices(billing["SEAT-PRO"]["id"]) == {
        "EUR": Decimal("1100"),
        "USD": Decimal("1200"),
    }
    assert await catalog.active_prices(billing["API-CALLS"]["id"]) == {"EUR": Decimal("0.002")}
    synced = by_code(result)
    for code, kind in (
        ("SEAT-PRO", "subscription"),
        ("ONBOARD", "one_time"),
        ("API-CALLS", "usage"),
    ):
        item = await catalog.erp_item(code)
        assert item is not None and item["itemId"] == code and item["custitem_q2c_kind"] == kind
        record = await catalog.product2(ids[code])
        assert record["Q2C_ERP_Item_Id__c"] == f"item-{code}"
        assert record["Q2C_Billing_Price_Id__c"] == synced[code].billing_price_id
        for currency, entry in (await catalog.entries(ids[code])).items():
            assert entry["Q2C_Billing_Price_Id__c"] == synced[code].prices[currency]
    # Product2 carries the price in the product's own currency (USD, the org's default).
    assert synced["SEAT-PRO"].billing_price_id == synced["SEAT-PRO"].prices["USD"]
    # EUR only: the one currency it has.
    assert synced["API-CALLS"].billing_price_id == synced["API-CALLS"].prices["EUR"]

    again = await catalog.sync()
    assert again.counts()["unchanged"] == 3, again
    assert all(p.changes == [] for p in again.products)
    assert len(await catalog.billing_products()) == 3
    assert await catalog.erp_item_count() == 3


async def test_price_and_name_changes_make_a_new_price_and_update_the_item(
    catalog: Catalog,
) -> None:
    ids = await catalog.seed(
        product("SEAT-PRO", "Seat", prices={"EUR": "1100", "USD": "1200"}),
        product("SUPPORT", "Support", prices={"EUR": "6000"}),
    )
    first = by_code(await catalog.sync())
    seat_entries = await catalog.entries(ids["SEAT-PRO"])
    await catalog.rig.salesforce.update(
        "PricebookEntry", seat_entries["USD"]["Id"], {"UnitPrice": 1350}
    )
    await catalog.rig.salesforce.update("Product2", ids["SEAT-PRO"], {"Name": "Seat (Pro)"})

    result = await catalog.sync()
    synced = by_code(result)
    assert result.counts()["updated"] == 1 and result.counts()["unchanged"] == 1
    seat = synced["SEAT-PRO"]
    assert seat.outcome == "updated"
    assert seat.prices["EUR"] == first["SEAT-PRO"].prices["EUR"]  # EUR did not change
    new_usd, old_usd = seat.prices["USD"], first["SEAT-PRO"].prices["USD"]
    assert new_usd != old_usd
    billing_id = (await catalog.billing_products())["SEAT-PRO"]["id"]
    prices = {p.id: p for p in await catalog.prices(billing_id)}
    assert prices[old_usd].active is False and prices[old_usd].unit_amount == Decimal("1200")
    assert prices[new_usd].active is True and prices[new_usd].unit_amount == Decimal("1350")
    assert len(prices) == 3
    assert (await catalog.billing_products())["SEAT-PRO"]["name"] == "Seat (Pro)"
    item = await catalog.erp_item("SEAT-PRO")
    assert item is not None and item["displayName"] == "Seat (Pro)"
    record = await catalog.product2(ids["SEAT-PRO"])
    assert record["Q2C_Billing_Price_Id__c"] == new_usd
    assert (await catalog.entries(ids["SEAT-PRO"]))["USD"]["Q2C_Billing_Price_Id__c"] == new_usd

    # Nothing duplicated on a re-run; back to the old price reactivates that price.
    again = await catalog.sync()
    assert again.counts()["unchanged"] == 2
    assert len(await catalog.prices(billing_id)) == 3
    await catalog.rig.salesforce.update(
        "PricebookEntry", seat_entries["USD"]["Id"], {"UnitPrice": 1200}
    )
    back = by_code(await catalog.sync())["SEAT-PRO"]
    assert back.prices["USD"] == old_usd
    assert await catalog.active_prices(billing_id) == {
        "EUR": Decimal("1100"),
        "USD": Decimal("1200"),
    }
    assert len(await catalog.prices(billing_id)) == 3
    assert await catalog.erp_item_count() == 2


async def test_unmappable_products_are_listed_with_the_reason_and_not_created(
    catalog: Catalog,
) -> None:
    ids = await catalog.seed(
        product("SEAT-PRO", "Seat", prices={"EUR": "1100"}),
        product("NO-PRICE", "Retired support"),  # no price-book entry
        product("NO-KIND", "Mystery", kind=None, prices={"EUR": "10"}),
        product(None, "No code", prices={"EUR": "10"}, ref="nocode"),
        product("DUP", "Twin A", prices={"EUR": "1"}, ref="dup-a"),
        product("DUP", "Twin B", prices={"EUR": "2"}, ref="dup-b"),
        # Above what the billing platform takes for one unit (99,999,999,999 minor units).
        product("HUGE", "Too big to bill", prices={"JPY": "100000000000"}),
    )
    result = await catalog.sync()

    reasons = {p.code or p.name: (p.outcome, p.reason) for p in result.products}
    assert reasons["SEAT-PRO"] == ("created", None)
    assert reasons["NO-PRICE"] == (
        "unmappable",
        "no active price-book entry (standard price book)",
    )
    assert reasons["NO-KIND"] == ("unmappable", "no charge kind (Q2C_Kind__c)")
    assert reasons["No code"] == ("unmappable", "no ProductCode")
    twins = [p for p in result.products if p.code == "DUP"]
    assert len(twins) == 2 and all(p.outcome == "unmappable" for p in twins)
    assert all("ProductCode 'DUP' is on 2 active products" in str(p.reason) for p in twins)
    outcome, reason = reasons["HUGE"]
    assert outcome == "unmappable"
    assert reason is not None and reason.startswith("billing refused the JPY price:")
    assert result.counts() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "unmappable": 6,
        "failed": 0,
        "retired": 0,
    }

    billing = await catalog.billing_products()
    assert set(billing) <= {"SEAT-PRO", "HUGE"}
    if "HUGE" in billing:  # the product may exist; no price does, and nothing points at it
        assert await catalog.prices(billing["HUGE"]["id"]) == []
    for ref in ("NO-PRICE", "NO-KIND", "nocode", "dup-a", "dup-b", "HUGE"):
        record = await catalog.product2(ids[ref])
        assert record["Q2C_Billing_Price_Id__c"] is None, ref
        assert record["Q2C_ERP_Item_Id__c"] is None, ref
    assert await catalog.erp_item("HUGE") is None
    assert await catalog.erp_item_count() == 1

    # Fixed in Salesforce, the next sync maps it.
    await catalog.rig.salesforce.update("Product2", ids["NO-KIND"], {"Q2C_Kind__c": "one_time"})
    fixed = by_code(await catalog.sync())
    assert fixed["NO-KIND"].outcome == "created"
    assert fixed["SEAT-PRO"].outcome == "unchanged"


async def test_contract_parked_for_a_missing_mapping_is_retried_and_activates(
    catalog: Catalog,
) -> None:
    rig: ContractRig = catalog.rig
    start = dt.date(2026, 1, 1)
    end = dt.date(2026, 12, 31)
    mappable = await rig.book(
        contract_scenario(start=start, end=end, lines=[seats(10, "1200.00")]), mapped=False
    )
    legacy_line = {
        "id": "L1",
        "product_code": "LEGACY",
        "kind": "subscription",
        "quantity": 1,
        "unit_price": "6000.00",
    }
    stuck = await rig.book(
        contract_scenario(start=start, end=end, lines=[legacy_line]), mapped=False
    )
    # LEGACY leaves the price book: no sync can map it, so its contract must stay parked.
    entries = await catalog.entries(stuck.product_ids["LEGACY"])
    await rig.salesforce.update("PricebookEntry", entries["EUR"]["Id"], {"IsActive": False})

    handles = [await rig.start(mappable), await rig.start(stuck)]
    for handle in handles:
        await rig.parked(handle, "missing_product_mapping")
        await rig.wait_visible(
            'AttentionReason = "missing_product_mapping" AND ExecutionStatus = "Running"',
            handle.id,
        )

    result = await catalog.sync()
    synced = by_code(result)
    assert synced["SEAT-PRO"].outcome == "created"
    assert synced["LEGACY"].outcome == "unmappable"
    contracts = {c.workflow_id: c for c in result.contracts}
    assert contracts[mappable.workflow_id].retried is True
    assert contracts[stuck.workflow_id].retried is False
    assert contracts[stuck.workflow_id].waiting_on == ["LEGACY"]

    status = await rig.settled(handles[0])
    assert status.stage == "Active" and status.attention_reason is None
    assert len(await rig.invoices(mappable)) == 3  # January to March, caught up at once
    status = await rig.parked(handles[1], "missing_product_mapping")
    assert await rig.invoices(stuck) == []


async def test_a_product_fails_while_its_vendor_is_down_and_the_next_run_completes_it(
    catalog: Catalog,
) -> None:
    ids = await catalog.seed(
        product("SEAT-PRO", "Seat (Pro)", prices={"EUR": "1100"}),
        product("NO-PRICE", "Retired support"),
    )
    catalog.rig.sandbox.set_faults(
        "erp", [{"route": "*serviceSaleItem*", "error_rate": 1, "error_status": 503}]
    )
    result = await catalog.sync(vendor_window_seconds=3, retry_parked=False)
    synced = by_code(result)
    assert synced["SEAT-PRO"].outcome == "failed"
    assert synced["SEAT-PRO"].reason is not None and "erp" in synced["SEAT-PRO"].reason
    assert synced["NO-PRICE"].outcome == "unmappable"  # the others go on
    record = await catalog.product2(ids["SEAT-PRO"])
    assert record["Q2C_Billing_Price_Id__c"] is None and record["Q2C_ERP_Item_Id__c"] is None

    catalog.rig.sandbox.clear_faults()
    seat = by_code(await catalog.sync(retry_parked=False))["SEAT-PRO"]
    # Billing was done before the ERP failed: found again, not made twice.
    assert seat.outcome == "updated"
    assert "ERP item item-SEAT-PRO created" in seat.changes
    assert not any("billing product" in change for change in seat.changes)
    billing = await catalog.billing_products()
    assert list(billing) == ["SEAT-PRO"]
    assert await catalog.active_prices(billing["SEAT-PRO"]["id"]) == {"EUR": Decimal("1100")}
    assert len(await catalog.prices(billing["SEAT-PRO"]["id"])) == 1
    record = await catalog.product2(ids["SEAT-PRO"])
    assert record["Q2C_Billing_Price_Id__c"] == seat.billing_price_id
    assert record["Q2C_ERP_Item_Id__c"] == "item-SEAT-PRO"
