"""Object ids and document numbers in Stripe's formats (`cus_…`, `in_…`, `ABCD1234-0001`)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
PREFIXES = {
    "customer": "cus",
    "product": "prod",
    "price": "price",
    "invoiceitem": "ii",
    "invoice": "in",
    "credit_note": "cn",
    "credit_note_line_item": "cnli",
    "payment_intent": "pi",
    "invoice_payment": "inpay",
    "charge": "py",
    "event": "evt",
    "webhook_endpoint": "we",
    "customer_balance_transaction": "cbtxn",
    "request": "req",
}


def new_id(object_type: str, length: int = 24) -> str:
    """A random id with the object's prefix (unique enough for a sandbox by 24 chars of 62)."""
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return f"{PREFIXES[object_type]}_{suffix}"


def line_item_id(invoice_item_id: str) -> str:
    """The invoice line of an invoice item keeps the item's suffix (`ii_X` → `il_X`)."""
    return "il_" + invoice_item_id.split("_", 1)[1]


def invoice_prefix() -> str:
    """A customer's invoice-number prefix: eight uppercase letters and digits."""
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))


def webhook_secret() -> str:
    return "whsec_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))
