"""Errors a user's input can cause; callers turn them into one clear line and exit code 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (scenario, amendment, usage); the message names the field path and the problem."""
