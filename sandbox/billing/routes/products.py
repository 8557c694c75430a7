"""`/v1/products`: create, retrieve, update, list, search."""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing import shapes
from sandbox.billing.errors import invalid
from sandbox.billing.ids import new_id
from sandbox.billing.models import JsonObject
from sandbox.billing.params import Params
from sandbox.billing.routes.common import list_response, merge_metadata, search_response
from sandbox.billing.search import FieldKind
from sandbox.billing.service import Api, Reader, Result, Tx
from sandbox.billing.store import Store

router = APIRouter()
SEARCH_FIELDS: dict[str, FieldKind] = {
    "active": "bool",
    "created": "number",
    "description": "text",
    "name": "text",
    "shippable": "bool",
    "url": "exact",
}
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")


def build(store: Store, params: Params, now: int, *, name_param: str = "name") -> JsonObject:
    """A new product from `params` (also used by `product_data` on price creation)."""
    custom_id = params.identifier("id")
    if custom_id is not None:
        if not _CUSTOM_ID.match(custom_id):
            raise invalid(f"Invalid id: {custom_id}", param=params.name("id"))
        if store.get("product", custom_id) is not None:
            raise invalid(
                f"Product already exists: {custom_id}",
                param=params.name("id"),
                code="resource_already_exists",
            )
    product = shapes.product(
        custom_id or new_id("product", 14),
        now,
        name=params.string(name_param, required=True, max_length=250) or "",
        active=params.boolean("active") is not False,
        description=params.string("description", max_length=40000),
        metadata={k: v for k, v in (params.metadata() or {}).items() if v},
        unit_label=params.string("unit_label", max_length=12),
        product_type=params.choice("type", ("good", "service")) or "service",
    )
    return store.insert(product)


def create(tx: Tx) -> Result:
    product = build(tx.store, tx.params, tx.now)
    tx.emit("product.created", product)
    return Result(product)


def update(tx: Tx, product_id: str) -> Result:
    p = tx.params
    product = tx.store.require("product", product_id)
    before = dict(product)
    if p.has("name"):
        product["name"] = p.string("name", required=True, max_length=250)
    if p.has("description"):
        product["description"] = p.string("description", max_length=40000)
    if p.has("active"):
        product["active"] = p.boolean("active") is not False
    if p.has("unit_label"):
        product["unit_label"] = p.string("unit_label", max_length=12)
    product["metadata"] = merge_metadata(product["metadata"], p.metadata())
    product["updated"] = tx.now
    tx.store.save(product)
    tx.emit("product.updated", product, {k: v for k, v in before.items() if product[k] != v})
    return Result(product)


def _list(reader: Reader) -> JsonObject:
    active = reader.params.boolean("active")
    ids = set(reader.params.strings("ids"))
    return list_response(
        reader,
        "product",
        "/v1/products",
        where=lambda o: (active is None or o["active"] == active) and (not ids or o["id"] in ids),
    )


@router.post("/v1/products")
def create_product(api: Api) -> JSONResponse:
    return api.mutate(create)


@router.get("/v1/products")
def list_products(api: Api) -> JSONResponse:
    return api.read(_list)


@router.get("/v1/products/search")
def search_products(api: Api) -> JSONResponse:
    return api.read(lambda r: search_response(r, "product", "/v1/products/search", SEARCH_FIELDS))


@router.get("/v1/products/{product_id}")
def retrieve_product(product_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: r.store.require("product", product_id))


@router.post("/v1/products/{product_id}")
def update_product(product_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: update(tx, product_id))
