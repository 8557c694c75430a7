"""Amounts across the billing boundary: `Decimal` + ISO currency in q2c, integer minor units in
Stripe's API (JPY has 0 decimals, USD 2, KWD 3, per ISO 4217 as shipped in babel's CLDR data).

Converting never rounds: the domain rounds documents to minor units before they are billed, so
an amount with more decimals than its currency allows is a bug upstream and is refused. Unit
prices are the exception, because Stripe takes them in fractions of a minor unit
(`unit_amount_decimal`), e.g. 0.002 EUR per API call is 0.2 cents.
"""

from __future__ import annotations

from decimal import Decimal

from adapters.errors import BusinessError
from domain.money import currency_exponent

SYSTEM = "billing"
MAX_UNIT_DECIMALS = 12  # Stripe's limit on unit_amount_decimal


def iso_currency(code: str) -> str:
    """Stripe's lowercase code as q2c's uppercase ISO 4217 code."""
    return code.upper()


def stripe_currency(code: str) -> str:
    """An ISO 4217 code as Stripe spells it (lowercase), refusing unknown codes."""
    digits(code)
    return code.lower()


def digits(currency: str) -> int:
    """Minor-unit digits of a currency (babel's `get_currency_precision`, through the domain)."""
    try:
        return currency_exponent(currency.upper())
    except ValueError as exc:  # UnknownCurrencyError is a ValueError of the domain's inputs
        raise BusinessError(SYSTEM, str(exc), code="unknown_currency") from None


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`Decimal('12.34')` EUR → 1234; refuses amounts finer than the currency's minor unit."""
    scaled = amount.scaleb(digits(currency))
    if scaled != scaled.to_integral_value():
        raise BusinessError(
            SYSTEM,
            f"{amount} {currency.upper()} has more decimals than the currency's "
            f"{digits(currency)}; round it to minor units first",
            code="amount_precision",
        )
    return int(scaled)


def from_minor_units(units: int, currency: str) -> Decimal:
    """1234 EUR → `Decimal('12.34')`, with exactly the currency's number of decimals."""
    exponent = digits(currency)
    return Decimal(units).scaleb(-exponent) if exponent else Decimal(units)


def unit_amount_minor(amount: Decimal, currency: str) -> Decimal:
    """A unit price in (possibly fractional) minor units, as Stripe's `unit_amount_decimal`.

    The result prints without an exponent (the SDK sends `str(value)`), which holds for whole
    numbers and for fractions of at least a millionth of a minor unit.
    """
    scaled = amount.scaleb(digits(currency))
    if scaled == scaled.to_integral_value():
        return scaled.quantize(Decimal(1))
    scaled = scaled.normalize()
    places = -int(scaled.as_tuple().exponent)
    if places > MAX_UNIT_DECIMALS or scaled.copy_abs().adjusted() < -6:
        raise BusinessError(
            SYSTEM,
            f"unit price {amount} {currency.upper()} is finer than Stripe's unit_amount_decimal "
            "can carry",
            code="amount_precision",
        )
    return scaled


def unit_amount_major(minor: Decimal | str | int, currency: str) -> Decimal:
    """Stripe's `unit_amount_decimal` (minor units) back to a price in the currency's units."""
    return Decimal(str(minor)).scaleb(-digits(currency)).normalize()
