"""Errors a user's input can cause; callers turn them into one clear line and exit code 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (scenario, amendment, usage); the message names the field path and the problem."""


class PostingConflict(Exception):
    """A document already posted differs from what the schedule now says it is.

    Posted documents are never edited, so this needs an operator (the workflow parks the
    contract in NeedsAttention); retrying cannot fix it.
    """
