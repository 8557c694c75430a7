"""Money arithmetic: ISO 4217 minor units, half-up rounding and largest-remainder allocation.

Inside the engine amounts are integers of minor units (cents, yen, fils), which keeps every sum
exact and fast; `Decimal` is used at the edges (models, reports). Rounding works on exact
rationals (numerator, denominator), so a tie is always a real tie and never a float artefact.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from math import lcm

from babel.numbers import get_currency_precision, list_currencies

from domain.errors import InputError

__all__ = [
    "UnknownCurrencyError",
    "allocate",
    "allocate_minor",
    "allocate_ratios",
    "currency_exponent",
    "format_minor",
    "from_minor",
    "is_known_currency",
    "ratio",
    "round_half_up",
    "round_money",
    "to_minor",
]


class UnknownCurrencyError(InputError):
    """The code is not an ISO 4217 currency known to the CLDR data shipped with babel."""


# Read once, at import: babel loads its CLDR data from files, and a Temporal workflow sandbox
# refuses file access while a workflow runs. After this, currency look-ups are pure.
_EXPONENTS: dict[str, int] = {
    code: int(get_currency_precision(code)) for code in list_currencies() if len(code) == 3
}


def is_known_currency(code: str) -> bool:
    """True for an upper-case ISO 4217 code (current or historical) that CLDR knows."""
    return code in _EXPONENTS


def currency_exponent(code: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency (JPY 0, USD 2, KWD 3)."""
    try:
        return _EXPONENTS[code]
    except (KeyError, TypeError):
        raise UnknownCurrencyError(
            f"unknown currency {code!r} (expected an ISO 4217 code)"
        ) from None


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to an integer, ties away from zero (ROUND_HALF_UP)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


@lru_cache(maxsize=4096)
def ratio(value: Decimal) -> tuple[int, int]:
    """An exact (numerator, denominator) for a finite Decimal; cached because prices repeat."""
    n, d = value.as_integer_ratio()
    return n, d


def to_minor(amount: Decimal, exponent: int) -> int:
    """A Decimal amount in minor units, rounded half-up beyond the currency's digits."""
    n, d = ratio(amount)
    return round_half_up(n * 10**exponent, d)


def from_minor(units: int, exponent: int) -> Decimal:
    """Minor units back to a Decimal with exactly `exponent` decimal places."""
    return Decimal(units).scaleb(-exponent) if exponent else Decimal(units)


@lru_cache(maxsize=65536)
def format_minor(units: int, exponent: int) -> str:
    """Minor units as a plain string with the currency's decimals: 165411 → '1654.11'."""
    if exponent == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round a Decimal half-up to the currency's minor units."""
    exponent = currency_exponent(currency)
    return from_minor(to_minor(amount, exponent), exponent)


def allocate_minor(total: int, weights: Sequence[Fraction | int]) -> list[int]:
    """Split `total` minor units in proportion to `weights` so the parts sum exactly to it.

    Largest-remainder method: every part gets the floor of its exact share, then the units left
    over go one each to the largest remainders, ties to the earlier part. A negative total is split
    like its absolute value and negated. All-zero weights split the total equally.
    """
    count = len(weights)
    if count == 0:
        if total:
            raise ValueError("cannot allocate a non-zero amount over no parts")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    if count == 1:
        return [total]
    scaled: list[int]
    if all(isinstance(w, int) for w in weights):
        scaled = [int(w) for w in weights]
    else:
        fractions = [Fraction(w) for w in weights]
        common = lcm(*(f.denominator for f in fractions))
        scaled = [f.numerator * (common // f.denominator) for f in fractions]
    return _allocate_scaled(total, scaled)


def allocate_ratios(total: int, weights: Sequence[tuple[int, int]]) -> list[int]:
    """`allocate_minor` for weights given as exact (numerator, denominator) integer pairs."""
    if any(n < 0 for n, _ in weights) or any(d <= 0 for _, d in weights):
        raise ValueError("weights must not be negative")
    if len(weights) == 1:
        return [total]
    common = lcm(*(d for _, d in weights)) if weights else 1
    return allocate_minor(total, [n * (common // d) for n, d in weights])


def _allocate_scaled(total: int, scaled: list[int]) -> list[int]:
    count = len(scaled)
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    if sum(scaled) == 0:
        scaled = [1] * count
    weight_sum = sum(scaled)
    parts: list[int] = []
    remainders: list[int] = []
    for w in scaled:
        q, r = divmod(magnitude * w, weight_sum)
        parts.append(q)
        remainders.append(r)
    left = magnitude - sum(parts)
    if left:
        order = sorted(range(count), key=lambda i: (-remainders[i], i))
        for i in order[:left]:
            parts[i] += 1
    return [sign * p for p in parts]


def allocate(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Decimal front end of `allocate_minor`: split `total` by `weights` in the currency's units."""
    exponent = currency_exponent(currency)
    parts = allocate_minor(to_minor(total, exponent), [Fraction(w) for w in weights])
    return [from_minor(p, exponent) for p in parts]
