"""`/v1/invoices`: create a draft, update, finalize, pay, void, mark uncollectible, list, search."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing import invoicing, shapes
from sandbox.billing.errors import invalid
from sandbox.billing.ids import new_id
from sandbox.billing.models import JsonObject
from sandbox.billing.params import Params
from sandbox.billing.routes.common import list_response, merge_metadata, search_response, show
from sandbox.billing.search import FieldKind
from sandbox.billing.service import Api, Reader, Result, Tx
from sandbox.billing.store import ListQuery, list_object, paginate

router = APIRouter()
SEARCH_FIELDS: dict[str, FieldKind] = {
    "created": "number",
    "currency": "exact",
    "customer": "exact",
    "number": "exact",
    "status": "exact",
    "subscription": "exact",
    "total": "number",
}
COLLECTION_METHODS = ("charge_automatically", "send_invoice")
STATUSES = ("draft", "open", "paid", "uncollectible", "void")
DAY = 24 * 60 * 60


def _custom_fields(params: Params) -> list[JsonObject] | None:
    fields = params.items("custom_fields", max_items=4)
    if not fields:
        return None
    return [
        {
            "name": f.string("name", required=True, max_length=40),
            "value": f.string("value", required=True, max_length=140),
        }
        for f in fields
    ]


def _payment_method(params: Params) -> str | None:
    value = params.identifier("default_payment_method")
    if value is not None and not value.startswith("pm_"):
        raise invalid(
            f"No such PaymentMethod: '{value}'",
            param="default_payment_method",
            code="resource_missing",
        )
    return value


def _unique_number(tx: Tx, number: str | None, invoice_id: str | None = None) -> str | None:
    if number is not None:
        for other in tx.store.all("invoice"):
            if other["number"] == number and other["id"] != invoice_id:
                raise invalid(f"An invoice with number {number} already exists.", param="number")
    return number


def _due_date(p: Params, collection: str, now: int) -> int | None:
    days = p.integer("days_until_due", minimum=0, maximum=10_000)
    due = p.timestamp("due_date")
    if collection == "charge_automatically":
        if days is not None or due is not None:
            raise invalid(
                "Invoices with collection_method=charge_automatically cannot have a due date "
                "(days_until_due or due_date).",
                param="days_until_due" if days is not None else "due_date",
            )
        return None
    if days is not None and due is not None:
        raise invalid(
            "You may only specify one of these parameters: days_until_due, due_date.",
            param="due_date",
        )
    if days is None and due is None:
        raise invalid(
            "Invoices with collection_method=send_invoice need days_until_due or due_date.",
            param="days_until_due",
        )
    return due if due is not None else now + int(days or 0) * DAY


def create(tx: Tx) -> Result:
    p = tx.params
    customer_id = p.identifier("customer", required=True)
    assert customer_id is not None
    customer = tx.store.require("customer", customer_id, param="customer")
    collection = p.choice("collection_method", COLLECTION_METHODS) or "charge_automatically"
    currency = p.currency() or customer["currency"] or "usd"
    behavior = p.choice("pending_invoice_items_behavior", ("exclude", "include")) or "exclude"
    inv = shapes.invoice(
        new_id("invoice"),
        tx.now,
        cust=customer,
        currency=currency,
        auto_advance=p.boolean("auto_advance") is True,
        collection_method=collection,
        due_date=_due_date(p, collection, tx.now),
        description=p.string("description", max_length=1500),
        footer=p.string("footer", max_length=5000),
        metadata={k: v for k, v in (p.metadata() or {}).items() if v},
        effective_at=p.timestamp("effective_at"),
        number=_unique_number(tx, p.string("number", max_length=26)),
        default_payment_method=_payment_method(p),
        custom_fields=_custom_fields(p),
        statement_descriptor=p.string("statement_descriptor", max_length=22),
    )
    tx.store.insert(inv)
    if behavior == "include":
        for item in tx.store.all("invoiceitem", customer=customer_id, newest_first=False):
            if item["invoice"] is None and item["currency"] == currency:
                item["invoice"] = inv["id"]
                tx.store.save(item)
    inv = invoicing.refresh(tx.store, inv)
    tx.emit("invoice.created", inv)
    return Result(show(inv))


def update(tx: Tx, invoice_id: str) -> Result:
    p = tx.params
    inv = tx.store.require("invoice", invoice_id)
    before = dict(inv)
    inv["metadata"] = merge_metadata(inv["metadata"], p.metadata())
    for key, limit in (("description", 1500), ("footer", 5000)):
        if p.has(key):
            inv[key] = p.string(key, max_length=limit)
    if p.has("auto_advance"):
        inv["auto_advance"] = p.boolean("auto_advance") is True
    draft_only = (
        "effective_at",
        "number",
        "default_payment_method",
        "custom_fields",
        "statement_descriptor",
        "collection_method",
        "days_until_due",
        "due_date",
    )
    if any(p.has(key) for key in draft_only):
        if inv["status"] != "draft":
            raise invoicing.not_editable(inv)
        if p.has("effective_at"):
            inv["effective_at"] = p.timestamp("effective_at")
        if p.has("number"):
            inv["number"] = _unique_number(tx, p.string("number", max_length=26), invoice_id)
        if p.has("default_payment_method"):
            inv["default_payment_method"] = _payment_method(p)
        if p.has("custom_fields"):
            inv["custom_fields"] = _custom_fields(p)
        if p.has("statement_descriptor"):
            inv["statement_descriptor"] = p.string("statement_descriptor", max_length=22)
        if any(p.has(k) for k in ("collection_method", "days_until_due", "due_date")):
            collection = p.choice("collection_method", COLLECTION_METHODS)
            inv["collection_method"] = collection or inv["collection_method"]
            inv["due_date"] = _due_date(p, inv["collection_method"], tx.now)
    tx.store.save(inv)
    changed = {k: v for k, v in before.items() if inv[k] != v and k != "lines"}
    tx.emit("invoice.updated", inv, changed)
    return Result(show(inv))


def _transition(tx: Tx, invoice_id: str, action: str) -> Result:
    inv = tx.store.require("invoice", invoice_id)
    if action == "pay":
        return invoicing.pay(tx, inv)
    if action == "finalize":
        tx.params.boolean("auto_advance")
        inv = invoicing.finalize(tx, inv)
    elif action == "void":
        inv = invoicing.void(tx, inv)
    else:
        inv = invoicing.mark_uncollectible(tx, inv)
    return Result(show(inv))


def _list(reader: Reader) -> JsonObject:
    p = reader.params
    customer = p.identifier("customer")
    status = p.choice("status", STATUSES)
    collection = p.choice("collection_method", COLLECTION_METHODS)

    def keep(o: JsonObject) -> bool:
        return (status is None or o["status"] == status) and (
            collection is None or o["collection_method"] == collection
        )

    return list_response(reader, "invoice", "/v1/invoices", customer=customer, where=keep)


def _lines(reader: Reader, invoice_id: str) -> JsonObject:
    inv = reader.store.require("invoice", invoice_id)
    url = f"/v1/invoices/{invoice_id}/lines"
    query = ListQuery.read(reader.params)
    return list_object(paginate(inv["lines"]["data"], query, "invoice line item"), url)


@router.post("/v1/invoices")
def create_invoice(api: Api) -> JSONResponse:
    return api.mutate(create)


@router.get("/v1/invoices")
def list_invoices(api: Api) -> JSONResponse:
    return api.read(_list)


@router.get("/v1/invoices/search")
def search_invoices(api: Api) -> JSONResponse:
    return api.read(lambda r: search_response(r, "invoice", "/v1/invoices/search", SEARCH_FIELDS))


@router.get("/v1/invoices/{invoice_id}")
def retrieve_invoice(invoice_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: show(r.store.require("invoice", invoice_id)))


@router.get("/v1/invoices/{invoice_id}/lines")
def list_invoice_lines(invoice_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: _lines(r, invoice_id))


@router.post("/v1/invoices/{invoice_id}")
def update_invoice(invoice_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: update(tx, invoice_id))


@router.post("/v1/invoices/{invoice_id}/finalize")
def finalize_invoice(invoice_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: _transition(tx, invoice_id, "finalize"))


@router.post("/v1/invoices/{invoice_id}/pay")
def pay_invoice(invoice_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: _transition(tx, invoice_id, "pay"))


@router.post("/v1/invoices/{invoice_id}/void")
def void_invoice(invoice_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: _transition(tx, invoice_id, "void"))


@router.post("/v1/invoices/{invoice_id}/mark_uncollectible")
def mark_invoice_uncollectible(invoice_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: _transition(tx, invoice_id, "mark_uncollectible"))
