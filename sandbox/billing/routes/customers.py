"""`/v1/customers`: create, retrieve, update, list, search."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing import shapes
from sandbox.billing.errors import invalid
from sandbox.billing.ids import invoice_prefix, new_id
from sandbox.billing.models import JsonObject
from sandbox.billing.params import Params
from sandbox.billing.routes.common import list_response, merge_metadata, search_response
from sandbox.billing.search import FieldKind
from sandbox.billing.service import Api, Reader, Result, Tx

router = APIRouter()
SEARCH_FIELDS: dict[str, FieldKind] = {
    "created": "number",
    "email": "text",
    "name": "text",
    "phone": "exact",
}
TAX_EXEMPT = ("none", "exempt", "reverse")
ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def _address(params: Params) -> dict[str, str | None] | None:
    nested = params.nested("address")
    if nested is None:
        return None
    return {field: nested.string(field, max_length=200) for field in ADDRESS_FIELDS}


def _payment_method(params: Params, key: str) -> str | None:
    value = params.identifier(key)
    if value is not None and not value.startswith("pm_"):
        raise invalid(
            f"No such PaymentMethod: '{value}'", param=params.name(key), code="resource_missing"
        )
    return value


def create(tx: Tx) -> Result:
    p = tx.params
    settings = p.nested("invoice_settings")
    _payment_method(p, "payment_method")  # attaching is accepted; paying uses the default
    default_pm = _payment_method(settings, "default_payment_method") if settings else None
    prefix = p.string("invoice_prefix", max_length=12)
    if prefix is not None and not (
        3 <= len(prefix) <= 12 and prefix.isalnum() and prefix.isupper()
    ):
        raise invalid(
            "Invalid invoice_prefix: 3 to 12 uppercase letters or digits.", param="invoice_prefix"
        )
    customer = shapes.customer(
        new_id("customer", 14),
        tx.now,
        name=p.string("name", max_length=256),
        email=p.string("email", max_length=512),
        description=p.string("description", max_length=350),
        phone=p.string("phone", max_length=20),
        metadata={k: v for k, v in (p.metadata() or {}).items() if v},
        invoice_prefix=prefix or invoice_prefix(),
        address=_address(p),
        preferred_locales=p.strings("preferred_locales"),
        default_payment_method=default_pm or None,
        footer=settings.string("footer") if settings else None,
        tax_exempt=p.choice("tax_exempt", TAX_EXEMPT) or "none",
    )
    tx.store.insert(customer)
    tx.emit("customer.created", customer)
    return Result(customer)


def update(tx: Tx, customer_id: str) -> Result:
    p = tx.params
    customer = tx.store.require("customer", customer_id)
    before = dict(customer)
    for key, limit in (("name", 256), ("email", 512), ("description", 350), ("phone", 20)):
        if p.has(key):
            customer[key] = p.string(key, max_length=limit)
    if p.has("address"):
        customer["address"] = _address(p)
    customer["metadata"] = merge_metadata(customer["metadata"], p.metadata())
    settings = p.nested("invoice_settings")
    if settings is not None:
        if settings.has("default_payment_method"):
            customer["invoice_settings"]["default_payment_method"] = _payment_method(
                settings, "default_payment_method"
            )
        if settings.has("footer"):
            customer["invoice_settings"]["footer"] = settings.string("footer")
    if p.has("tax_exempt"):
        customer["tax_exempt"] = p.choice("tax_exempt", TAX_EXEMPT)
    tx.store.save(customer)
    changed = {k: v for k, v in before.items() if customer.get(k) != v}
    tx.emit("customer.updated", customer, changed)
    return Result(customer)


def _list(reader: Reader) -> JsonObject:
    email = reader.params.string("email")
    return list_response(
        reader,
        "customer",
        "/v1/customers",
        where=(lambda c: c.get("email") == email) if email else None,
    )


@router.post("/v1/customers")
def create_customer(api: Api) -> JSONResponse:
    return api.mutate(create)


@router.get("/v1/customers")
def list_customers(api: Api) -> JSONResponse:
    return api.read(_list)


@router.get("/v1/customers/search")
def search_customers(api: Api) -> JSONResponse:
    return api.read(lambda r: search_response(r, "customer", "/v1/customers/search", SEARCH_FIELDS))


@router.get("/v1/customers/{customer_id}")
def retrieve_customer(customer_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: r.store.require("customer", customer_id))


@router.post("/v1/customers/{customer_id}")
def update_customer(customer_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: update(tx, customer_id))
