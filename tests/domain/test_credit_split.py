"""A credit note split over the invoices it credits: the parts sum to the whole, none exceeds
what its invoice can still be credited, the latest invoices take as much as they can, and the
parts' keys lead back to the document."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.documents import credit_part_key, split_credit, whole_key

cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c) / 100)


def test_a_cancellation_over_two_periods() -> None:
    """1,178.57 = the whole latest period (1,000.00) and 5 days of the one before."""
    assert split_credit(Decimal("1178.57"), [Decimal("1000.00"), Decimal("1000.00")]) == [
        Decimal("1000.00"),
        Decimal("178.57"),
    ]


def test_a_credit_that_fits_takes_one_invoice() -> None:
    assert split_credit(Decimal("516.13"), [Decimal("1000.00"), Decimal("1000.00")]) == [
        Decimal("516.13"),
        Decimal("0.00"),
    ]


def test_an_invoice_credited_before_takes_only_what_is_left() -> None:
    assert split_credit(Decimal("900"), [Decimal("0"), Decimal("400"), Decimal("800")]) == [
        Decimal("0"),
        Decimal("400"),
        Decimal("500"),
    ]


def test_more_than_the_invoices_hold_is_refused() -> None:
    with pytest.raises(ValueError, match=r"can still be credited 1500\.00 of 1500\.01"):
        split_credit(Decimal("1500.01"), [Decimal("1000.00"), Decimal("500.00")])
    with pytest.raises(ValueError, match="cannot be split"):
        split_credit(Decimal("0"), [Decimal("1")])


@given(rooms=st.lists(cents, min_size=1, max_size=8), data=st.data())
def test_parts_sum_to_the_whole_within_each_room(rooms: list[Decimal], data: st.DataObject) -> None:
    space = sum(rooms, Decimal(0))
    if space <= 0:
        return
    total = data.draw(cents.filter(lambda t: 0 < t <= space), label="total")
    parts = split_credit(total, rooms)
    assert sum(parts, Decimal(0)) == total
    assert len(parts) == len(rooms)
    assert all(Decimal(0) <= part <= room for part, room in zip(parts, rooms, strict=True))
    # greedy: an invoice is only passed over (not filled) once the credit is all placed
    placed = Decimal(0)
    for part, room in zip(parts, rooms, strict=True):
        assert part == room or placed + part == total
        placed += part


@given(key=st.text(min_size=1).filter(lambda k: "#part-" not in k), part=st.integers(1, 50))
def test_a_parts_key_leads_back_to_its_document(key: str, part: int) -> None:
    assert whole_key(credit_part_key(key, part)) == key
    assert (credit_part_key(key, part) == key) == (part == 1)
