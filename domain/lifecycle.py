"""What the contract workflow asks of a schedule between postings: when to wake, ARR, renewal.

Pure functions of a `Schedule` (no clock): the workflow passes its business date.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from domain.calendar import add_months, month_end
from domain.models import Contract, ContractLine
from domain.schedule import Schedule

__all__ = ["annual_recurring_revenue", "next_due_date", "renewal_contract", "settled_on"]

ONE_DAY = timedelta(days=1)


def next_due_date(schedule: Schedule, today: date) -> date | None:
    """The next business day after `today` on which the contract has something to do.

    A document to issue, a month to close (its revenue is posted the day after it ends), a
    refused amendment or a cancellation taking effect, and the day after the term (usage of
    the last period, expiry). None once the contract has nothing left to do.
    """
    candidates = [d.available_on for d in schedule.documents() if d.available_on > today]
    candidates += [a.effective_date for a in schedule.attention if a.effective_date > today]
    if schedule.cancellation is not None:
        cancel_day = date.fromordinal(max(schedule.cancellation))
        if cancel_day > today:
            candidates.append(cancel_day)
    settled = settled_on(schedule)
    if today >= settled:
        return None
    candidates += [month_end(today) + ONE_DAY, schedule.end_date + ONE_DAY, settled]
    return min(min(d, settled) for d in candidates if d > today)


def settled_on(schedule: Schedule) -> date:
    """The first day on which everything of the term is issued and every month is closed."""
    last_doc = max((d.available_on for d in schedule.documents()), default=schedule.end_date)
    last_revenue = max(
        [schedule.end_date]
        + [date.fromordinal(t.final_day) for o in schedule.obligations for t in o.tranches]
        + [date.fromordinal(day) for day, _ in schedule.usage_revenue]
    )
    return max(last_doc, month_end(last_revenue) + ONE_DAY, schedule.end_date + ONE_DAY)


def annual_recurring_revenue(schedule: Schedule, day: date) -> Decimal:
    """Subscription fees per year in force on `day` (0 outside the term or once cancelled)."""
    ordinal = day.toordinal()
    if not schedule.terms.first <= ordinal <= schedule.terms.last:
        return Decimal(0)
    return sum(
        (
            line.qty_at(ordinal) * line.price
            for line in schedule.terms.lines.values()
            if line.kind == "subscription" and not line.removed
        ),
        Decimal(0),
    )


def renewal_contract(schedule: Schedule) -> Contract | None:
    """The next term on the terms in force on the last day, or None (cancelled, nothing left).

    The term has the length of the one ending (in months when it ran whole months); one-time
    fees are not renewed; subscription quantities and prices, usage allowances and prices are.
    """
    if schedule.cancellation is not None:
        return None
    contract = schedule.contract
    last = schedule.terms.last
    start = date.fromordinal(last + 1)
    first_day = date.fromordinal(schedule.terms.first)
    months = (start.year - first_day.year) * 12 + start.month - first_day.month
    if months > 0 and add_months(first_day, months) == start:
        end = add_months(start, months) - ONE_DAY
    else:
        end = start + (start - first_day) - ONE_DAY
    lines: list[ContractLine] = []
    for line in schedule.terms.lines.values():
        if line.removed or line.last != last or line.kind == "one_time":
            continue
        if line.kind == "subscription":
            quantity = line.qty_at(last)
            if quantity <= 0:
                continue
        else:
            quantity = None
        lines.append(
            ContractLine(
                id=line.id,
                product_code=line.product_code,
                kind=line.kind,
                quantity=quantity,
                unit_price=line.price,
                ssp=line.ssp,
                included=line.included,
                description=line.description,
            )
        )
    if not lines:
        return None
    return contract.model_copy(update={"start_date": start, "end_date": end, "lines": lines})
