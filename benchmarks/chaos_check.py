"""The chaos run's end checks: what billing and the ERP hold, over their APIs, against the domain.

Per contract: billing documents (invoices and credit notes) one to one with the domain's, by key,
kind, date and total; ERP journal entries one to one with the domain's (and one payment entry
per paid invoice), by key, date and amount; every entry balanced; and a three-way
reconciliation of the systems with each other and with the schedule: billed in billing = the
receivables posted by documents in the ERP, revenue in the ERP = the schedule's revenue of the
closed months, cash in the ERP = what billing says was paid.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from adapters.billing import BillingAdapter
from adapters.billing.records import BillingCreditNote, BillingInvoice
from adapters.erp import ErpClient, JournalEntry
from adapters.http import make_http_client
from adapters.settings import Settings
from benchmarks.chaos_book import Expected
from domain.calendar import month_key
from domain.documents import whole_key
from domain.money import from_minor

# The sandbox ERP's chart of accounts, by the name a posted line refers to (1100, 1000, 4000).
AR, CASH, REVENUE = "Accounts Receivable", "Cash", "Revenue"
CONCURRENCY = 6


@dataclass
class Paid:
    """An invoice paid in billing whose `invoice.paid` webhook was answered 2xx."""

    invoice_id: str
    amount: Decimal
    paid_on: dt.date


@dataclass
class Findings:
    contracts: int = 0
    documents: int = 0
    journals: int = 0
    expected_documents: int = 0
    expected_journals: int = 0
    duplicates: int = 0
    missing: int = 0
    unexpected: int = 0
    mismatched: int = 0
    unbalanced: int = 0
    drafts: int = 0
    reconciliation_breaks: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Findings) -> None:
        for name in (
            "contracts",
            "documents",
            "journals",
            "expected_documents",
            "expected_journals",
            "duplicates",
            "missing",
            "unexpected",
            "mismatched",
            "unbalanced",
            "drafts",
            "reconciliation_breaks",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems


def _effect(key: str | None) -> str:
    """`contract-<opp>:invoice:2026-03-01` → `invoice:2026-03-01` (the domain's key)."""
    if not key:
        return ""
    return key.split(":", 1)[1] if key.startswith("contract-") else key


def _account(line_account: object) -> str:
    return str(getattr(line_account, "ref_name", None) or "")


def _net(entry: JournalEntry, account: str) -> Decimal:
    return sum(
        (line.debit - line.credit for line in entry.lines if _account(line.account) == account),
        Decimal(0),
    )


def compare_contract(
    number: str,
    expected: Expected,
    paid: list[Paid],
    invoices: list[BillingInvoice],
    notes: list[BillingCreditNote],
    entries: list[JournalEntry],
    today: dt.date,
) -> Findings:
    found = Findings(contracts=1)
    say = found.problems.append
    # Billing: each document once, as the domain says.
    finalized = [i for i in invoices if i.status != "draft"]
    found.drafts = len(invoices) - len(finalized)
    docs = [(_effect(i.key), "invoice", i.document_date, i.total) for i in finalized]
    docs += [(_effect(n.key), "credit_note", n.document_date, n.total) for n in notes]
    counts = Counter(d[0] for d in docs)  # a part of a split credit note counts on its own
    for key, n in counts.items():
        if n > 1:
            found.duplicates += n - 1
            say(f"{number}: document {key} issued {n} times")
    held: dict[str, tuple[str, str, dt.date | None, Decimal]] = {}
    for key, kind, date, total in {d[0]: d for d in docs}.values():
        whole = whole_key(key)  # the parts of a credit note split over invoices: one document
        if whole in held:
            total += held[whole][3]
        held[whole] = (whole, kind, date, total)
    found.documents = len(held)
    found.expected_documents = len(expected.documents)
    for key, kind, date, total in held.values():
        want = expected.documents.get(key)
        if want is None:
            found.unexpected += 1
            say(f"{number}: document {key} ({kind} {total} on {date}) not in the schedule")
        elif (want.kind, want.date, want.total) != (kind, date, total):
            found.mismatched += 1
            say(f"{number}: {key} is {kind} {total} on {date}, schedule {want.kind} {want.total}")
    for key in expected.documents.keys() - held.keys():
        found.missing += 1
        say(f"{number}: document {key} missing in billing")

    # ERP: each journal once, balanced, as the domain says (plus one per payment).
    want_journals = {k: (j.date, j.amount) for k, j in expected.journals.items()}
    for p in paid:
        want_journals[f"journal:payment:{p.invoice_id}"] = (p.paid_on, p.amount)
    found.journals = len(entries)
    found.expected_journals = len(want_journals)
    keys = Counter(_effect(e.idempotency_key) for e in entries)
    for key, n in keys.items():
        if n > 1:
            found.duplicates += n - 1
            say(f"{number}: journal {key} posted {n} times")
    for entry in entries:
        debit = sum((line.debit for line in entry.lines), Decimal(0))
        credit = sum((line.credit for line in entry.lines), Decimal(0))
        if debit != credit or not entry.lines:
            found.unbalanced += 1
            say(f"{number}: journal {entry.idempotency_key} unbalanced ({debit} ≠ {credit})")
    for entry in {_effect(e.idempotency_key): e for e in entries}.values():
        key = _effect(entry.idempotency_key)
        wanted = want_journals.get(key)
        if wanted is None:
            found.unexpected += 1
            say(f"{number}: journal {key} ({entry.total_debit}) not expected")
        elif wanted != (entry.tran_date, entry.total_debit):
            found.mismatched += 1
            got = (entry.tran_date, entry.total_debit)
            say(f"{number}: journal {key} is {got}, want {wanted}")
    for key in want_journals.keys() - keys.keys():
        found.missing += 1
        say(f"{number}: journal {key} missing in the ERP")

    # Three-way: billing = ERP receivables from documents; ERP revenue = the schedule's closed
    # months; ERP cash = what billing says was paid.
    billed = sum((d[3] if d[1] == "invoice" else -d[3] for d in docs), Decimal(0))
    payments = [e for e in entries if _effect(e.idempotency_key).startswith("journal:payment:")]
    others = [e for e in entries if e not in payments]
    ar_from_documents = sum((_net(e, AR) for e in others), Decimal(0))
    revenue = -sum((_net(e, REVENUE) for e in entries), Decimal(0))
    schedule = expected.schedule
    closed = month_key(today)
    months = schedule.revenue_by_month_minor()
    scheduled = from_minor(
        sum(v for m, v in months.items() if m < closed and _closed(m, today)), schedule.exponent
    )
    cash = sum((_net(e, CASH) for e in payments), Decimal(0))
    paid_in_billing = sum((i.amount_paid for i in finalized), Decimal(0))
    for name, left, right in (
        ("billed (billing) vs receivables from documents (ERP)", billed, ar_from_documents),
        ("revenue (ERP) vs schedule, closed months", revenue, scheduled),
        ("cash (ERP) vs paid (billing)", cash, paid_in_billing),
        ("billed (billing) vs schedule to date", billed, schedule.figures(today).billed),
    ):
        if left != right:
            found.reconciliation_breaks += 1
            say(f"{number}: reconciliation: {name}: {left} ≠ {right}")
    return found


def _closed(month: str, today: dt.date) -> bool:
    year, mon = int(month[:4]), int(month[5:])
    last = dt.date(year + mon // 12, mon % 12 + 1, 1) - dt.timedelta(days=1)
    return last < today


async def read_back(
    settings: Settings, numbers: list[str]
) -> dict[str, tuple[list[BillingInvoice], list[BillingCreditNote], list[JournalEntry]]]:
    """Each contract's invoices, credit notes and journal entries, over the vendors' APIs."""
    limit = asyncio.Semaphore(CONCURRENCY)
    result = {}
    async with BillingAdapter(settings) as billing, make_http_client(settings) as http:
        erp = ErpClient(settings, http)

        async def one(number: str) -> None:
            async with limit:
                invoices = await billing.list_invoices_for(contract_id=number)
                notes = [n for i in invoices for n in await billing.list_credit_notes(i.id)]
                entries = await erp.list_journal_entries(number)
            result[number] = (invoices, notes, entries)

        await asyncio.gather(*(one(n) for n in numbers))
    return result
