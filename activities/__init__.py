"""Thin idempotent activities: build the key, consult the ledger, call an adapter, record."""
