"""The billing platform sandbox: a Stripe-shaped invoicing API the official `stripe` SDK can use.

Customers, products, prices, invoice items, invoices, credit notes, payments and events, over
form-encoded requests with Bearer `sk_` keys, Stripe's error body and `Idempotency-Key`
semantics, and signed webhooks. `sandbox.billing.app.create_app` builds the FastAPI app.
"""
