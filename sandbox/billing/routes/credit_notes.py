"""`/v1/credit_notes`: credit an open or paid invoice by `lines` or `amount`, never beyond it.

On an open invoice a credit note lowers what is due (a fully credited invoice is paid); on a paid
one it is settled by `credit_amount` (the customer's balance, the default), `refund_amount` or
`out_of_band_amount`, which must add up to the credit note's total.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing import shapes
from sandbox.billing.errors import invalid, missing_param
from sandbox.billing.ids import new_id
from sandbox.billing.models import JsonObject
from sandbox.billing.params import Params
from sandbox.billing.routes.common import list_response, merge_metadata, show
from sandbox.billing.service import Api, Reader, Result, Tx
from sandbox.billing.store import ListQuery, list_object, paginate

router = APIRouter()
REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
MAX_AMOUNT = 99_999_999_999


def _credited_by_line(tx: Tx, invoice_id: str) -> dict[str, int]:
    """How much of each invoice line the issued credit notes already credit."""
    credited: dict[str, int] = {}
    for note in tx.store.all("credit_note", invoice=invoice_id):
        if note["status"] != "issued":
            continue
        for line in note["lines"]["data"]:
            if line["invoice_line_item"]:
                key = line["invoice_line_item"]
                credited[key] = credited.get(key, 0) + int(line["amount"])
    return credited


def _invoice_line(tx: Tx, inv: JsonObject, lp: Params, credited: dict[str, int]) -> JsonObject:
    line_id = lp.identifier("invoice_line_item", required=True)
    assert line_id is not None
    lines = {line["id"]: line for line in inv["lines"]["data"]}
    if line_id not in lines:
        raise invalid(
            f"No such invoice line item on {inv['id']}: '{line_id}'",
            param=lp.name("invoice_line_item"),
            code="resource_missing",
        )
    line = lines[line_id]
    quantity = lp.integer("quantity", minimum=0)
    amount = lp.integer("amount", minimum=0, maximum=MAX_AMOUNT)
    if amount is None and quantity is None:
        raise missing_param(lp.name("quantity"))
    if amount is None:
        assert quantity is not None
        if quantity > int(line["quantity"] or 1):
            raise invalid(
                f"You can't credit {quantity} units of a line that has {line['quantity']}.",
                param=lp.name("quantity"),
            )
        amount = int(line["amount"]) * quantity // int(line["quantity"] or 1)
    left = int(line["amount"]) - credited.get(line_id, 0)
    if amount > left:
        raise invalid(
            f"The credit for invoice line {line_id} ({amount}) is more than what is left to "
            f"credit on it ({left}).",
            param=lp.name("amount"),
        )
    credited[line_id] = credited.get(line_id, 0) + amount
    return shapes.credit_note_line(
        new_id("credit_note_line_item"),
        line_type="invoice_line_item",
        amount=amount,
        description=lp.string("description") or line["description"],
        invoice_line_item=line_id,
        quantity=quantity,
        unit_amount=None,
        metadata=lp.metadata(),
    )


def _custom_line(lp: Params) -> JsonObject:
    unit = lp.integer("unit_amount", minimum=0, maximum=MAX_AMOUNT)
    if unit is None:
        raise missing_param(lp.name("unit_amount"))
    quantity = lp.integer("quantity", minimum=1) or 1
    description = lp.string("description", required=True)
    return shapes.credit_note_line(
        new_id("credit_note_line_item"),
        line_type="custom_line_item",
        amount=unit * quantity,
        description=description,
        invoice_line_item=None,
        quantity=quantity,
        unit_amount=unit,
        metadata=lp.metadata(),
    )


def _lines(tx: Tx, inv: JsonObject) -> list[JsonObject]:
    p = tx.params
    amount = p.integer("amount", minimum=0, maximum=MAX_AMOUNT)
    credited = _credited_by_line(tx, inv["id"])
    lines = []
    for lp in p.items("lines"):
        line_type = lp.choice("type", ("invoice_line_item", "custom_line_item"), required=True)
        if line_type == "invoice_line_item":
            lines.append(_invoice_line(tx, inv, lp, credited))
        else:
            lines.append(_custom_line(lp))
    if not lines:
        if amount is None:
            raise invalid(
                "You must pass either amount or lines.", param="amount", code="parameter_missing"
            )
        lines = [
            shapes.credit_note_line(
                new_id("credit_note_line_item"),
                line_type="custom_line_item",
                amount=amount,
                description="Credit",
                invoice_line_item=None,
                quantity=1,
                unit_amount=amount,
                metadata=None,
            )
        ]
    elif amount is not None and amount != sum(int(line["amount"]) for line in lines):
        raise invalid(
            f"The amount ({amount}) must equal the sum of the lines "
            f"({sum(int(line['amount']) for line in lines)}).",
            param="amount",
        )
    return lines


def create(tx: Tx) -> Result:
    p = tx.params
    invoice_id = p.identifier("invoice", required=True)
    assert invoice_id is not None
    inv = tx.store.require("invoice", invoice_id, param="invoice")
    if inv["status"] not in ("open", "paid"):
        raise invalid(
            f"Credit notes can only be issued for open or paid invoices; {invoice_id} is "
            f"{inv['status']}.",
            param="invoice",
        )
    lines = _lines(tx, inv)
    total = sum(int(line["amount"]) for line in lines)
    credit_amount = p.integer("credit_amount", minimum=0, maximum=MAX_AMOUNT)
    refund_amount = p.integer("refund_amount", minimum=0, maximum=MAX_AMOUNT)
    out_of_band = p.integer("out_of_band_amount", minimum=0, maximum=MAX_AMOUNT)
    if total <= 0:
        raise invalid("A credit note's total must be greater than zero.", param="amount")
    creditable = (
        int(inv["total"])
        - int(inv["pre_payment_credit_notes_amount"])
        - int(inv["post_payment_credit_notes_amount"])
    )
    if inv["status"] == "open":
        creditable = min(creditable, int(inv["amount_remaining"]))
    if total > creditable:
        raise invalid(
            f"The credit note's total ({total}) is more than what can still be credited on "
            f"invoice {invoice_id} ({creditable}).",
            param="amount",
        )
    memo = p.string("memo", max_length=5000)
    metadata = {k: v for k, v in (p.metadata() or {}).items() if v}
    reason = p.choice("reason", REASONS)
    effective_at = p.timestamp("effective_at")
    p.choice("email_type", ("credit_note", "none"))
    customer = tx.store.require("customer", inv["customer"])
    pre, post, balance_txn, refunds = 0, 0, None, []
    if inv["status"] == "open":
        if any(v is not None for v in (credit_amount, refund_amount, out_of_band)):
            raise invalid(
                "credit_amount, refund_amount and out_of_band_amount apply to paid invoices; "
                "a credit note on an open invoice lowers its amount due.",
                param="credit_amount",
            )
        pre = total
        inv["pre_payment_credit_notes_amount"] += total
        inv["amount_due"] = max(int(inv["amount_due"]) - total, 0)
        inv["amount_remaining"] = int(inv["amount_remaining"]) - total
        if inv["amount_remaining"] == 0:
            inv["status"] = "paid"
            inv["status_transitions"]["paid_at"] = tx.now
    else:
        if credit_amount is None and refund_amount is None and out_of_band is None:
            credit_amount = total
        settled = (credit_amount or 0) + (refund_amount or 0) + (out_of_band or 0)
        if settled != total:
            raise invalid(
                f"The sum of credit amount, refund amount and out of band amount ({settled}) "
                f"must equal the credit note amount ({total}).",
                param="credit_amount",
            )
        refundable = int(inv["amount_paid"]) - int(inv.get("amount_paid_off_stripe") or 0)
        if (refund_amount or 0) > refundable:
            raise invalid(
                f"refund_amount ({refund_amount}) is more than was paid through the sandbox "
                f"({refundable}).",
                param="refund_amount",
            )
        if refund_amount:
            refunds = [
                {
                    "amount_refunded": refund_amount,
                    "refund": new_id("charge"),
                    "payment_record_refund": None,
                    "type": "refund",
                }
            ]
        if credit_amount:
            customer["balance"] = int(customer["balance"]) - credit_amount
            balance_txn = new_id("customer_balance_transaction")
            tx.store.save(customer)
        post = total
        inv["post_payment_credit_notes_amount"] += total
    count = len(tx.store.all("credit_note", invoice=invoice_id))
    note = shapes.credit_note(
        new_id("credit_note"),
        tx.now,
        inv=inv,
        number=f"{inv['number']}-CN-{count + 1:02d}",
        lines=lines,
        memo=memo,
        metadata=metadata,
        reason=reason,
        effective_at=effective_at if effective_at is not None else tx.now,
        note_type="pre_payment" if pre else "post_payment",
        out_of_band_amount=out_of_band,
        refunds=refunds,
        customer_balance_transaction=balance_txn,
        pre_payment_amount=pre,
        post_payment_amount=post,
    )
    tx.store.insert(note)
    tx.store.save(inv)
    tx.emit("credit_note.created", note)
    tx.emit("invoice.updated", inv)
    if inv["status"] == "paid" and pre:
        tx.emit("invoice.paid", inv)
    return Result(note)


def void(tx: Tx, note_id: str) -> Result:
    note = tx.store.require("credit_note", note_id)
    if note["status"] != "issued":
        raise invalid(f"The credit note {note_id} is already void.")
    inv = tx.store.require("invoice", note["invoice"])
    total = int(note["total"])
    if note["type"] == "pre_payment":
        if inv["status"] != "open":
            raise invalid(
                "A credit note that lowered an invoice's amount due can only be voided while "
                f"the invoice is open; {inv['id']} is {inv['status']}."
            )
        inv["pre_payment_credit_notes_amount"] -= total
        inv["amount_due"] += total
        inv["amount_remaining"] += total
    else:
        if note["refunds"]:
            raise invalid("A credit note that refunded a payment cannot be voided.")
        inv["post_payment_credit_notes_amount"] -= total
        if note["customer_balance_transaction"]:
            customer = tx.store.require("customer", inv["customer"])
            credited = total - int(note["out_of_band_amount"] or 0)
            customer["balance"] = int(customer["balance"]) + credited
            tx.store.save(customer)
    note["status"] = "void"
    note["voided_at"] = tx.now
    tx.store.save(note)
    tx.store.save(inv)
    tx.emit("credit_note.voided", note)
    tx.emit("invoice.updated", inv)
    return Result(note)


def update(tx: Tx, note_id: str) -> Result:
    note = tx.store.require("credit_note", note_id)
    if tx.params.has("memo"):
        note["memo"] = tx.params.string("memo", max_length=5000)
    note["metadata"] = merge_metadata(note["metadata"], tx.params.metadata())
    tx.store.save(note)
    tx.emit("credit_note.updated", note)
    return Result(note)


def _list(reader: Reader) -> JsonObject:
    p = reader.params
    return list_response(
        reader,
        "credit_note",
        "/v1/credit_notes",
        customer=p.identifier("customer"),
        invoice=p.identifier("invoice"),
    )


def _note_lines(reader: Reader, note_id: str) -> JsonObject:
    note = reader.store.require("credit_note", note_id)
    query = ListQuery.read(reader.params)
    page = paginate(note["lines"]["data"], query, "credit note line item")
    return list_object(page, f"/v1/credit_notes/{note_id}/lines")


@router.post("/v1/credit_notes")
def create_credit_note(api: Api) -> JSONResponse:
    return api.mutate(create)


@router.get("/v1/credit_notes")
def list_credit_notes(api: Api) -> JSONResponse:
    return api.read(_list)


@router.get("/v1/credit_notes/{note_id}")
def retrieve_credit_note(note_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: show(r.store.require("credit_note", note_id)))


@router.get("/v1/credit_notes/{note_id}/lines")
def list_credit_note_lines(note_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: _note_lines(r, note_id))


@router.post("/v1/credit_notes/{note_id}")
def update_credit_note(note_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: update(tx, note_id))


@router.post("/v1/credit_notes/{note_id}/void")
def void_credit_note(note_id: str, api: Api) -> JSONResponse:
    return api.mutate(lambda tx: void(tx, note_id))
