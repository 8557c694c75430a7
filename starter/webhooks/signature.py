"""The `X-Q2C-Signature` of Salesforce events: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.

The scheme is Stripe's: the timestamp is signed with the body, so a captured request replayed
after the tolerance (five minutes by default) is refused, and the comparison is constant-time.
Two secrets are accepted while a sender moves from the previous one to the current one, and a
sender may put several `v1=` values in one header (one per secret) while rotating.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "X-Q2C-Signature"
MAX_TIMESTAMP = 2**53  # far beyond any clock; larger values are junk


class SignatureError(Exception):
    """Missing, malformed, stale or wrong signature (the message says which, never a secret)."""


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header value a sender puts on `body` signed with `secret` at `timestamp` (now)."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    return f"t={signed_at},v1={_digest(body, secret, signed_at)}"


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"{HEADER}: t is not a unix time") from None
            if not 0 <= timestamp < MAX_TIMESTAMP:  # a float of it would overflow
                raise SignatureError(f"{HEADER}: t is not a unix time")
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(f"{HEADER}: expected t=<unix time>,v1=<hex signature>")
    return timestamp, signatures


def verify(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    """Accept the request, or raise `SignatureError`."""
    if not header:
        raise SignatureError(f"{HEADER} header missing")
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(
            f"{HEADER}: timestamp outside the tolerance of {tolerance_seconds}s (stale or replayed)"
        )
    expected = [_digest(body, secret, timestamp) for secret in secrets if secret]
    # Compare every pair, without stopping at the first match, in constant time each.
    matched = False
    for digest in expected:
        for candidate in signatures:
            matched |= hmac.compare_digest(digest.encode(), candidate.encode())
    if not matched:
        raise SignatureError(f"{HEADER}: signature does not match")
