"""The pure rules of paged catalog sync: which details a result keeps, and duplicate codes."""

from __future__ import annotations

from activities.catalog_io import (
    CatalogSyncResult,
    CatalogSyncState,
    ProductSync,
    codes_on_several,
    keep_details,
)


def sync(n: int, outcome: str) -> ProductSync:
    return ProductSync.model_validate(
        {"product_id": f"01t{n:03d}", "code": f"P{n}", "name": f"P {n}", "outcome": outcome}
    )


def test_details_keep_attention_first_within_the_limit() -> None:
    state = CatalogSyncState()
    outcomes = ["unchanged", "created", "unchanged", "unmappable", "retired", "failed"]
    for n, outcome in enumerate(outcomes):
        state.add(sync(n, outcome), limit=3)
    assert [p.outcome for p in state.products] == ["unmappable", "retired", "failed"]
    assert state.not_listed == 3
    assert state.totals == {
        "unchanged": 2,
        "created": 1,
        "unmappable": 1,
        "retired": 1,
        "failed": 1,
    }
    # A later created one is left out; an unmappable one takes the retired one's place.
    assert keep_details(state.products, sync(9, "created"), 3) is False
    assert [p.outcome for p in state.products] == ["unmappable", "retired", "failed"]
    assert keep_details(state.products, sync(10, "unmappable"), 3) is False
    assert [p.product_id for p in state.products] == ["01t003", "01t005", "01t010"]
    assert keep_details([], sync(1, "failed"), 0) is False


def test_counts_come_from_totals_and_from_products_in_a_result_from_before_paging() -> None:
    paged = CatalogSyncResult(products=[sync(1, "failed")], totals={"failed": 4, "created": 7})
    assert paged.counts() == {
        "created": 7,
        "updated": 0,
        "unchanged": 0,
        "unmappable": 0,
        "failed": 4,
        "retired": 0,
    }
    old = CatalogSyncResult.model_validate(
        {"products": [sync(1, "created").model_dump(), sync(2, "created").model_dump()]}
    )
    assert old.counts()["created"] == 2 and old.not_listed == 0


def test_codes_on_several_sees_active_products_of_other_pages() -> None:
    active = [("01tA", "DUP"), ("01tZ", "DUP"), ("01tB", "ONE"), ("01tC", "dup")]
    found = codes_on_several([("01tA", "DUP"), ("01tB", "ONE"), ("01tD", None)], active)
    assert found == {"01tA": "ProductCode 'DUP' is on 2 active products (01tA, 01tZ)"}
