"""`/v1/prices`: create (with `product` or `product_data`), retrieve, update, list, search."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing import shapes
from sandbox.billing.errors import invalid
from sandbox.billing.ids import new_id
from sandbox.billing.models import JsonObject
from sandbox.billing.params import Params
from sandbox.billing.routes import products
from sandbox.billing.routes.common import list_response, merge_metadata, search_response
from sandbox.billing.search import FieldKind
from sandbox.billing.service import Api, Reader, Result, Tx
from sandbox.billing.store import Store

router = APIRouter()
SEARCH_FIELDS: dict[str, FieldKind] = {
    "active": "bool",
    "created": "number",
    "currency": "exact",
    "lookup_key": "exact",
    "product": "exact",
    "type": "exact",
}
TAX_BEHAVIOR = ("exclusive", "inclusive", "unspecified")
MAX_AMOUNT = 99_999_999_999


def unit_amount(params: Params) -> Decimal:
    """Exactly one of `unit_amount` (integer) and `unit_amount_decimal` (12 places)."""
    whole = params.integer("unit_amount", minimum=0, maximum=MAX_AMOUNT)
    fraction = params.decimal("unit_amount_decimal")
    if whole is not None and fraction is not None:
        raise invalid(
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            param=params.name("unit_amount_decimal"),
        )
    if whole is None and fraction is None:
        raise invalid(
            "Missing required param: unit_amount (or unit_amount_decimal).",
            param=params.name("unit_amount"),
            code="parameter_missing",
        )
    value = Decimal(whole) if whole is not None else fraction
    assert value is not None
    if value < 0:
        raise invalid(
            "Invalid unit_amount_decimal: must be at least 0",
            param=params.name("unit_amount_decimal"),
        )
    return value


def _recurring(params: Params) -> JsonObject | None:
    nested = params.nested("recurring")
    if nested is None:
        return None
    return {
        "interval": nested.choice("interval", ("day", "week", "month", "year"), required=True),
        "interval_count": nested.integer("interval_count", minimum=1, maximum=365) or 1,
        "meter": None,
        "trial_period_days": nested.integer("trial_period_days", minimum=0),
        "usage_type": nested.choice("usage_type", ("licensed", "metered")) or "licensed",
    }


def _product_id(tx: Tx) -> str:
    p = tx.params
    product_id = p.identifier("product")
    product_data = p.nested("product_data")
    if (product_id is None) == (product_data is None):
        raise invalid("You must specify exactly one of product or product_data.", param="product")
    if product_id is not None:
        product = tx.store.require("product", product_id, param="product")
        if not product["active"]:
            raise invalid(
                f"The product {product_id} is inactive.", param="product", code="product_inactive"
            )
        return product_id
    assert product_data is not None
    product = products.build(tx.store, product_data, tx.now)
    tx.emit("product.created", product)
    return str(product["id"])


def _release_lookup_key(store: Store, lookup_key: str, transfer: bool) -> None:
    """Lookup keys are unique: taken ones move only with `transfer_lookup_key=true`."""
    for other in store.all("price"):
        if other.get("lookup_key") == lookup_key:
            if not transfer:
                raise invalid(
                    f"A price (`{other['id']}`) already uses that lookup key.",
                    param="lookup_key",
                )
            other["lookup_key"] = None
            store.save(other)


def create(tx: Tx) -> Result:
    p = tx.params
    currency = p.currency(required=True)
    assert currency is not None
    amount = unit_amount(p)
    product_id = _product_id(tx)
    lookup_key = p.string("lookup_key", max_length=200)
    transfer = p.boolean("transfer_lookup_key") is True
    if lookup_key:
        _release_lookup_key(tx.store, lookup_key, transfer)
    p.choice("billing_scheme", ("per_unit",))  # tiered prices are not part of the sandbox
    price = shapes.price(
        new_id("price"),
        tx.now,
        product_id=product_id,
        currency=currency,
        unit_amount_decimal=amount,
        active=p.boolean("active") is not False,
        lookup_key=lookup_key,
        metadata={k: v for k, v in (p.metadata() or {}).items() if v},
        nickname=p.string("nickname", max_length=250),
        recurring=_recurring(p),
        tax_behavior=p.choice("tax_behavior", TAX_BEHAVIOR) or "unspecified",
    )
    tx.store.insert(price)
    tx.emit("price.created", price)
    return Result(price)


def update(tx: Tx, price_id: str) -> Result:
    p = tx.params
    price = tx.store.require("price", price_id)
    before = dict(price)
    if p.has("active"):
        price["active"] = p.boolean("active") is not False
    if p.has("nickname"):
        price["nickname"] = p.string("nickname", max_length=250)
    if p.has("lookup_key"):
        lookup_key = p.string("lookup_key", max_length=200)
        if lookup_key:
            _release_lookup_key(tx.store, lookup_key, p.boolean("transfer_lookup_key") is True)
        price["lookup_key"] = lookup_key
    price["metadata"] = merge_metadata(price["metadata"], p.metadata())
    tx.store.save(price)
    tx.emit("price.updated", price, {k: v for k, v in before.items() if price[k] != v})
    return Result(price)


def _list(reader: Reader) -> JsonObject:
    p = reader.params
    active = p.boolean("active")
    currency = p.currency()
    product = p.identifier("product")
    price_type = p.choice("type", ("one_time", "recurring"))
    lookup_keys = set(p.strings("lookup_keys", max_items=10))

    def keep(o: JsonObject) -> bool:
        return (
            (active is None or o["active"] == active)
            and (currency is None or o["currency"] == currency)
            and (product is None or o["product"] == product)
            and (price_type is None or o["type"] == price_type)
            and (not lookup_keys or o["lookup_key"] in lookup_keys)
        )

    return list_response(reader, "price", "/v1/prices", where=keep)


@router.post("/v1/prices")
def create_price(api: Api) -> JSONResponse:
    return api.mutate(create)


@router.get("/v1/prices")
def list_prices(api: Api) -> JSONResponse:
    return api.read(_list)


@router.get("/v1/prices/search")
def search_prices(api: Api) -> JSONResponse:
    return api.read(lambda r: search_response(r, "price", "/v1/prices/search", SEARCH_FIELDS))


@router.get("/v1/prices/{price_id}")
def retrieve_price(price_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: r.store.require("price", price_id))


@router.post("/v1/prices/{price_id}")
def update_price(price_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: update(tx, price_id))
