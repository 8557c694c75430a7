"""Calendar rules: billing periods anchored on the start date, month-end clipping, day counts.

Periods are always computed from the original anchor (never from the previous period), so a
contract starting on Jan 31 bills Feb 28 (or 29) and then Mar 31 again. Day counts include both
ends. Dates are handled as proleptic ordinals where arithmetic matters, which is cheap.
"""

from __future__ import annotations

import calendar as _stdcal
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

__all__ = [
    "FREQUENCY_MONTHS",
    "BillingFrequency",
    "Period",
    "PeriodGrid",
    "add_months",
    "days_inclusive",
    "month_end",
    "month_key",
    "months_between",
    "period_at",
    "period_index_containing",
]

BillingFrequency = Literal["monthly", "quarterly", "annual"]
FREQUENCY_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "annual": 12}

ONE_DAY = timedelta(days=1)


def add_months(anchor: date, months: int) -> date:
    """The anchor's day `months` later; a month without that day uses its last day."""
    total = anchor.year * 12 + anchor.month - 1 + months
    year, month0 = divmod(total, 12)
    month = month0 + 1
    last = _stdcal.monthrange(year, month)[1]
    return date(year, month, min(anchor.day, last))


def days_inclusive(first: date, last: date) -> int:
    """Days from `first` to `last`, both counted (0 when last is before first)."""
    return max(0, last.toordinal() - first.toordinal() + 1)


def month_end(day: date) -> date:
    """The last day of the day's month."""
    return date(day.year, day.month, _stdcal.monthrange(day.year, day.month)[1])


def month_key(day: date) -> str:
    """'YYYY-MM', the key of revenue and journal months."""
    return f"{day.year:04d}-{day.month:02d}"


def months_between(first: date, last: date) -> list[date]:
    """Month-end dates of every calendar month from first's month to last's month."""
    out: list[date] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(date(year, month, _stdcal.monthrange(year, month)[1]))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return out


@dataclass(frozen=True, slots=True)
class Period:
    """Billing period `index` of a contract: [start, end] between two anchors, `days` long.

    `end` is the day before the next anchor, not clipped to the term; `months` is the nominal
    length used by the fee formula (quantity × unit price × months / 12).
    """

    index: int
    start: date
    end: date
    months: int

    @property
    def days(self) -> int:
        return self.end.toordinal() - self.start.toordinal() + 1


@lru_cache(maxsize=65536)
def period_at(anchor: date, months: int, index: int) -> Period:
    """Period `index` (0-based) of a schedule anchored on `anchor` with `months` per period."""
    start = add_months(anchor, index * months)
    end = add_months(anchor, (index + 1) * months) - ONE_DAY
    return Period(index, start, end, months)


def period_index_containing(anchor: date, months: int, day: date) -> int:
    """Index of the period that contains `day` (negative before the anchor)."""
    elapsed = (day.year - anchor.year) * 12 + day.month - anchor.month
    index = elapsed // months
    while period_at(anchor, months, index).start > day:
        index -= 1
    while period_at(anchor, months, index).end < day:
        index += 1
    return index


@lru_cache(maxsize=4096)
def _first_anchors(anchor: date, months: int) -> tuple[int, ...]:
    """Ordinals of the first anchors (about four years): contracts often share start dates."""
    return tuple(add_months(anchor, i * months).toordinal() for i in range(48 // months + 2))


class PeriodGrid:
    """The billing periods of one contract as ordinals: fast lookups for the schedule's loops.

    Period i runs from `start(i)` to `start(i + 1) - 1`; anchors come from `add_months` on the
    contract's start date, so month-end clipping never drifts.
    """

    __slots__ = ("_anchor", "_starts", "months")

    def __init__(self, anchor: date, months: int) -> None:
        self._anchor = anchor
        self.months = months
        self._starts: list[int] = list(_first_anchors(anchor, months))

    def _ensure(self, index: int) -> None:
        starts = self._starts
        while len(starts) <= index + 1:
            starts.append(add_months(self._anchor, len(starts) * self.months).toordinal())

    def start(self, index: int) -> int:
        try:
            return self._starts[index]
        except IndexError:
            self._ensure(index)
            return self._starts[index]

    def end(self, index: int) -> int:
        try:
            return self._starts[index + 1] - 1
        except IndexError:
            self._ensure(index)
            return self._starts[index + 1] - 1

    def days(self, index: int) -> int:
        return self.end(index) - self.start(index) + 1

    def index_of(self, day: int) -> int:
        """Index of the period containing ordinal `day` (the anchor's period for earlier days)."""
        starts = self._starts
        while starts[-1] <= day:
            starts.append(add_months(self._anchor, len(starts) * self.months).toordinal())
        return max(0, bisect_right(starts, day) - 1)
