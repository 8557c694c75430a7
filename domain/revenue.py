"""Revenue recognition: performance obligations, allocation and straight-line recognition.

An obligation's revenue is a list of *tranches*: an amount recognized straight-line by day from
`first` to `last` with cumulative rounding (recognized through day d = amount × days elapsed /
days in total, rounded), optionally *cut* at a day after which it recognizes nothing more. A
prospective modification cuts every tranche the day before it takes effect (what was recognized
stays) and adds a tranche for the reallocated remainder; a cancellation cuts them and adds a
one-day true-up. Because every figure is a difference of cumulative amounts, months always sum
exactly to the allocation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.money import round_half_up

__all__ = ["Obligation", "ObligationSchedule", "RevenueSchedule", "Tranche", "Treatment"]

Treatment = Literal["original", "separate", "prospective"]


@dataclass(slots=True)
class Tranche:
    """`amount` minor units recognized straight-line by day over [first, last], cut after `cut`."""

    first: int
    last: int
    amount: int
    cut: int

    def cum(self, day: int) -> int:
        """Recognized through ordinal `day` (inclusive)."""
        if day < self.first:
            return 0
        end = self.cut if self.cut < day else day
        if end >= self.last:
            return self.amount
        if end < self.first:
            return 0
        return round_half_up(self.amount * (end - self.first + 1), self.last - self.first + 1)

    @property
    def total(self) -> int:
        """Everything this tranche recognizes over its life."""
        return self.cum(self.cut)

    @property
    def final_day(self) -> int:
        """The last day on which this tranche recognizes anything."""
        return min(self.cut, self.last)


@dataclass(slots=True)
class Obligation:
    """A performance obligation: a block of a line, how it was treated, and its tranches."""

    id: str
    line_id: str
    product_code: str
    kind: Literal["subscription", "one_time"]
    treatment: Treatment
    tranches: list[Tranche] = field(default_factory=list)

    def cum(self, day: int) -> int:
        """Recognized through ordinal `day`."""
        return sum(t.cum(day) for t in self.tranches)

    @property
    def allocated(self) -> int:
        """All the revenue this obligation recognizes over its life."""
        return sum(t.total for t in self.tranches)

    def cut(self, day: int) -> None:
        """Recognize nothing after `day`: what was recognized through it stays."""
        kept = []
        for t in self.tranches:
            if t.first > day:
                continue
            if t.cut > day:
                t = Tranche(t.first, t.last, t.amount, day)
            kept.append(t)
        self.tranches = kept

    def add_straight_line(self, first: int, last: int, amount: int) -> None:
        if amount:
            self.tranches.append(Tranche(first, last, amount, last))

    def add_point(self, day: int, amount: int) -> None:
        if amount:
            self.tranches.append(Tranche(day, day, amount, day))


class ObligationSchedule(BaseModel):
    """One obligation's revenue: its allocation, treatment and amounts by calendar month."""

    model_config = ConfigDict(frozen=True)

    obligation_id: str
    line_id: str
    product_code: str
    kind: Literal["subscription", "one_time"]
    treatment: Treatment
    allocated: Decimal
    first_day: date | None
    last_day: date | None
    by_month: dict[str, Decimal]


class RevenueSchedule(BaseModel):
    """The contract's revenue schedule as the ERP stores it (replaced as amendments land).

    `by_month` is every month of the term, usage included; the obligations' months plus
    `usage_by_month` sum to it, and the obligations' allocations to `transaction_price`.
    """

    model_config = ConfigDict(frozen=True)

    contract_id: str
    currency: str
    transaction_price: Decimal
    start_date: date
    end_date: date
    obligations: list[ObligationSchedule]
    usage_by_month: dict[str, Decimal]
    by_month: dict[str, Decimal]
