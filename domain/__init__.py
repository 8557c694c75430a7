"""Canonical data model and the pure money, billing and revenue rules; no I/O."""
