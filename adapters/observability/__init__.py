"""Metrics, traces and logs of the worker and the webhook receiver (docs/OPERATIONS.md).

`metrics`: the worker's Prometheus endpoint (the Temporal SDK's runtime metrics and q2c's
business metrics on one page). `tracing`: OpenTelemetry across webhook → workflow → activities
→ HTTP calls, exported over OTLP when a collector is configured. `logging`: one JSON object a
line with the contract's id, secrets and card or bank data redacted.
"""
