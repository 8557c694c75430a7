"""The billing platform (Stripe API shape): `BillingAdapter` and what it returns."""

from adapters.billing.client import BillingAdapter, stored_key
from adapters.billing.failures import InvalidWebhookError
from adapters.billing.money import from_minor_units, to_minor_units, unit_amount_minor
from adapters.billing.records import (
    BillingCreditNote,
    BillingCreditNoteLine,
    BillingCustomer,
    BillingEvent,
    BillingInvoice,
    BillingInvoiceLine,
    BillingPrice,
    BillingProduct,
    CreditLine,
    InvoiceLine,
)

__all__ = [
    "BillingAdapter",
    "BillingCreditNote",
    "BillingCreditNoteLine",
    "BillingCustomer",
    "BillingEvent",
    "BillingInvoice",
    "BillingInvoiceLine",
    "BillingPrice",
    "BillingProduct",
    "CreditLine",
    "InvalidWebhookError",
    "InvoiceLine",
    "from_minor_units",
    "stored_key",
    "to_minor_units",
    "unit_amount_minor",
]
