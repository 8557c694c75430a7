"""The invoice lifecycle, as Stripe enforces it: draft → open → paid | void (| uncollectible).

A draft's lines are its invoice items and its totals follow them; finalizing numbers the
invoice, applies the customer's balance and opens it (an invoice with nothing due is paid at
once); an open invoice can be paid (out of band, or by the customer's payment method, which may
be declined), voided or marked uncollectible; credit notes reduce what an open invoice asks for
or credit what a paid one collected.
"""

from __future__ import annotations

from sandbox.billing import shapes
from sandbox.billing.errors import StripeError, invalid
from sandbox.billing.ids import new_id
from sandbox.billing.models import JsonObject
from sandbox.billing.service import Result, Tx
from sandbox.billing.store import Store

DECLINING_PAYMENT_METHODS = frozenset(
    {
        "pm_card_chargeDeclined",
        "pm_card_visa_chargeDeclined",
        "pm_card_chargeDeclinedInsufficientFunds",
    }
)


def not_editable(inv: JsonObject) -> StripeError:
    return invalid(
        f"This invoice is {inv['status']} and can no longer be edited; only draft invoices can.",
        code="invoice_not_editable",
    )


def refresh(store: Store, inv: JsonObject) -> JsonObject:
    """Recompute a draft's lines and totals from the invoice items attached to it."""
    items = store.all("invoiceitem", invoice=inv["id"], newest_first=False)
    lines = [shapes.line_item(item) for item in items]
    subtotal = sum(int(line["amount"]) for line in lines)
    inv["lines"] = {**inv["lines"], "data": lines, "total_count": len(lines), "has_more": False}
    for key in ("subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax"):
        inv[key] = subtotal
    inv["amount_due"] = max(subtotal, 0)
    inv["amount_remaining"] = inv["amount_due"]
    return store.save(inv)


def _mark_paid(tx: Tx, inv: JsonObject) -> None:
    inv["status"] = "paid"
    inv["amount_remaining"] = 0
    inv["status_transitions"]["paid_at"] = tx.now
    inv["next_payment_attempt"] = None


def finalize(tx: Tx, inv: JsonObject) -> JsonObject:
    if inv["status"] != "draft":
        raise invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice."
        )
    store = tx.store
    customer = store.require("customer", inv["customer"])
    combined = int(inv["total"]) + int(customer["balance"])
    inv["starting_balance"] = customer["balance"]
    inv["ending_balance"] = min(combined, 0)
    inv["amount_due"] = max(combined, 0)
    inv["amount_remaining"] = inv["amount_due"]
    customer["balance"] = inv["ending_balance"]
    if inv["number"] is None:
        sequence = int(customer["next_invoice_sequence"])
        inv["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
        customer["next_invoice_sequence"] = sequence + 1
    if customer["currency"] is None:
        customer["currency"] = inv["currency"]
    store.save(customer)
    inv["status"] = "open"
    inv["status_transitions"]["finalized_at"] = tx.now
    if inv["effective_at"] is None:
        inv["effective_at"] = tx.now
    inv["webhooks_delivered_at"] = tx.now
    if inv["amount_due"] == 0:
        _mark_paid(tx, inv)
    store.save(inv)
    tx.emit("invoice.finalized", inv)
    if inv["status"] == "paid":
        tx.emit("invoice.paid", inv)
    return inv


def _require_open(inv: JsonObject, action: str) -> None:
    if inv["status"] == "open":
        return
    if inv["status"] == "paid":
        raise invalid("Invoice is already paid.")
    if inv["status"] == "draft":
        raise invalid(f"You can only {action} an open invoice; this one is a draft. Finalize it.")
    raise invalid(f"You can only {action} an open invoice; this one is {inv['status']}.")


def pay(tx: Tx, inv: JsonObject) -> Result:
    p = tx.params
    out_of_band = p.boolean("paid_out_of_band") is True
    forgive = p.boolean("forgive")
    p.boolean("off_session")
    p.string("mandate")
    payment_method = p.identifier("payment_method")
    if p.has("source"):
        raise invalid(
            "Sources are not supported by the sandbox; use payment_method.", param="source"
        )
    del forgive  # nothing is partially paid in the sandbox, so there is nothing to forgive
    _require_open(inv, "pay")
    amount = int(inv["amount_remaining"])
    if out_of_band:
        inv["amount_paid"] += amount
        inv["amount_paid_off_stripe"] = int(inv.get("amount_paid_off_stripe") or 0) + amount
        _mark_paid(tx, inv)
        tx.store.save(inv)
        tx.emit("invoice.paid", inv)
        return Result(shapes.embed_lines(inv))
    customer = tx.store.require("customer", inv["customer"])
    method = (
        payment_method
        or inv["default_payment_method"]
        or customer["invoice_settings"]["default_payment_method"]
    )
    if not method:
        raise invalid(
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method, or pay the invoice out of band."
        )
    if not method.startswith("pm_"):
        raise invalid(
            f"No such PaymentMethod: '{method}'", param="payment_method", code="resource_missing"
        )
    return _charge(tx, inv, customer["id"], method, amount)


def _charge(tx: Tx, inv: JsonObject, customer_id: str, method: str, amount: int) -> Result:
    declined = method in DECLINING_PAYMENT_METHODS
    error: JsonObject | None = None
    if declined:
        error = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        }
    intent = shapes.payment_intent(
        new_id("payment_intent"),
        tx.now,
        amount=amount,
        currency=inv["currency"],
        customer_id=customer_id,
        payment_method=method,
        description=f"Payment for Invoice {inv['number']}",
        succeeded=not declined,
        last_payment_error=error,
        charge_id=None if declined else new_id("charge"),
    )
    tx.store.insert(intent)
    inv["attempt_count"] += 1
    inv["attempted"] = True
    if declined:
        tx.store.save(inv)
        tx.emit("payment_intent.payment_failed", intent)
        tx.emit("invoice.payment_failed", inv)
        failure = StripeError(
            402,
            "Your card was declined.",
            type="card_error",
            code="card_declined",
            param="",
            extra={"decline_code": "generic_decline", "payment_intent": intent},
        )
        return Result(failure.body(), 402)
    payment = shapes.invoice_payment(
        new_id("invoice_payment"), tx.now, inv=inv, amount=amount, payment_intent_id=intent["id"]
    )
    tx.store.insert(payment)
    payments = inv["payments"]
    payments["data"] = [*payments["data"], payment]
    payments["total_count"] = len(payments["data"])
    inv["amount_paid"] += amount
    _mark_paid(tx, inv)
    tx.store.save(inv)
    tx.emit("payment_intent.succeeded", intent)
    tx.emit("invoice.payment_succeeded", inv)
    tx.emit("invoice.paid", inv)
    return Result(shapes.embed_lines(inv))


def void(tx: Tx, inv: JsonObject) -> JsonObject:
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid(
            f"You can only void open or uncollectible invoices; this one is {inv['status']}."
        )
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = tx.now
    inv["next_payment_attempt"] = None
    tx.store.save(inv)
    tx.emit("invoice.voided", inv)
    return inv


def mark_uncollectible(tx: Tx, inv: JsonObject) -> JsonObject:
    _require_open(inv, "mark uncollectible")
    inv["status"] = "uncollectible"
    inv["status_transitions"]["marked_uncollectible_at"] = tx.now
    tx.store.save(inv)
    tx.emit("invoice.marked_uncollectible", inv)
    return inv
