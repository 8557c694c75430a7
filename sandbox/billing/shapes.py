"""The Stripe object shapes: every field Stripe's published fixtures carry, with sandbox values.

Builders take what the sandbox knows and fill the rest with the values Stripe uses for an
account without tax, discounts, Connect or subscriptions (nulls, empty lists, `livemode: false`),
so clients that read any documented field find it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.billing.ids import line_item_id
from sandbox.billing.models import JsonObject

ACCOUNT_COUNTRY = "US"
ACCOUNT_NAME = "q2c billing sandbox"
EMBEDDED_LINES = 10


def _address(values: dict[str, Any] | None = None) -> JsonObject:
    keys = ("city", "country", "line1", "line2", "postal_code", "state")
    return {k: (values or {}).get(k) for k in keys}


def customer(
    object_id: str,
    created: int,
    *,
    name: str | None,
    email: str | None,
    description: str | None,
    phone: str | None,
    metadata: dict[str, str],
    invoice_prefix: str,
    address: dict[str, Any] | None,
    preferred_locales: list[str],
    default_payment_method: str | None,
    footer: str | None,
    tax_exempt: str,
) -> JsonObject:
    return {
        "id": object_id,
        "object": "customer",
        "address": _address(address) if address else None,
        "balance": 0,
        "created": created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": default_payment_method,
            "footer": footer,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": preferred_locales,
        "shipping": None,
        "tax_exempt": tax_exempt,
        "test_clock": None,
    }


def product(
    object_id: str,
    created: int,
    *,
    name: str,
    active: bool,
    description: str | None,
    metadata: dict[str, str],
    unit_label: str | None,
    product_type: str,
) -> JsonObject:
    return {
        "id": object_id,
        "object": "product",
        "active": active,
        "created": created,
        "default_price": None,
        "description": description,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": metadata,
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": product_type,
        "unit_label": unit_label,
        "updated": created,
        "url": None,
    }


def price(
    object_id: str,
    created: int,
    *,
    product_id: str,
    currency: str,
    unit_amount_decimal: Decimal,
    active: bool,
    lookup_key: str | None,
    metadata: dict[str, str],
    nickname: str | None,
    recurring: JsonObject | None,
    tax_behavior: str,
) -> JsonObject:
    whole = unit_amount_decimal == unit_amount_decimal.to_integral_value()
    return {
        "id": object_id,
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata,
        "nickname": nickname,
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": tax_behavior,
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": int(unit_amount_decimal) if whole else None,
        "unit_amount_decimal": decimal_string(unit_amount_decimal),
    }


def decimal_string(value: Decimal) -> str:
    """Stripe's decimal strings: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def pricing(price_id: str | None, product_id: str | None, unit: Decimal | None) -> JsonObject:
    return {
        "price_details": {"price": price_id, "product": product_id} if price_id else None,
        "type": "price_details",
        "unit_amount_decimal": decimal_string(unit) if unit is not None else None,
    }


def invoice_item(
    object_id: str,
    created: int,
    *,
    customer_id: str,
    invoice_id: str | None,
    amount: int,
    currency: str,
    description: str | None,
    metadata: dict[str, str],
    period: tuple[int, int],
    quantity: int,
    unit_amount_decimal: Decimal | None,
    price_id: str | None,
    product_id: str | None,
    discountable: bool,
) -> JsonObject:
    return {
        "id": object_id,
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "date": created,
        "description": description,
        "discountable": discountable,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": metadata,
        "net_amount": amount,
        "parent": None,
        "period": {"end": period[1], "start": period[0]},
        "pricing": pricing(price_id, product_id, unit_amount_decimal),
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }


def line_item(item: JsonObject) -> JsonObject:
    """The invoice line an invoice item becomes on its invoice."""
    return {
        "id": line_item_id(item["id"]),
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "invoice": item["invoice"],
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": dict(item["pricing"]),
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }


def invoice(
    object_id: str,
    created: int,
    *,
    cust: JsonObject,
    currency: str,
    auto_advance: bool,
    collection_method: str,
    due_date: int | None,
    description: str | None,
    footer: str | None,
    metadata: dict[str, str],
    effective_at: int | None,
    number: str | None,
    default_payment_method: str | None,
    custom_fields: list[JsonObject] | None,
    statement_descriptor: str | None,
) -> JsonObject:
    return {
        "id": object_id,
        "object": "invoice",
        "account_country": ACCOUNT_COUNTRY,
        "account_name": ACCOUNT_NAME,
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "manual",
        "collection_method": collection_method,
        "created": created,
        "currency": currency,
        "custom_fields": custom_fields,
        "customer": cust["id"],
        "customer_account": None,
        "customer_address": cust["address"],
        "customer_email": cust["email"],
        "customer_name": cust["name"],
        "customer_phone": cust["phone"],
        "customer_shipping": cust["shipping"],
        "customer_tax_exempt": cust["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "due_date": due_date,
        "effective_at": effective_at,
        "ending_balance": None,
        "footer": footer,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/invoices/{object_id}/lines",
        },
        "livemode": False,
        "metadata": metadata,
        "next_payment_attempt": None,
        "number": number,
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "payments": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": "/v1/invoice_payments",
        },
        "period_end": created,
        "period_start": created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": statement_descriptor,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def embed_lines(inv: JsonObject) -> JsonObject:
    """Stripe embeds at most ten lines; the rest are read from `/v1/invoices/{id}/lines`."""
    shown = dict(inv)
    lines = dict(inv["lines"])
    lines["has_more"] = len(lines["data"]) > EMBEDDED_LINES
    lines["data"] = lines["data"][:EMBEDDED_LINES]
    shown["lines"] = lines
    return shown


def credit_note_line(
    object_id: str,
    *,
    line_type: str,
    amount: int,
    description: str | None,
    invoice_line_item: str | None,
    quantity: int | None,
    unit_amount: int | None,
    metadata: dict[str, str] | None,
) -> JsonObject:
    return {
        "id": object_id,
        "object": "credit_note_line_item",
        "amount": amount,
        "description": description,
        "discount_amount": 0,
        "discount_amounts": [],
        "invoice_line_item": invoice_line_item,
        "livemode": False,
        "metadata": metadata,
        "pretax_credit_amounts": [],
        "quantity": quantity,
        "tax_rates": [],
        "taxes": [],
        "type": line_type,
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount) if unit_amount is not None else None,
    }


def credit_note(
    object_id: str,
    created: int,
    *,
    inv: JsonObject,
    number: str,
    lines: list[JsonObject],
    memo: str | None,
    metadata: dict[str, str],
    reason: str | None,
    effective_at: int,
    note_type: str,
    out_of_band_amount: int | None,
    refunds: list[JsonObject],
    customer_balance_transaction: str | None,
    pre_payment_amount: int,
    post_payment_amount: int,
) -> JsonObject:
    total = sum(int(line["amount"]) for line in lines)
    return {
        "id": object_id,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": created,
        "currency": inv["currency"],
        "customer": inv["customer"],
        "customer_account": None,
        "customer_balance_transaction": customer_balance_transaction,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": effective_at,
        "invoice": inv["id"],
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/credit_notes/{object_id}/lines",
        },
        "livemode": False,
        "memo": memo,
        "metadata": metadata,
        "number": number,
        "out_of_band_amount": out_of_band_amount,
        "pdf": None,
        "post_payment_amount": post_payment_amount,
        "pre_payment_amount": pre_payment_amount,
        "pretax_credit_amounts": [],
        "reason": reason,
        "refunds": refunds,
        "shipping_cost": None,
        "status": "issued",
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_excluding_tax": total,
        "total_taxes": [],
        "type": note_type,
        "voided_at": None,
    }


def payment_intent(
    object_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer_id: str,
    payment_method: str,
    description: str,
    succeeded: bool,
    last_payment_error: JsonObject | None,
    charge_id: str | None,
) -> JsonObject:
    return {
        "id": object_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if succeeded else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{object_id}_secret_sandbox",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": last_payment_error,
        "latest_charge": charge_id,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def invoice_payment(
    object_id: str,
    created: int,
    *,
    inv: JsonObject,
    amount: int,
    payment_intent_id: str,
) -> JsonObject:
    return {
        "id": object_id,
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": created,
        "currency": inv["currency"],
        "invoice": inv["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": payment_intent_id, "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": created},
    }


def event(
    object_id: str,
    created: int,
    *,
    event_type: str,
    obj: JsonObject,
    previous_attributes: JsonObject | None,
    api_version: str,
    request_id: str | None,
    idempotency_key: str | None,
    pending_webhooks: int,
) -> JsonObject:
    data: JsonObject = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": object_id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
