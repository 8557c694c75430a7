"""Calendar: periods anchored on the start date with month-end clipping; days count both ends."""

from __future__ import annotations

from datetime import date

from domain.calendar import (
    PeriodGrid,
    add_months,
    days_inclusive,
    months_between,
    period_at,
    period_index_containing,
)


def test_month_end_clipping_never_drifts() -> None:
    start = date(2026, 1, 31)
    assert [add_months(start, i) for i in range(4)] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)  # leap year
    assert add_months(date(2026, 3, 15), -3) == date(2025, 12, 15)


def test_periods_run_from_anchor_to_the_day_before_the_next() -> None:
    p = period_at(date(2026, 1, 31), 1, 0)
    assert (p.start, p.end, p.days) == (date(2026, 1, 31), date(2026, 2, 27), 28)
    q = period_at(date(2026, 1, 1), 3, 3)
    assert (q.start, q.end, q.days) == (date(2026, 10, 1), date(2026, 12, 31), 92)
    assert period_index_containing(date(2026, 1, 15), 1, date(2026, 2, 14)) == 0
    assert period_index_containing(date(2026, 1, 15), 1, date(2026, 2, 15)) == 1


def test_grid_matches_period_at() -> None:
    for anchor in (date(2026, 1, 31), date(2024, 2, 29), date(2026, 1, 15)):
        for months in (1, 3, 12):
            grid = PeriodGrid(anchor, months)
            for i in range(0, 70, 7):
                p = period_at(anchor, months, i)
                assert grid.start(i) == p.start.toordinal()
                assert grid.end(i) == p.end.toordinal()
                assert grid.days(i) == p.days
                assert grid.index_of(p.end.toordinal()) == i
                assert grid.index_of(p.start.toordinal()) == i


def test_day_counts_and_months() -> None:
    assert days_inclusive(date(2026, 1, 15), date(2027, 1, 14)) == 365
    assert days_inclusive(date(2026, 1, 2), date(2026, 1, 1)) == 0
    assert months_between(date(2026, 11, 20), date(2027, 2, 1)) == [
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2027, 1, 31),
        date(2027, 2, 28),
    ]
