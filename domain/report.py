"""The contract report of DESIGN.md §6, as of a business date.

`invoices` lists the documents known on or before `as_of`; `revenue_by_month` is the whole
schedule (also after `as_of`); the `*_to_date` figures count what is dated or recognized on or
before `as_of`; `status` follows the §5 conventions. Amounts are strings with exactly the
currency's minor units, as in the `.report.json` files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.models import Scenario
from domain.money import format_minor
from domain.schedule import Schedule, build_schedule

__all__ = [
    "Report",
    "ReportDocument",
    "ReportObligation",
    "ReportStatus",
    "build_report",
    "report_for_scenario",
    "schedule_for_scenario",
]

ReportStatus = Literal["Active", "Cancelled", "Expired", "NeedsAttention"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class ReportObligation:
    """An obligation's line of the report (a plain dataclass: reports are built in bulk)."""

    line_id: str
    allocated: str
    treatment: Literal["original", "separate", "prospective"]


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """An invoice or credit note as the report lists it."""

    number: str
    kind: Literal["invoice", "credit_note"]
    date: dt.date
    period_start: dt.date
    period_end: dt.date
    total: str


class Report(_Model):
    """The §6 report; `to_json()` gives exactly the `--json` shape."""

    contract_id: str
    currency: str
    as_of: dt.date
    transaction_price: str
    obligations: list[ReportObligation]
    invoices: list[ReportDocument]
    revenue_by_month: dict[str, str]
    billed_to_date: str
    recognized_to_date: str
    deferred_revenue: str
    status: ReportStatus
    attention_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def build_report(schedule: Schedule, as_of: dt.date) -> Report:
    """The §6 report of a schedule as of a business date."""
    exponent = schedule.exponent

    def text(minor: int) -> str:
        return format_minor(minor, exponent)

    cutoff = as_of.toordinal()
    invoices: list[ReportDocument] = []
    n_inv = n_cn = 0
    for doc in schedule.docs:
        if doc.total > 0:
            n_inv += 1
            number = f"INV-{n_inv:04d}"
        else:
            n_cn += 1
            number = f"CN-{n_cn:04d}"
        if doc.available_on > cutoff:
            continue
        invoices.append(
            ReportDocument(
                number=number,
                kind=doc.kind,
                date=dt.date.fromordinal(doc.day),
                period_start=dt.date.fromordinal(doc.first),
                period_end=dt.date.fromordinal(doc.last),
                total=text(abs(doc.total)),
            )
        )
    billed = schedule.billed_through_minor(as_of)
    recognized = schedule.recognized_through_minor(as_of)
    status, reason = schedule.status(as_of)
    return Report.model_construct(
        contract_id=schedule.contract.id,
        currency=schedule.currency,
        as_of=as_of,
        transaction_price=text(schedule.transaction_price_minor),
        obligations=[
            ReportObligation(line_id=o.id, allocated=text(o.allocated), treatment=o.treatment)
            for o in schedule.obligations
        ],
        invoices=invoices,
        revenue_by_month={
            k: format_minor(v, exponent) for k, v in schedule.revenue_by_month_minor().items()
        },
        billed_to_date=text(billed),
        recognized_to_date=text(recognized),
        deferred_revenue=text(billed - recognized),
        status=status,
        attention_reason=reason,
    )


def schedule_for_scenario(scenario: Scenario) -> Schedule:
    """The schedule of a scenario's contract, amendments and usage."""
    return build_schedule(scenario.contract, scenario.amendments, scenario.usage)


def report_for_scenario(scenario: Scenario) -> Report:
    """The report `q2c schedule` prints for a scenario, as of its `as_of`."""
    return build_report(schedule_for_scenario(scenario), scenario.as_of)
