"""Posting differences: what to post today, given the schedule and what is already posted.

Posting is append-only (DESIGN.md §4-5). Documents are posted once each, on or after the
business day they are known; each gets one journal entry. A month's revenue is posted once the
month is over (`journal:revenue:YYYY-MM`, dated its last day); when a later schedule changes a
month already posted, the difference is a new adjustment entry dated the current business day
(`journal:revenue:YYYY-MM:adj:YYYY-MM`), never an edit. Entries whose natural date falls in a
month already closed (its revenue posted) are dated the current business day too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol, TypeVar

from domain.calendar import month_key
from domain.documents import (
    Account,
    BillingDocument,
    DocumentKind,
    JournalEntry,
    document_journal,
    revenue_journal,
)
from domain.errors import PostingConflict
from domain.money import to_minor
from domain.schedule import Schedule

__all__ = ["PostedDocumentLike", "PostingPlan", "posting_difference", "revenue_key"]


class PostedDocumentLike(Protocol):
    """What posting needs to remember of an issued document (not its lines)."""

    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> DocumentKind: ...
    @property
    def date(self) -> date: ...
    @property
    def total(self) -> Decimal: ...


_T = TypeVar("_T", PostedDocumentLike, JournalEntry)


@dataclass(frozen=True, slots=True)
class PostingPlan:
    """New documents (to the billing platform) and journal entries (to the ERP), in order."""

    documents: list[BillingDocument] = field(default_factory=list)
    journals: list[JournalEntry] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.documents and not self.journals


def revenue_key(month: str) -> str:
    """The key of a month's recognition entry: 'journal:revenue:2026-03'."""
    return f"journal:revenue:{month}"


def _by_key(items: Mapping[str, _T] | Iterable[_T]) -> dict[str, _T]:
    if isinstance(items, Mapping):
        return dict(items)
    return {item.key: item for item in items}


def _month_end(month: str) -> date:
    year, mon = int(month[:4]), int(month[5:])
    return date.fromordinal(date(year + mon // 12, mon % 12 + 1, 1).toordinal() - 1)


def posting_difference(
    schedule: Schedule,
    posted_documents: Mapping[str, PostedDocumentLike] | Iterable[PostedDocumentLike],
    posted_journals: Mapping[str, JournalEntry] | Iterable[JournalEntry],
    business_date: date,
) -> PostingPlan:
    """Exactly the documents and journal entries to post on `business_date`.

    `schedule` must be built from what is known on `business_date` (amendments received and
    usage recorded by then). Unchanged things give nothing; a posted document the schedule now
    describes differently raises `PostingConflict`.
    """
    docs_posted = _by_key(posted_documents)
    journals_posted = _by_key(posted_journals)
    exponent = schedule.exponent
    current_month = month_key(business_date)

    prefix = "journal:revenue:"
    closed = ""
    for key in journals_posted:
        if key.startswith(prefix) and ":adj:" not in key:
            closed = max(closed, key[len(prefix) :])

    def entry_date(natural: date) -> date:
        return business_date if closed and month_key(natural) <= closed else natural

    new_docs: list[BillingDocument] = []
    new_journals: list[JournalEntry] = []
    for doc in schedule.documents():
        if doc.available_on > business_date:
            continue
        posted = docs_posted.get(doc.key)
        if posted is None:
            new_docs.append(doc)
        elif (posted.kind, posted.date, posted.total) != (doc.kind, doc.date, doc.total):
            raise PostingConflict(
                f"{doc.key}: posted as {posted.kind} {posted.total} on {posted.date}, but the "
                f"schedule now has {doc.kind} {doc.total} on {doc.date}"
            )
        jkey = f"journal:{doc.key}"
        if jkey not in journals_posted:
            new_journals.append(document_journal(doc, entry_date(doc.date)))

    posted_revenue: dict[str, int] = {}
    has_base: set[str] = set()
    taken: set[str] = set(journals_posted)
    for key, entry in journals_posted.items():
        if not key.startswith(prefix):
            continue
        month = key[len(prefix) : len(prefix) + 7]
        if key == revenue_key(month):
            has_base.add(month)
        credited = -entry.net(Account.REVENUE)
        posted_revenue[month] = posted_revenue.get(month, 0) + to_minor(credited, exponent)
    months = schedule.revenue_by_month_minor()
    for month in sorted(set(months) | set(posted_revenue)):
        if _month_end(month) >= business_date:
            continue
        diff = months.get(month, 0) - posted_revenue.get(month, 0)
        if not diff:
            continue
        amount = Decimal(diff).scaleb(-exponent) if exponent else Decimal(diff)
        if month not in has_base:
            key = revenue_key(month)
            day = entry_date(_month_end(month))
            memo = f"revenue recognized in {month}"
        else:
            key = f"{revenue_key(month)}:adj:{current_month}"
            n = 1
            while key in taken:
                n += 1
                key = f"{revenue_key(month)}:adj:{current_month}-{n}"
            day = business_date
            memo = f"adjustment of {month} revenue, posted {business_date}"
        taken.add(key)
        new_journals.append(
            revenue_journal(key, schedule.contract.id, day, schedule.currency, amount, memo)
        )
    return PostingPlan(new_docs, new_journals)
