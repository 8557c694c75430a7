"""The revenue plan q2c posts to the ERP: what each obligation recognizes, day by day.

The ERP holds the plan next to the journals, so anyone reading the ERP (the report of a live
contract, reconciliation) can tell what is recognized through any day without the contract's
history: each obligation is a list of tranches recognized straight-line by day with cumulative
rounding (DESIGN.md §5), plus the usage revenue recognized on its days.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.money import from_minor, to_minor
from domain.revenue import Tranche, Treatment
from domain.schedule import Schedule

__all__ = ["PlanObligation", "PlanTranche", "RevenuePlan", "UsageRevenue", "revenue_plan"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanTranche(_Model):
    """`amount` recognized straight-line over [first, last], nothing after `cut`."""

    first: dt.date
    last: dt.date
    amount: Decimal
    cut: dt.date


class PlanObligation(_Model):
    obligation_id: str
    line_id: str
    product_code: str
    kind: str
    treatment: Treatment
    allocated: Decimal
    tranches: list[PlanTranche]


class UsageRevenue(_Model):
    date: dt.date
    amount: Decimal


class RevenuePlan(_Model):
    contract_id: str
    currency: str
    exponent: int
    transaction_price: Decimal
    obligations: list[PlanObligation]
    usage: list[UsageRevenue]
    revenue_by_month: dict[str, Decimal]

    def recognized_through(self, day: dt.date) -> Decimal:
        """Revenue recognized on or before `day`, usage included (exact, per §5 rounding)."""
        ordinal = day.toordinal()
        minor = 0
        for obligation in self.obligations:
            for t in obligation.tranches:
                tranche = Tranche(
                    t.first.toordinal(),
                    t.last.toordinal(),
                    to_minor(t.amount, self.exponent),
                    t.cut.toordinal(),
                )
                minor += tranche.cum(ordinal)
        minor += sum(to_minor(u.amount, self.exponent) for u in self.usage if u.date <= day)
        return from_minor(minor, self.exponent)


def revenue_plan(schedule: Schedule) -> RevenuePlan:
    """The plan of a schedule as it stands (after every amendment it was built with)."""
    money = schedule.money
    usage: dict[int, int] = {}
    for day, amount in schedule.usage_revenue:
        usage[day] = usage.get(day, 0) + amount
    return RevenuePlan(
        contract_id=schedule.contract.id,
        currency=schedule.currency,
        exponent=schedule.exponent,
        transaction_price=schedule.transaction_price,
        obligations=[
            PlanObligation(
                obligation_id=o.id,
                line_id=o.line_id,
                product_code=o.product_code,
                kind=o.kind,
                treatment=o.treatment,
                allocated=money(o.allocated),
                tranches=[
                    PlanTranche(
                        first=dt.date.fromordinal(t.first),
                        last=dt.date.fromordinal(t.last),
                        amount=money(t.amount),
                        cut=dt.date.fromordinal(t.cut),
                    )
                    for t in o.tranches
                ],
            )
            for o in schedule.obligations
        ],
        usage=[
            UsageRevenue(date=dt.date.fromordinal(day), amount=money(amount))
            for day, amount in sorted(usage.items())
            if amount
        ],
        revenue_by_month=schedule.revenue_by_month(),
    )
