"""Deployment support: container health checks, the ledger one-shot, dependency pins."""
