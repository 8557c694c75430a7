"""X-Q2C-Signature: what is accepted and what is refused, without a server."""

from __future__ import annotations

import pytest

from starter.webhooks.signature import SignatureError, sign, verify

BODY = b'{"id":"evt_1","type":"opportunity.closed_won","opportunity_id":"006A"}'
NOW = 1_800_000_000


def test_a_fresh_signature_with_the_current_secret_is_accepted() -> None:
    verify(sign(BODY, "current", NOW), BODY, ["current", ""], 300, now=NOW + 299)


def test_the_previous_secret_is_accepted_during_rotation() -> None:
    verify(sign(BODY, "previous", NOW), BODY, ["current", "previous"], 300, now=NOW)


def test_a_header_with_one_signature_per_secret_is_accepted() -> None:
    old, new = sign(BODY, "previous", NOW), sign(BODY, "current", NOW)
    header = f"{new},{old.split(',')[1]}"
    verify(header, BODY, ["current"], 300, now=NOW)


@pytest.mark.parametrize(
    ("header", "body", "secrets", "now", "why"),
    [
        (None, BODY, ["s"], NOW, "missing"),
        ("", BODY, ["s"], NOW, "missing"),
        ("v1=abc", BODY, ["s"], NOW, "expected t="),
        ("t=soon,v1=abc", BODY, ["s"], NOW, "not a unix time"),
        (sign(BODY, "s", NOW), BODY + b" ", ["s"], NOW, "does not match"),
        (sign(BODY, "other", NOW), BODY, ["s"], NOW, "does not match"),
        (sign(BODY, "s", NOW), BODY, ["", ""], NOW, "does not match"),
        (sign(BODY, "s", NOW - 301), BODY, ["s"], NOW, "tolerance"),
        (sign(BODY, "s", NOW + 301), BODY, ["s"], NOW, "tolerance"),
    ],
    ids=[
        "none",
        "empty",
        "no-t",
        "bad-t",
        "tampered",
        "wrong-secret",
        "no-secret",
        "stale",
        "future",
    ],
)
def test_refused(header: str | None, body: bytes, secrets: list[str], now: int, why: str) -> None:
    with pytest.raises(SignatureError, match=why):
        verify(header, body, secrets, 300, now=now)


def test_the_signature_is_over_timestamp_and_body() -> None:
    header = sign(BODY, "s", NOW)
    moved = header.replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(moved, BODY, ["s"], 300, now=NOW)
