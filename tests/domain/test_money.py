"""Money: ISO 4217 minor units from babel, half-up rounding, largest-remainder allocation."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from domain.errors import InputError
from domain.money import (
    allocate,
    allocate_minor,
    currency_exponent,
    format_minor,
    from_minor,
    round_half_up,
    round_money,
    to_minor,
)


@pytest.mark.parametrize(("code", "exponent"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_minor_units_come_from_iso_4217(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["XYZ", "usd", "EURO", ""])
def test_unknown_currency_is_input_error(code: str) -> None:
    with pytest.raises(InputError, match="unknown currency"):
        currency_exponent(code)


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [(5, 2, 3), (3, 2, 2), (-5, 2, -3), (7, 3, 2), (-7, 3, -2), (0, 9, 0), (1, 2, 1), (-1, 2, -1)],
)
def test_round_half_up_ties_away_from_zero(num: int, den: int, expected: int) -> None:
    assert round_half_up(num, den) == expected


def test_round_money_and_formatting() -> None:
    assert round_money(Decimal("833.335"), "USD") == Decimal("833.34")
    assert round_money(Decimal("833.334999"), "USD") == Decimal("833.33")
    assert round_money(Decimal("100.5"), "JPY") == Decimal("101")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")
    assert to_minor(Decimal("-0.005"), 2) == -1
    assert from_minor(165411, 2) == Decimal("1654.11")
    assert format_minor(-165411, 2) == "-1654.11"
    assert format_minor(5, 2) == "0.05"
    assert format_minor(-5, 3) == "-0.005"
    assert format_minor(5000, 0) == "5000"


def test_largest_remainder_sums_exactly_and_ties_go_to_the_earlier_part() -> None:
    assert allocate_minor(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate_minor(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate_minor(-100, [1, 1, 1]) == [-34, -33, -33]
    assert allocate_minor(1300000, [Fraction(12000), Fraction(4000)]) == [975000, 325000]
    assert allocate_minor(7, [0, 0]) == [4, 3]  # no weights: equal shares
    assert allocate_minor(10, [Fraction(1, 3), Fraction(2, 3)]) == [3, 7]
    assert allocate_minor(0, []) == []
    with pytest.raises(ValueError):
        allocate_minor(1, [])


def test_largest_remainder_picks_largest_remainders() -> None:
    # 21600 by 24000:2400 → 19636.3636… and 1963.6363…: the cent goes to the larger remainder
    assert allocate_minor(2160000, [24000, 2400]) == [1963636, 196364]


def test_decimal_allocation_in_currency_units() -> None:
    assert allocate(Decimal("10"), [Decimal(1)] * 3, "JPY") == [Decimal(4), Decimal(3), Decimal(3)]
    assert sum(allocate(Decimal("1.000"), [Decimal(1)] * 3, "KWD")) == Decimal("1.000")
