"""`/v1/invoiceitems`: pending items, or items attached to a draft invoice with `invoice=`."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing import invoicing, shapes
from sandbox.billing.errors import invalid
from sandbox.billing.ids import new_id
from sandbox.billing.models import JsonObject
from sandbox.billing.params import Params
from sandbox.billing.routes import prices
from sandbox.billing.routes.common import list_response, merge_metadata
from sandbox.billing.service import Api, Reader, Result, Tx

router = APIRouter()
MAX_AMOUNT = 99_999_999_999


def _period(params: Params, now: int) -> tuple[int, int]:
    nested = params.nested("period")
    if nested is None:
        return now, now
    start = nested.timestamp("start", required=True)
    end = nested.timestamp("end", required=True)
    assert start is not None and end is not None
    if end < start:
        raise invalid("Invalid period: end must be on or after start.", param="period[end]")
    return start, end


def _draft_invoice(tx: Tx, invoice_id: str, customer_id: str) -> JsonObject:
    inv = tx.store.require("invoice", invoice_id, param="invoice")
    if inv["customer"] != customer_id:
        raise invalid(
            f"The invoice {invoice_id} belongs to another customer than {customer_id}.",
            param="invoice",
        )
    if inv["status"] != "draft":
        raise invoicing.not_editable(inv)
    return inv


def create(tx: Tx) -> Result:
    p = tx.params
    customer_id = p.identifier("customer", required=True)
    assert customer_id is not None
    tx.store.require("customer", customer_id, param="customer")
    invoice_id = p.identifier("invoice")
    inv = _draft_invoice(tx, invoice_id, customer_id) if invoice_id else None
    amount = p.integer("amount", minimum=-MAX_AMOUNT, maximum=MAX_AMOUNT)
    unit_decimal = p.decimal("unit_amount_decimal")
    quantity = p.integer("quantity", minimum=0)
    currency = p.currency()
    pricing = p.nested("pricing")
    price_id = pricing.identifier("price") if pricing else None
    price_data = p.nested("price_data")
    sources = [
        name
        for name, given in (
            ("amount", amount is not None),
            ("unit_amount_decimal", unit_decimal is not None),
            ("pricing[price]", price_id is not None),
            ("price_data", price_data is not None),
        )
        if given
    ]
    if len(sources) != 1:
        raise invalid(
            "You must specify exactly one of amount, unit_amount_decimal, pricing[price] or "
            f"price_data (got {', '.join(sources) or 'none'}).",
            param="amount",
        )
    if amount is not None and quantity is not None:
        raise invalid(
            "You may only specify one of these parameters: amount, quantity.", param="quantity"
        )
    unit: Decimal | None = unit_decimal
    product_id: str | None = None
    description = p.string("description", max_length=5000)
    if price_id is not None:
        price = tx.store.require("price", price_id, param="pricing[price]")
        if currency is not None and currency != price["currency"]:
            raise invalid("The currency must match the price's currency.", param="currency")
        currency, unit, product_id = (
            price["currency"],
            Decimal(price["unit_amount_decimal"]),
            price["product"],
        )
        product = tx.store.require("product", price["product"])
        description = description or product["name"]
    elif price_data is not None:
        currency = price_data.currency(required=True)
        product_id = price_data.identifier("product", required=True)
        assert product_id is not None
        product = tx.store.require("product", product_id, param="price_data[product]")
        price_data.choice("tax_behavior", prices.TAX_BEHAVIOR)
        unit = prices.unit_amount(price_data)
        description = description or product["name"]
    if currency is None:
        raise invalid(
            "Missing required param: currency.", param="currency", code="parameter_missing"
        )
    if inv is not None and currency != inv["currency"]:
        raise invalid(
            f"The invoice item's currency ({currency}) must match the invoice's "
            f"({inv['currency']}).",
            param="currency",
        )
    count = 1 if quantity is None else quantity
    if amount is None:
        assert unit is not None
        amount = int((unit * count).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    discountable = p.boolean("discountable")
    item = shapes.invoice_item(
        new_id("invoiceitem"),
        tx.now,
        customer_id=customer_id,
        invoice_id=invoice_id,
        amount=amount,
        currency=currency,
        description=description,
        metadata={k: v for k, v in (p.metadata() or {}).items() if v},
        period=_period(p, tx.now),
        quantity=count,
        unit_amount_decimal=unit,
        price_id=price_id,
        product_id=product_id,
        discountable=discountable if discountable is not None else amount >= 0,
    )
    tx.store.insert(item)
    tx.emit("invoiceitem.created", item)
    if inv is not None:
        tx.emit("invoice.updated", invoicing.refresh(tx.store, inv))
    return Result(item)


def _editable_item(tx: Tx, item_id: str) -> tuple[JsonObject, JsonObject | None]:
    item = tx.store.require("invoiceitem", item_id)
    inv = tx.store.get("invoice", item["invoice"]) if item["invoice"] else None
    if inv is not None and inv["status"] != "draft":
        raise invoicing.not_editable(inv)
    return item, inv


def update(tx: Tx, item_id: str) -> Result:
    p = tx.params
    item, inv = _editable_item(tx, item_id)
    if p.has("description"):
        item["description"] = p.string("description", max_length=5000)
    amount = p.integer("amount", minimum=-MAX_AMOUNT, maximum=MAX_AMOUNT)
    if amount is not None:
        item["amount"] = item["net_amount"] = amount
    if p.has("period"):
        start, end = _period(p, tx.now)
        item["period"] = {"end": end, "start": start}
    discountable = p.boolean("discountable")
    if discountable is not None:
        item["discountable"] = discountable
    item["metadata"] = merge_metadata(item["metadata"], p.metadata())
    tx.store.save(item)
    tx.emit("invoiceitem.updated", item)
    if inv is not None:
        tx.emit("invoice.updated", invoicing.refresh(tx.store, inv))
    return Result(item)


def delete(tx: Tx, item_id: str) -> Result:
    item, inv = _editable_item(tx, item_id)
    tx.store.delete("invoiceitem", item_id)
    tx.emit("invoiceitem.deleted", item)
    if inv is not None:
        tx.emit("invoice.updated", invoicing.refresh(tx.store, inv))
    return Result({"id": item_id, "object": "invoiceitem", "deleted": True})


def _list(reader: Reader) -> JsonObject:
    p = reader.params
    customer = p.identifier("customer")
    invoice = p.identifier("invoice")
    pending = p.boolean("pending")
    return list_response(
        reader,
        "invoiceitem",
        "/v1/invoiceitems",
        customer=customer,
        invoice=invoice,
        where=(lambda o: (o["invoice"] is None) == pending) if pending is not None else None,
    )


@router.post("/v1/invoiceitems")
def create_invoice_item(api: Api) -> JSONResponse:
    return api.mutate(create)


@router.get("/v1/invoiceitems")
def list_invoice_items(api: Api) -> JSONResponse:
    return api.read(_list)


@router.get("/v1/invoiceitems/{item_id}")
def retrieve_invoice_item(item_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: r.store.require("invoiceitem", item_id))


@router.post("/v1/invoiceitems/{item_id}")
def update_invoice_item(item_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: update(tx, item_id))


@router.delete("/v1/invoiceitems/{item_id}")
def delete_invoice_item(item_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: delete(tx, item_id))
