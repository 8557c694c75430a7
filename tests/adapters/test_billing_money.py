"""Decimal + ISO currency ⇄ Stripe's integer minor units, per ISO 4217 digits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.billing.money import (
    from_minor_units,
    stripe_currency,
    to_minor_units,
    unit_amount_major,
    unit_amount_minor,
)
from adapters.errors import BusinessError


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("12.34", "EUR", 1234),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("-0.50", "usd", -50),
        ("0", "EUR", 0),
        ("100", "EUR", 10000),
    ],
)
def test_round_trip(amount: str, currency: str, units: int) -> None:
    assert to_minor_units(Decimal(amount), currency) == units
    assert from_minor_units(units, currency) == Decimal(amount)


def test_digits_follow_the_currency() -> None:
    assert str(from_minor_units(5, "JPY")) == "5"
    assert str(from_minor_units(5, "KWD")) == "0.005"
    assert str(from_minor_units(5, "EUR")) == "0.05"


@pytest.mark.parametrize(
    ("amount", "currency"), [("0.001", "EUR"), ("1.5", "JPY"), ("0.0001", "KWD")]
)
def test_amounts_finer_than_the_minor_unit_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(BusinessError) as refused:
        to_minor_units(Decimal(amount), currency)
    assert refused.value.code == "amount_precision"


def test_unknown_currency() -> None:
    with pytest.raises(BusinessError) as refused:
        stripe_currency("XYZ")
    assert refused.value.code == "unknown_currency"
    assert stripe_currency("EUR") == "eur"


def test_unit_prices_may_be_fractions_of_a_minor_unit() -> None:
    assert unit_amount_minor(Decimal("0.002"), "EUR") == Decimal("0.2")
    assert str(unit_amount_minor(Decimal("1200.00"), "EUR")) == "120000"
    assert str(unit_amount_minor(Decimal("0.0000015"), "USD")) == "0.00015"
    assert unit_amount_major("0.2", "EUR") == Decimal("0.002")
    with pytest.raises(BusinessError):
        unit_amount_minor(Decimal("1E-12"), "EUR")
