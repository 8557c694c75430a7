"""A catalog larger than a page, synced across runs (continue-as-new), and products deactivated in
Salesforce retired: billing prices and product archived, ERP item inactive, idempotently.

Dev server and the sandbox over HTTP, as in test_sync.py; the page size and the pages per run
are made small so that twelve products take several runs.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType

from activities.catalog_io import CatalogSyncInput
from starter.catalog import start_catalog_sync
from tests.catalog.conftest import Catalog, by_code, product

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


async def test_a_catalog_of_several_pages_is_synced_across_runs_with_duplicates_found(
    catalog: Catalog,
) -> None:
    rig = catalog.rig
    # The twins are seeded first and last: the first and the last page (Ids grow with seeding).
    seeded = [product("DUP", "Twin A", prices={"EUR": "1"}, ref="dup-a")]
    seeded += [
        product(f"P-{i:02d}", f"Product {i}", prices={"EUR": str(100 + i)}) for i in range(10)
    ]
    seeded += [product("DUP", "Twin B", prices={"EUR": "2"}, ref="dup-b")]
    ids = await catalog.seed(*seeded)
    ids.pop("standardPricebook")
    assert len(ids) == 12

    request = CatalogSyncInput(page_size=5, pages_per_run=1, retry_parked=False)
    handle, started = await start_catalog_sync(rig.client, rig.settings, request)
    assert started
    result = await handle.result()

    # 5 + 5 + 2 active products, then the (empty) page of inactive ones: a run each.
    assert result.runs == 4, result
    first_run = rig.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    last = [event async for event in first_run.fetch_history_events()][-1]
    assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert result.counts() == {
        "created": 10,
        "updated": 0,
        "unchanged": 0,
        "unmappable": 2,
        "failed": 0,
        "retired": 0,
    }
    assert sorted(p.product_id for p in result.products) == sorted(ids.values())
    twins = [p for p in result.products if p.code == "DUP"]
    assert len(twins) == 2 and all(p.outcome == "unmappable" for p in twins)
    for twin in twins:
        assert twin.reason == (
            f"ProductCode 'DUP' is on 2 active products "
            f"({', '.join(sorted((ids['dup-a'], ids['dup-b'])))})"
        )
    billing = await catalog.billing_products()
    assert sorted(billing) == [f"P-{i:02d}" for i in range(10)]
    assert await catalog.erp_item_count() == 10
    for i in range(10):
        record = await catalog.product2(ids[f"P-{i:02d}"])
        assert record["Q2C_ERP_Item_Id__c"] == f"item-P-{i:02d}"
        assert record["Q2C_Billing_Price_Id__c"] == by_code(result)[f"P-{i:02d}"].billing_price_id
    for ref in ("dup-a", "dup-b"):
        assert (await catalog.product2(ids[ref]))["Q2C_Billing_Price_Id__c"] is None

    # Fewer details than products: the counts still cover all, attention first.
    again = await catalog.sync(page_size=5, pages_per_run=2, detail_limit=3, retry_parked=False)
    assert again.runs == 2
    assert again.counts()["unchanged"] == 10 and again.counts()["unmappable"] == 2
    assert len(again.products) == 3 and again.not_listed == 9
    assert sorted(p.outcome for p in again.products) == ["unchanged", "unmappable", "unmappable"]
    assert len(await catalog.billing_products()) == 10
    assert await catalog.erp_item_count() == 10


async def test_a_deactivated_product_is_retired_once_and_comes_back_when_reactivated(
    catalog: Catalog,
) -> None:
    rig = catalog.rig
    ids = await catalog.seed(
        product("SEAT-PRO", "Seat (Pro)", prices={"EUR": "1100"}),
        product("OLD", "Old support", prices={"EUR": "500", "USD": "550"}),
        product("NEVER", "Never mapped", prices={"EUR": "1"}),
    )
    await rig.salesforce.update("Product2", ids["NEVER"], {"IsActive": False})
    first = by_code(await catalog.sync(retry_parked=False))
    assert first["OLD"].outcome == "created" and "NEVER" not in first
    billing_id = (await catalog.billing_products())["OLD"]["id"]
    old_prices = {p.id for p in await catalog.prices(billing_id)}

    await rig.salesforce.update("Product2", ids["OLD"], {"IsActive": False})
    result = await catalog.sync(retry_parked=False)
    synced = by_code(result)
    assert result.counts()["retired"] == 1 and result.counts()["unchanged"] == 1
    assert "NEVER" not in synced  # inactive, never mapped: nothing to retire
    old = synced["OLD"]
    assert old.outcome == "retired"
    assert "ERP item item-OLD inactive" in old.changes
    assert f"billing product {billing_id} archived" in old.changes
    prices = await catalog.prices(billing_id)
    assert {p.id for p in prices} == old_prices and not any(p.active for p in prices)
    assert (await catalog.billing_products())["OLD"]["active"] is False
    item = await catalog.erp_item("OLD")
    assert item is not None and item["isInactive"] is True
    # The mapping stays on Salesforce (contracts hold these ids); SEAT-PRO is untouched.
    record = await catalog.product2(ids["OLD"])
    assert record["Q2C_Billing_Price_Id__c"] == first["OLD"].billing_price_id
    assert await catalog.active_prices((await catalog.billing_products())["SEAT-PRO"]["id"]) == {
        "EUR": Decimal("1100")
    }

    again = by_code(await catalog.sync(retry_parked=False))
    assert again["OLD"].outcome == "unchanged" and again["OLD"].changes == []
    assert not any(p.active for p in await catalog.prices(billing_id))
    assert len(await catalog.prices(billing_id)) == 2

    # Active again in Salesforce: the same records come back.
    await rig.salesforce.update("Product2", ids["OLD"], {"IsActive": True})
    back = by_code(await catalog.sync(retry_parked=False))["OLD"]
    assert back.outcome == "updated"
    assert back.prices == first["OLD"].prices  # the same prices, active again
    assert await catalog.active_prices(billing_id) == {"EUR": Decimal("500"), "USD": Decimal("550")}
    item = await catalog.erp_item("OLD")
    assert item is not None and item["isInactive"] is False
    assert len(await catalog.prices(billing_id)) == 2 and await catalog.erp_item_count() == 2


async def test_an_inactive_product_leaves_the_records_an_active_one_with_its_code_uses(
    catalog: Catalog,
) -> None:
    rig = catalog.rig
    ids = await catalog.seed(product("SUPPORT", "Support", prices={"EUR": "500"}, ref="v1"))
    await catalog.sync(retry_parked=False)
    # Replaced: the old record deactivated, a new one with the same code.
    await rig.salesforce.update("Product2", ids["v1"], {"IsActive": False})
    new = await catalog.seed(product("SUPPORT", "Support v2", prices={"EUR": "600"}, ref="v2"))

    result = await catalog.sync(retry_parked=False)
    rows = {p.product_id: p for p in result.products}
    assert rows[new["v2"]].outcome == "updated"
    assert rows[ids["v1"]].outcome == "unchanged"
    assert rows[ids["v1"]].reason == (
        f"ProductCode 'SUPPORT' is on active product {new['v2']}: "
        "its billing and ERP records stay in use"
    )
    billing_id = (await catalog.billing_products())["SUPPORT"]["id"]
    assert await catalog.active_prices(billing_id) == {"EUR": Decimal("600")}
    item = await catalog.erp_item("SUPPORT")
    assert item is not None and not item.get("isInactive")
