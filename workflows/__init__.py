"""Deterministic workflows; they import only `domain/` and activity signatures."""
