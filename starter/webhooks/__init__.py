"""The webhook receiver: Salesforce and billing events reach contract workflows as signals.

`POST /webhooks/salesforce` (X-Q2C-Signature) and `POST /webhooks/billing` (Stripe-Signature),
`GET /healthz`, and the OpenAPI schema at `/openapi.json` (`/docs` to browse it). Served by
`q2c webhook` and by `q2c dev` (`server.WebhookServer`); `app.create_app` builds the app.
"""
