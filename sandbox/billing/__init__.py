"""The billing platform sandbox: a Stripe-shaped invoicing API the official `stripe` SDK can use.

`sandbox.billing.app.create_app(ctx)` builds the app. Requests are form-encoded (nested
`metadata[k]=v`, `lines[0][amount]=1`), authenticated with `Bearer <Q2C_BILLING_API_KEY>` (or
basic auth with the key as user), answered in Stripe's shapes and error body, and honour
`Idempotency-Key` (replayed for 24 hours of sandbox time). Routes:

- `/v1/customers`, `/v1/products`, `/v1/prices`: create, retrieve, update, list, `/search`
- `/v1/invoiceitems`: create (pending, or on a draft with `invoice=`), retrieve, update,
  delete, list
- `/v1/invoices`: create (a draft), retrieve, update, list, `/search`, `/{id}/lines`,
  `/{id}/finalize`, `/{id}/pay` (`paid_out_of_band=true`, or a test payment method:
  `pm_card_visa` pays, `pm_card_chargeDeclined` is declined), `/{id}/void`,
  `/{id}/mark_uncollectible`
- `/v1/credit_notes`: create (by `lines` or `amount`), retrieve, update, list, `/{id}/lines`,
  `/{id}/void`
- `/v1/payment_intents`, `/v1/invoice_payments`, `/v1/events`: retrieve and list

Admin (never faulted): `/_sandbox/webhook_endpoints` (POST `{url, secret?, enabled_events?}`,
GET, DELETE `/{id}`), `/_sandbox/webhook_deliveries` (GET, POST `/retry`), and the shared
`reset`, `seed`, `state`, `clock` and `faults` routes.
"""
