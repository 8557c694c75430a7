"""Billing math: the fee of a block of units for some days of a period, one-time fees, usage.

Fees follow DESIGN.md §5: `quantity × unit_price × months_in_period / 12`, prorated by
`days served / days in the full period`, rounded half-up once per invoice line. Everything is
computed from exact integer ratios, so the rounding of a tie never depends on float noise.
Projections (what a block will bill from some period on) use closed forms over the periods a
block covers fully, because the transaction price is re-projected at every modification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from domain.calendar import PeriodGrid
from domain.models import LineKind
from domain.money import ratio, round_half_up
from domain.terms import Block, LineTerms, Piece

__all__ = [
    "Charge",
    "block_billing_from",
    "block_fee",
    "full_period_fee",
    "one_time_fee",
    "ssp_value",
    "ssp_weight",
    "usage_amount",
]


@dataclass(slots=True)
class Charge:
    """One line of a billing document; `amount` is signed from the customer's side (+ owes)."""

    obligation_id: str | None
    line_id: str
    product_code: str
    kind: LineKind
    note: str
    quantity: Decimal
    unit_price: Decimal
    amount: int
    first: int
    last: int

    def describe(self) -> str:
        """The line's text on the document (built only when a document is rendered)."""
        first = date.fromordinal(self.first)
        if self.kind == "usage":
            return (
                f"{self.product_code} usage {first}..{date.fromordinal(self.last)}: "
                f"{self.quantity} above the allowance{self.note}"
            )
        if self.kind == "one_time":
            return f"{self.product_code} delivered {first}{self.note}"
        return f"{self.product_code} {first}..{date.fromordinal(self.last)}{self.note}"


@lru_cache(maxsize=8192)
def full_period_fee(price: Decimal, qty: Decimal, months: int, exponent: int) -> int:
    """The rounded fee of `qty` units for one whole period of `months` months."""
    pn, pd = ratio(price)
    qn, qd = ratio(qty)
    return round_half_up(pn * qn * months * 10**exponent, pd * qd * 12)


def _qty_days(pieces: Sequence[Piece], first: int, last: int) -> Decimal:
    total = Decimal(0)
    for p in pieces:
        lo = p.first if p.first > first else first
        hi = p.last if p.last < last else last
        if lo <= hi:
            total += p.qty * (hi - lo + 1)
    return total


def block_fee(
    price: Decimal,
    block: Block,
    grid: PeriodGrid,
    index: int,
    first: int,
    last: int,
    exponent: int,
) -> int:
    """Fee of `block` at `price` for its days within [first, last] of period `index`, rounded."""
    p_first, p_last = grid.start(index), grid.end(index)
    lo, hi = max(first, p_first), min(last, p_last)
    if lo > hi:
        return 0
    pieces = block.pieces
    if len(pieces) == 1:
        p = pieces[0]
        if p.first <= p_first and p.last >= p_last and lo == p_first and hi == p_last:
            return full_period_fee(price, p.qty, grid.months, exponent)
    qty_days = _qty_days(pieces, lo, hi)
    if not qty_days:
        return 0
    pn, pd = ratio(price)
    qn, qd = ratio(qty_days)
    return round_half_up(
        pn * qn * grid.months * 10**exponent, pd * qd * 12 * (p_last - p_first + 1)
    )


def one_time_fee(price: Decimal, qty: Decimal, exponent: int) -> int:
    """A one-time fee: quantity × unit price, rounded."""
    pn, pd = ratio(price)
    qn, qd = ratio(qty)
    return round_half_up(pn * qn * 10**exponent, pd * qd)


def usage_amount(overage: Decimal, price: Decimal, exponent: int) -> int:
    """Units above the allowance × price, rounded (the same rule as a one-time fee)."""
    return one_time_fee(price, overage, exponent)


def block_billing_from(
    line: LineTerms, block: Block, grid: PeriodGrid, from_index: int, exponent: int
) -> int:
    """Everything `block` bills in periods `from_index` onwards under these terms.

    A subscription block: the sum of its per-period fees (each rounded), with the periods a
    single piece covers fully counted in closed form. A one-time block: 0 here (billed on its
    own date, see `one_time_fee`).
    """
    if line.kind != "subscription" or not block.pieces:
        return 0
    total = 0
    boundary: set[int] = set()
    for p in block.pieces:
        i_first = grid.index_of(p.first)
        i_last = grid.index_of(p.last)
        boundary.add(i_first)
        boundary.add(i_last)
        inner_first = max(i_first + 1, from_index)
        inner_last = i_last - 1
        if inner_last >= inner_first:
            total += (inner_last - inner_first + 1) * full_period_fee(
                line.price, p.qty, grid.months, exponent
            )
    for i in boundary:
        if i >= from_index:
            total += block_fee(line.price, block, grid, i, grid.start(i), grid.end(i), exponent)
    return total


def ssp_weight(
    line: LineTerms, block: Block, grid: PeriodGrid, from_day: int, at_price: bool = False
) -> tuple[int, int]:
    """The block's standalone selling price from `from_day` on, as exact (numerator, denominator).

    Valued exactly like its fees: `qty × ssp × months / 12` per whole period and prorated by
    days within a period, never rounded. A one-time block is worth `qty × ssp` if not yet
    delivered. `at_price` values it at the unit price instead (when every SSP is zero).
    Integer pairs rather than Fractions: allocations run at every booking and modification.
    """
    sn, sd = ratio(line.price if at_price else line.effective_ssp)
    if line.kind == "one_time":
        qty = sum((p.qty for p in block.pieces if p.first >= from_day), Decimal(0))
        qn, qd = ratio(qty)
        return sn * qn, sd * qd
    months = grid.months
    num, den = 0, 1
    for p in block.pieces:
        first = p.first if p.first > from_day else from_day
        if first > p.last:
            continue
        i_first = grid.index_of(first)
        i_last = grid.index_of(p.last)
        # days served / days in the period, summed over the periods: n / d
        if i_first == i_last:
            n, d = p.last - first + 1, grid.days(i_first)
        else:
            pa, pb = grid.days(i_first), grid.days(i_last)
            a = grid.end(i_first) - first + 1
            b = p.last - grid.start(i_last) + 1
            n, d = (i_last - i_first - 1) * pa * pb + a * pb + b * pa, pa * pb
        qn, qd = ratio(p.qty)
        pn, pd = sn * qn * months * n, sd * qd * 12 * d
        num, den = num * pd + pn * den, den * pd
    return num, den


def ssp_value(
    line: LineTerms, block: Block, grid: PeriodGrid, from_day: int, at_price: bool = False
) -> Fraction:
    """`ssp_weight` as a Fraction (for readers and tests)."""
    num, den = ssp_weight(line, block, grid, from_day, at_price)
    return Fraction(num, den)
