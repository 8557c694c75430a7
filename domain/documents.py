"""Documents q2c posts: invoices and credit notes with their lines, and journal entries.

Every document and entry carries a deterministic `key` (e.g. `invoice:2026-03-15`,
`amendment:AMD-1`, `journal:revenue:2026-03`): activities prefix it with the workflow id and use
it as the idempotency key, so a retried post can never create a second one. A `JournalEntry`
refuses to exist unbalanced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.models import LineKind
from domain.money import currency_exponent

__all__ = [
    "CREDIT_PART_MARK",
    "Account",
    "BillingDocument",
    "DocumentKind",
    "DocumentLine",
    "DocumentSource",
    "JournalEntry",
    "JournalLine",
    "credit_part_key",
    "document_journal",
    "payment_journal",
    "revenue_journal",
    "split_credit",
    "whole_key",
]

DocumentKind = Literal["invoice", "credit_note"]
DocumentSource = Literal["period", "usage", "amendment", "one_time"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentLine(_Model):
    """One line of an invoice or credit note, with what the billing platform needs to show it.

    `amount` is signed in the document's direction: on an invoice a positive amount is charged;
    on a credit note a positive amount is credited (a negative one is a charge netted into it).
    The lines always sum to the document's `total`.
    """

    obligation_id: str | None
    line_id: str
    product_code: str
    kind: LineKind
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    period_start: dt.date
    period_end: dt.date


class BillingDocument(_Model):
    """An invoice or a credit note, dated by the business date it is for.

    `available_on` is the first business day q2c can know it (later than `date` only for the
    document of an amendment received after its effective date).
    """

    key: str
    contract_id: str
    kind: DocumentKind
    source: DocumentSource
    date: dt.date
    available_on: dt.date
    period_start: dt.date
    period_end: dt.date
    currency: str
    lines: list[DocumentLine]
    total: Decimal = Field(gt=0)
    amendment_id: str | None = None

    @property
    def signed_total(self) -> Decimal:
        """What the document adds to the customer's balance (negative for a credit note)."""
        return self.total if self.kind == "invoice" else -self.total

    @model_validator(mode="after")
    def _lines_sum_to_total(self) -> Self:
        if sum((line.amount for line in self.lines), Decimal(0)) != self.total:
            raise ValueError(f"{self.key}: lines do not sum to the total {self.total}")
        return self


class Account(StrEnum):
    """The general-ledger accounts q2c posts to (mapped to ERP account ids by the adapter)."""

    ACCOUNTS_RECEIVABLE = "accounts_receivable"
    DEFERRED_REVENUE = "deferred_revenue"
    REVENUE = "revenue"
    CASH = "cash"


class JournalLine(_Model):
    """A debit or a credit (exactly one of them positive) on one account."""

    account: Account
    debit: Decimal = Field(default=Decimal(0), ge=0)
    credit: Decimal = Field(default=Decimal(0), ge=0)
    memo: str = ""

    @model_validator(mode="after")
    def _one_side(self) -> Self:
        if (self.debit > 0) == (self.credit > 0):
            raise ValueError("a journal line is either a debit or a credit, and not zero")
        return self


class JournalEntry(_Model):
    """A balanced journal entry; amounts in the currency's minor units. Never edited once posted."""

    key: str
    contract_id: str
    date: dt.date
    currency: str
    memo: str
    lines: list[JournalLine] = Field(min_length=2)
    source_key: str | None = None

    @property
    def amount(self) -> Decimal:
        """The entry's size: the sum of its debits (= the sum of its credits)."""
        return sum((line.debit for line in self.lines), Decimal(0))

    def net(self, account: Account) -> Decimal:
        """Debits minus credits on `account`."""
        return sum(
            (line.debit - line.credit for line in self.lines if line.account == account),
            Decimal(0),
        )

    @model_validator(mode="after")
    def _balanced(self) -> Self:
        debit = sum((line.debit for line in self.lines), Decimal(0))
        credit = sum((line.credit for line in self.lines), Decimal(0))
        if debit != credit:
            raise ValueError(f"{self.key}: unbalanced (debits {debit} ≠ credits {credit})")
        exponent = currency_exponent(self.currency)
        for line in self.lines:
            for value in (line.debit, line.credit):
                if value != value.quantize(Decimal(1).scaleb(-exponent)):
                    raise ValueError(
                        f"{self.key}: {value} has more decimals than {self.currency} allows"
                    )
        return self


def _pair(debit: Account, credit: Account, amount: Decimal, memo: str = "") -> list[JournalLine]:
    if amount < 0:
        debit, credit, amount = credit, debit, -amount
    return [
        JournalLine(account=debit, debit=amount, memo=memo),
        JournalLine(account=credit, credit=amount, memo=memo),
    ]


def document_journal(doc: BillingDocument, day: dt.date | None = None) -> JournalEntry:
    """Invoice: Dr Accounts Receivable / Cr Deferred Revenue; a credit note the reverse."""
    return JournalEntry(
        key=f"journal:{doc.key}",
        contract_id=doc.contract_id,
        date=day or doc.date,
        currency=doc.currency,
        memo=f"{doc.kind.replace('_', ' ')} {doc.key} of {doc.date}",
        lines=_pair(Account.ACCOUNTS_RECEIVABLE, Account.DEFERRED_REVENUE, doc.signed_total),
        source_key=doc.key,
    )


def revenue_journal(
    key: str, contract_id: str, day: dt.date, currency: str, amount: Decimal, memo: str
) -> JournalEntry:
    """Recognition: Dr Deferred Revenue / Cr Revenue (reversed when the amount is negative)."""
    return JournalEntry(
        key=key,
        contract_id=contract_id,
        date=day,
        currency=currency,
        memo=memo,
        lines=_pair(Account.DEFERRED_REVENUE, Account.REVENUE, amount),
    )


def payment_journal(
    contract_id: str, payment_id: str, day: dt.date, amount: Decimal, currency: str
) -> JournalEntry:
    """A payment received: Dr Cash / Cr Accounts Receivable (a refund, negative, the reverse)."""
    return JournalEntry(
        key=f"journal:payment:{payment_id}",
        contract_id=contract_id,
        date=day,
        currency=currency,
        memo=f"payment {payment_id}",
        lines=_pair(Account.CASH, Account.ACCOUNTS_RECEIVABLE, amount),
        source_key=f"payment:{payment_id}",
    )


# A credit note larger than what any one invoice can still be credited (a cancellation that
# cuts the latest period and the one before, an upsell's invoice and the period's) is issued
# in billing as several credit notes, one an invoice: the document stays one (one journal, one
# line of the report); its parts carry the document's key with a part number.
CREDIT_PART_MARK = "#part-"


def credit_part_key(key: str, part: int) -> str:
    """The key of part `part` (from 1) of a credit note: part 1 keeps the document's own key,
    so an unsplit credit note is keyed as it always was."""
    if part < 1:
        raise ValueError(f"part {part}: parts count from 1")
    return key if part == 1 else f"{key}{CREDIT_PART_MARK}{part}"


def whole_key(key: str) -> str:
    """The document key a billing record belongs to (a part's key without its part number)."""
    return key.partition(CREDIT_PART_MARK)[0]


def split_credit(total: Decimal, rooms: Sequence[Decimal]) -> list[Decimal]:
    """`total` over invoices in the order given, each part at most that invoice's room (what it
    can still be credited): the first invoices take as much as they can. One amount an invoice
    (zero where nothing is left to place); ValueError when the rooms together are too small."""
    if total <= 0:
        raise ValueError(f"a credit of {total} cannot be split")
    parts: list[Decimal] = []
    left = total
    for room in rooms:
        part = min(left, max(room, Decimal(0)))
        parts.append(part)
        left -= part
    if left > 0:
        raise ValueError(f"the invoices can still be credited {total - left} of {total}")
    return parts
