"""Typed errors every activity relies on to choose between retrying and parking the contract.

Transient errors (timeouts, connection errors, 5xx, 429) are retried by Temporal with backoff;
business errors (validation, unknown record, missing mapping, refused posting) are not: they
park the contract in NeedsAttention with the vendor's code and message.
"""

from __future__ import annotations


class AdapterError(Exception):
    """An outside system refused or failed a call."""

    def __init__(self, system: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{system}: {code + ': ' if code else ''}{message}")
        self.system = system
        self.code = code
        self.message = message


class TransientError(AdapterError):
    """Worth retrying: the same call may succeed later (`retry_after` is the server's hint)."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(system, message, code=code)
        self.retry_after = retry_after


class BusinessError(AdapterError):
    """Retrying cannot help; an operator or the data must change first."""


class NotFoundError(BusinessError):
    """The record asked for does not exist in that system."""


class MappingError(BusinessError):
    """A product has no counterpart (billing price, ERP item) to map to."""


class IdempotencyConflictError(BusinessError):
    """The same idempotency key was used before with a different request."""
