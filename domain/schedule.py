"""The schedule of a contract: a pure function of (contract, amendments, usage).

`build_schedule` runs the contract's business days in order — on each day the amendments
received that day apply first (arrival order), then the usage of the period that ended the day
before is invoiced, then the period that starts that day (DESIGN.md §5) — and produces every
billing document of the contract's life, its performance obligations with their revenue
tranches, and usage revenue. Reports, journals and posting differences are views of it.

Amounts are integer minor units inside; `Schedule` turns them into `Decimal` at its edges.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate
from operator import add, sub
from typing import Literal

from domain.builder import (
    NEGATIVE_REMAINING_CONSIDERATION,
    AppliedAmendment,
    Attention,
    Doc,
    ScheduleBuilder,
    order_amendments,
)
from domain.calendar import month_key
from domain.documents import (
    BillingDocument,
    DocumentLine,
    JournalEntry,
    document_journal,
    revenue_journal,
)
from domain.models import Amendment, Contract, UsageRecord
from domain.money import format_minor, from_minor, round_half_up
from domain.revenue import Obligation, ObligationSchedule, RevenueSchedule
from domain.terms import Terms
from domain.validation import check_contract

__all__ = [
    "NEGATIVE_REMAINING_CONSIDERATION",
    "AppliedAmendment",
    "Attention",
    "Doc",
    "Schedule",
    "Status",
    "ThreeWay",
    "build_schedule",
]

Status = Literal["Active", "Cancelled", "Expired", "NeedsAttention"]


def _d(ordinal: int) -> date:
    return date.fromordinal(ordinal)


@dataclass(frozen=True, slots=True)
class ThreeWay:
    """The reconciliation figures of a contract on a date (deferred < 0: a contract asset)."""

    as_of: date
    transaction_price: Decimal
    billed: Decimal
    recognized: Decimal
    deferred: Decimal


class Schedule:
    """Everything a contract bills and recognizes over its life, as the amendments left it."""

    def __init__(
        self,
        contract: Contract,
        exponent: int,
        terms: Terms,
        docs: list[Doc],
        obligations: list[Obligation],
        usage_revenue: list[tuple[int, int]],
        attention: list[Attention],
        amendments: list[AppliedAmendment],
        cancellation: tuple[int, int] | None,
    ) -> None:
        self.contract = contract
        self.currency = contract.currency
        self.exponent = exponent
        self.terms = terms
        self.docs = docs
        self.obligations = obligations
        self.usage_revenue = usage_revenue
        self.attention = attention
        self.amendments = amendments
        self.cancellation = cancellation
        self._months: dict[str, int] | None = None
        self._documents: list[BillingDocument] | None = None

    # -- dates -------------------------------------------------------------------------------

    @property
    def start_date(self) -> date:
        return _d(self.terms.first)

    @property
    def end_date(self) -> date:
        """The last day of service (the day before a cancellation takes effect)."""
        return _d(self.terms.last)

    def money(self, minor: int) -> Decimal:
        return from_minor(minor, self.exponent)

    def text(self, minor: int) -> str:
        return format_minor(minor, self.exponent)

    # -- revenue -----------------------------------------------------------------------------

    @property
    def transaction_price_minor(self) -> int:
        return sum(o.allocated for o in self.obligations)

    @property
    def transaction_price(self) -> Decimal:
        """Everything the contract bills except usage, as allocated to its obligations."""
        return self.money(self.transaction_price_minor)

    def revenue_by_month_minor(self) -> dict[str, int]:
        """Revenue per calendar month ('YYYY-MM') over the whole term, usage included."""
        if self._months is not None:
            return self._months
        first, last = self.terms.first, self.terms.last
        days = [t.final_day for o in self.obligations for t in o.tranches]
        days += [d for d, _ in self.usage_revenue]
        if days:
            first = min(first, *days)
            last = max(last, *days)
        if last < first:
            self._months = {}
            return self._months
        start = _d(first)
        end = _d(last)
        month_ends, keys = _month_grid(start.year * 12 + start.month - 1, end.year * 12 + end.month)
        count = len(month_ends)
        # Cumulative revenue at each month end: a tranche adds its rounded cumulative amounts
        # to the months it is under way and steps up by its total from the month it ends on.
        # List comprehensions and C-level maps keep this, the hottest loop, out of bytecode.
        partial = [0] * count
        step = [0] * count
        for o in self.obligations:
            for t in o.tranches:
                t_first, amount = t.first, t.amount
                i0 = bisect_left(month_ends, t_first)
                i1 = bisect_left(month_ends, t.final_day)
                if i1 > i0:
                    span = t.last - t_first + 1
                    if amount >= 0:
                        two_a, two_s, first_1 = 2 * amount, 2 * span, t_first - 1
                        cums = [(two_a * (e - first_1) + span) // two_s for e in month_ends[i0:i1]]
                    else:
                        cums = [
                            round_half_up(amount * (e - t_first + 1), span)
                            for e in month_ends[i0:i1]
                        ]
                    partial[i0:i1] = map(add, partial[i0:i1], cums)
                step[i1] += t.total
        for day, amount in self.usage_revenue:
            step[bisect_left(month_ends, day)] += amount
        cumulative = list(map(add, partial, accumulate(step)))
        amounts = list(map(sub, cumulative, [0, *cumulative[:-1]]))
        self._months = dict(zip(keys, amounts, strict=True))
        return self._months

    def revenue_by_month(self) -> dict[str, Decimal]:
        return {k: self.money(v) for k, v in self.revenue_by_month_minor().items()}

    def revenue_schedule(self) -> RevenueSchedule:
        """The revenue schedule (pydantic) the ERP keeps for the contract."""
        months = self.revenue_by_month_minor()
        ends = {
            m: date(int(m[:4]) + int(m[5:]) // 12, int(m[5:]) % 12 + 1, 1).toordinal() - 1
            for m in months
        }
        usage = dict.fromkeys(months, 0)
        for day, amount in self.usage_revenue:
            usage[month_key(_d(day))] += amount
        obligations = []
        for o in self.obligations:
            by_month: dict[str, Decimal] = {}
            prev = 0
            for m, end in ends.items():
                c = o.cum(end)
                by_month[m] = self.money(c - prev)
                prev = c
            days = [t.first for t in o.tranches] + [t.final_day for t in o.tranches]
            obligations.append(
                ObligationSchedule(
                    obligation_id=o.id,
                    line_id=o.line_id,
                    product_code=o.product_code,
                    kind=o.kind,
                    treatment=o.treatment,
                    allocated=self.money(o.allocated),
                    first_day=_d(min(days)) if days else None,
                    last_day=_d(max(days)) if days else None,
                    by_month=by_month,
                )
            )
        return RevenueSchedule(
            contract_id=self.contract.id,
            currency=self.currency,
            transaction_price=self.transaction_price,
            start_date=self.start_date,
            end_date=self.end_date,
            obligations=obligations,
            usage_by_month={m: self.money(v) for m, v in usage.items()},
            by_month={m: self.money(v) for m, v in months.items()},
        )

    def recognized_through_minor(self, day: date) -> int:
        d = day.toordinal()
        total = sum(o.cum(d) for o in self.obligations)
        return total + sum(a for u, a in self.usage_revenue if u <= d)

    def recognized_through(self, day: date) -> Decimal:
        """Revenue recognized (by day) on or before `day`, usage included."""
        return self.money(self.recognized_through_minor(day))

    # -- billing -----------------------------------------------------------------------------

    def billed_through_minor(self, day: date) -> int:
        d = day.toordinal()
        return sum(doc.total for doc in self.docs if doc.available_on <= d)

    def billed_through(self, day: date) -> Decimal:
        """Invoices minus credit notes dated (and known) on or before `day`, usage included."""
        return self.money(self.billed_through_minor(day))

    def figures(self, as_of: date) -> ThreeWay:
        """Billed, recognized and deferred (= billed − recognized) as of a date."""
        billed = self.billed_through_minor(as_of)
        recognized = self.recognized_through_minor(as_of)
        return ThreeWay(
            as_of=as_of,
            transaction_price=self.transaction_price,
            billed=self.money(billed),
            recognized=self.money(recognized),
            deferred=self.money(billed - recognized),
        )

    def status(self, as_of: date) -> tuple[Status, str | None]:
        """(status, attention reason) as of a date, per DESIGN.md §5 conventions."""
        for a in self.attention:
            if max(a.effective_date, a.received_on) <= as_of:
                return "NeedsAttention", a.reason
        d = as_of.toordinal()
        if self.cancellation is not None:
            # Received later than it takes effect: the contract runs until it is received
            # (its term cannot have ended by then, or the cancellation would be refused).
            return ("Cancelled" if max(self.cancellation) <= d else "Active"), None
        if d > self.terms.last:
            return "Expired", None
        return "Active", None

    def documents(self) -> list[BillingDocument]:
        """Every billing document of the contract's life, in issue order."""
        if self._documents is None:
            self._documents = [self._document(doc) for doc in self.docs]
        return self._documents

    def _document(self, doc: Doc) -> BillingDocument:
        sign = 1 if doc.total > 0 else -1
        lines = [
            DocumentLine(
                obligation_id=c.obligation_id,
                line_id=c.line_id,
                product_code=c.product_code,
                kind=c.kind,
                description=c.describe(),
                quantity=c.quantity,
                unit_price=c.unit_price,
                amount=self.money(sign * c.amount),
                period_start=_d(c.first),
                period_end=_d(c.last),
            )
            for c in doc.charges
            if c.amount
        ]
        return BillingDocument(
            key=doc.key,
            contract_id=self.contract.id,
            kind=doc.kind,
            source=doc.source,
            date=_d(doc.day),
            available_on=_d(doc.available_on),
            period_start=_d(doc.first),
            period_end=_d(doc.last),
            currency=self.currency,
            lines=lines,
            total=self.money(abs(doc.total)),
            amendment_id=doc.amendment_id,
        )

    def journal_entries(self) -> list[JournalEntry]:
        """The natural journals of the whole life: one per document, one per month of revenue.

        What is actually posted on a given day (with adjustments for months already posted) is
        `domain.posting.posting_difference`.
        """
        entries = [document_journal(doc) for doc in self.documents()]
        for month, amount in self.revenue_by_month_minor().items():
            if amount:
                entries.append(self.month_journal(month, amount))
        return entries

    def month_journal(self, month: str, amount: int) -> JournalEntry:
        """The recognition entry of one month, dated its last day."""
        year, mon = int(month[:4]), int(month[5:])
        last = date(year + mon // 12, mon % 12 + 1, 1).toordinal() - 1
        return revenue_journal(
            f"journal:revenue:{month}",
            self.contract.id,
            _d(last),
            self.currency,
            self.money(amount),
            f"revenue recognized in {month}",
        )


@lru_cache(maxsize=4096)
def _month_grid(first: int, stop: int) -> tuple[list[int], list[str]]:
    """Month-end ordinals and 'YYYY-MM' keys of months first..stop-1 (as year × 12 + month − 1).

    Callers must not modify the lists (they are shared through the cache).
    """
    ends: list[int] = []
    keys: list[str] = []
    for n in range(first, stop):
        y, m = divmod(n + 1, 12)
        ends.append(date(y, m + 1, 1).toordinal() - 1)
        y, m = divmod(n, 12)
        keys.append(f"{y:04d}-{m + 1:02d}")
    return ends, keys


def build_schedule(
    contract: Contract,
    amendments: Sequence[Amendment] = (),
    usage: Sequence[UsageRecord] = (),
) -> Schedule:
    """The whole-life schedule of a contract, its amendments and its usage.

    Raises `InputError` (naming the field path) for input §5 refuses; an amendment whose
    prospective remainder would be negative is not applied and is reported in `attention`.
    """
    check_contract(contract)
    ordered = order_amendments(amendments)
    builder = ScheduleBuilder(contract, usage)
    builder.group_usage(amendments)
    builder.run(ordered)
    builder.check_usage()
    builder.docs.sort(key=lambda doc: (doc.day, doc.rank, doc.seq))
    return Schedule(
        contract=contract,
        exponent=builder.exp,
        terms=builder.terms,
        docs=builder.docs,
        obligations=list(builder.obligations.values()),
        usage_revenue=builder.usage_revenue,
        attention=builder.attention,
        amendments=builder.applied,
        cancellation=builder.cancellation,
    )
