"""Three-way reconciliation of one contract on a date (DESIGN.md §5), pure: no I/O.

Four checks, each a `Difference` when the two sides disagree (amount = actual − expected, in
the currency's minor units, with the records involved):

- `bookings`: the transaction price of the contract as Salesforce holds it now (opportunity,
  line items and the amendments q2c applied, read again) against the transaction price of the
  contract as q2c booked it (the workflow's booking, amendments and usage, by the domain
  engine). Records: the opportunity, the lines and amendments that differ.
- `billing_vs_ar`: documents in billing (invoices − credit notes, void or draft ones count as
  not billed) against accounts receivable posted in the ERP by the contract's invoice and
  credit-note journals (payment journals aside). Documents and journals are paired by q2c's
  keys; records: the ids of the pairs that differ and of journals q2c did not post.
- `revenue`: revenue posted in the ERP against the schedule's revenue of every month closed by
  the date (q2c posts a month's revenue the day after it ends, adjustments on the day an
  amendment lands). Records: the journals of the months that differ and stray journals.
- `deferred`: deferred revenue in the ERP against billed (billing) − recognized (the schedule,
  closed months), i.e. what the contract's deferred revenue balance must be.

Only entries and documents dated on or before the date count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.calendar import month_end
from domain.documents import Account, whole_key
from domain.errors import InputError
from domain.models import Amendment, Contract, ContractLine, UsageRecord
from domain.money import from_minor, to_minor
from domain.schedule import Schedule, build_schedule

__all__ = [
    "KINDS",
    "BilledRecord",
    "BookedContract",
    "ContractReconciliation",
    "Difference",
    "ErpEntry",
    "ErpLine",
    "ReconKind",
    "ReconciliationBasis",
    "ReconciliationReport",
    "compare_billing",
    "compare_bookings",
    "compare_deferred",
    "compare_revenue",
    "reconcile_contract",
]

ReconKind = Literal["bookings", "billing_vs_ar", "revenue", "deferred"]
KINDS: tuple[ReconKind, ...] = ("bookings", "billing_vs_ar", "revenue", "deferred")
ReconStatus = Literal["Clean", "Mismatch", "Skipped"]

PAYMENT_MARK = ":journal:payment:"
JOURNAL_MARK = ":journal:"
REVENUE_MARK = ":journal:revenue:"
NOT_BILLED = frozenset({"void", "draft", "deleted"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- inputs ------------------------------------------------------------------------------------


class ReconciliationBasis(_Model):
    """What a contract workflow holds (its `reconciliation_basis` query): the contract as q2c
    booked it, the amendments it took (with the day each was received) and its usage."""

    workflow_id: str
    opportunity_id: str
    term: int = 1
    stage: str
    business_date: dt.date
    processed_through: dt.date | None = None
    next_due: dt.date | None = Field(None, description="The next day the contract has work.")
    finished: bool = False
    contract: Contract | None = None
    amendments: list[Amendment] = Field(default_factory=list)
    amendment_requests: dict[str, str] = Field(
        default_factory=dict, description="Amendment Name → the Salesforce id it was read by."
    )
    usage: list[UsageRecord] = Field(default_factory=list)

    @property
    def key_prefix(self) -> str:
        """The prefix of this term's idempotency keys: `contract-OPP:` or `…:term-2:`."""
        term = "" if self.term == 1 else f"term-{self.term}:"
        return f"{self.workflow_id}:{term}"


class BookedContract(_Model):
    """A contract with its amendments and usage: one side of the bookings check."""

    contract: Contract
    amendments: list[Amendment] = Field(default_factory=list)
    usage: list[UsageRecord] = Field(default_factory=list)

    def schedule(self, as_of: dt.date) -> Schedule:
        """The schedule of what was received by `as_of`."""
        known = [a for a in self.amendments if a.received <= as_of]
        return build_schedule(self.contract, known, self.usage)


class BilledRecord(_Model):
    """An invoice or a credit note as the billing platform holds it (a credit's total > 0)."""

    id: str
    kind: Literal["invoice", "credit_note"]
    status: str | None
    date: dt.date
    total: Decimal
    key: str | None = Field(None, description="The idempotency key q2c created it with.")

    @property
    def billed(self) -> bool:
        return (self.status or "") not in NOT_BILLED

    @property
    def signed(self) -> Decimal:
        return self.total if self.kind == "invoice" else -self.total


class ErpLine(_Model):
    """A journal line; `account` None for an account q2c does not post to."""

    account: Account | None
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)


class ErpEntry(_Model):
    """A journal entry as the ERP holds it for the contract."""

    id: str
    key: str | None = Field(None, description="q2c's idempotency key; None if not q2c's.")
    date: dt.date
    lines: list[ErpLine]

    def net(self, account: Account) -> Decimal:
        """Debits minus credits on an account."""
        return sum(
            (line.debit - line.credit for line in self.lines if line.account == account),
            Decimal(0),
        )


# -- outputs -----------------------------------------------------------------------------------


class Difference(_Model):
    """One check that does not hold: actual − expected, and the records to look at."""

    kind: ReconKind
    amount: Decimal
    expected: Decimal
    actual: Decimal
    records: list[str] = Field(default_factory=list)
    detail: str = ""


class ContractReconciliation(_Model):
    """One contract's four checks on a date."""

    workflow_id: str
    opportunity_id: str
    contract_id: str
    currency: str = ""
    as_of: dt.date
    checked_through: dt.date | None = Field(
        None,
        description="The date the books were compared on: as_of, or the last day the "
        "contract had processed when earlier.",
    )
    status: ReconStatus
    note: str = ""
    figures: dict[str, Decimal] = Field(default_factory=dict)
    differences: list[Difference] = Field(default_factory=list)


class ReconciliationReport(_Model):
    """A reconciliation run over some contracts."""

    run_id: str
    as_of: dt.date
    started: dt.datetime
    contracts: list[ContractReconciliation] = Field(default_factory=list)
    clean_omitted: int = Field(
        0,
        description="Clean contracts compared but not listed (a large book's report keeps "
        "the workflow result small: only contracts with differences or skipped are listed).",
    )

    @property
    def compared(self) -> int:
        """Contracts this run looked at, listed or not."""
        return len(self.contracts) + self.clean_omitted

    @property
    def differences(self) -> list[tuple[ContractReconciliation, Difference]]:
        return [(c, d) for c in self.contracts for d in c.differences]

    @property
    def mismatches(self) -> int:
        return len(self.differences)

    @property
    def clean(self) -> bool:
        """No difference found (contracts skipped aside: see `skipped`)."""
        return self.mismatches == 0

    @property
    def skipped(self) -> list[ContractReconciliation]:
        """Contracts not compared: not activated yet, not answering, records unreadable."""
        return [c for c in self.contracts if c.status == "Skipped"]

    def by_kind(self) -> dict[ReconKind, int]:
        counts: dict[ReconKind, int] = dict.fromkeys(KINDS, 0)
        for _, difference in self.differences:
            counts[difference.kind] += 1
        return counts

    def for_contract(self, ident: str) -> ContractReconciliation:
        """The result of a contract by workflow id, opportunity id or contract id."""
        for c in self.contracts:
            if ident in (c.workflow_id, c.opportunity_id, c.contract_id):
                return c
        raise KeyError(ident)


# -- the checks --------------------------------------------------------------------------------


def _money(minor: int, exponent: int) -> Decimal:
    return from_minor(minor, exponent)


def _q(amount: Decimal, exponent: int) -> Decimal:
    return from_minor(to_minor(amount, exponent), exponent)


def _line_fields(line: ContractLine) -> tuple[object, ...]:
    return (
        line.kind,
        line.product_code,
        line.quantity,
        line.unit_price,
        line.ssp,
        line.included,
        line.start_date,
        line.end_date,
    )


def _differing_parts(held: BookedContract, booked: BookedContract) -> list[str]:
    """Lines (`line L1`) and amendments (`amendment AMD-1`) that differ between the sides."""
    parts: list[str] = []
    a, b = held.contract, booked.contract
    if (a.start_date, a.end_date, a.billing_frequency, a.currency) != (
        b.start_date,
        b.end_date,
        b.billing_frequency,
        b.currency,
    ):
        parts.append("terms")
    mine = {line.id: _line_fields(line) for line in a.lines}
    theirs = {line.id: _line_fields(line) for line in b.lines}
    for line_id in sorted(set(mine) | set(theirs)):
        if mine.get(line_id) != theirs.get(line_id):
            parts.append(f"line {line_id}")
    ours = {x.id: x.model_dump(exclude={"received_on"}) for x in held.amendments}
    sf = {x.id: x.model_dump(exclude={"received_on"}) for x in booked.amendments}
    for amendment_id in sorted(set(ours) | set(sf)):
        if ours.get(amendment_id) != sf.get(amendment_id):
            parts.append(f"amendment {amendment_id}")
    return parts


def compare_bookings(
    held: BookedContract,
    salesforce: BookedContract | str,
    as_of: dt.date,
    opportunity_id: str,
) -> Difference | None:
    """Salesforce's contract value against q2c's transaction price.

    `salesforce` is the contract as read now, or the reason it could not be read as one (a
    booking edited into something the domain refuses).
    """
    ours = held.schedule(as_of)
    exponent = ours.exponent
    expected = ours.transaction_price
    if isinstance(salesforce, str):
        return Difference(
            kind="bookings",
            amount=-expected,
            expected=expected,
            actual=_money(0, exponent),
            records=[f"opportunity {opportunity_id}"],
            detail=f"Salesforce's booking cannot be valued: {salesforce}",
        )
    try:
        theirs = salesforce.schedule(as_of)
    except InputError as exc:
        return compare_bookings(held, str(exc), as_of, opportunity_id)
    actual = theirs.transaction_price
    if actual == expected:
        # Edits that leave the transaction price as it was (an SSP restated, a usage price)
        # are no difference in the contract's value.
        return None
    parts = _differing_parts(held, salesforce)
    return Difference(
        kind="bookings",
        amount=actual - expected,
        expected=expected,
        actual=actual,
        records=[f"opportunity {opportunity_id}", *parts],
        detail=(
            f"Salesforce books {actual}, q2c's transaction price is {expected}"
            + (f" ({', '.join(parts)} changed in Salesforce)" if parts else "")
        ),
    )


def _document_key(entry_key: str) -> str:
    """`contract-X:journal:invoice:2026-01-15` → `contract-X:invoice:2026-01-15`."""
    head, _, tail = entry_key.partition(JOURNAL_MARK)
    return f"{head}:{tail}"


def _in_term(key: str | None, prefix: str, workflow_id: str) -> bool:
    """Whether a key belongs to this term (keys of other terms of the workflow do not)."""
    if key is None or not key.startswith(f"{workflow_id}:"):
        return True  # not q2c's: it counts wherever it lands
    if not key.startswith(prefix):
        return False
    rest = key[len(prefix) :]
    return not (prefix == f"{workflow_id}:" and rest.startswith("term-"))


def _entries(
    entries: Iterable[ErpEntry], as_of: dt.date, prefix: str, workflow_id: str
) -> list[ErpEntry]:
    return [e for e in entries if e.date <= as_of and _in_term(e.key, prefix, workflow_id)]


def _documents(
    docs: Iterable[BilledRecord], as_of: dt.date, prefix: str, workflow_id: str
) -> list[BilledRecord]:
    return [d for d in docs if d.date <= as_of and _in_term(d.key, prefix, workflow_id)]


def _is_ours(key: str | None, workflow_id: str) -> bool:
    return key is not None and key.startswith(f"{workflow_id}:")


def compare_billing(
    docs: Sequence[BilledRecord],
    entries: Sequence[ErpEntry],
    as_of: dt.date,
    *,
    workflow_id: str,
    prefix: str,
    exponent: int,
) -> Difference | None:
    """Billing's invoices − credit notes against the AR the ERP holds for them."""
    billed: defaultdict[str, Decimal] = defaultdict(Decimal)
    records: defaultdict[str, list[str]] = defaultdict(list)
    for doc in _documents(docs, as_of, prefix, workflow_id):
        group = whole_key(doc.key) if doc.key else f"billing:{doc.id}"  # parts: one group
        records[group].append(f"{doc.kind.replace('_', ' ')} {doc.id}" + _status(doc))
        if doc.billed:
            billed[group] += doc.signed
    posted: defaultdict[str, Decimal] = defaultdict(Decimal)
    for entry in _entries(entries, as_of, prefix, workflow_id):
        key = entry.key or ""
        ours = _is_ours(key, workflow_id)
        if ours and PAYMENT_MARK in key:
            continue  # payments move AR too, but they are not billing's documents
        ar = entry.net(Account.ACCOUNTS_RECEIVABLE)
        if not ar:
            continue
        ours = ours and JOURNAL_MARK in key
        group = _document_key(key) if ours else f"erp:{entry.id}"
        records[group].append(f"journal {entry.id}" + ("" if ours else " (not posted by q2c)"))
        posted[group] += ar
    expected = _q(sum(billed.values(), Decimal(0)), exponent)
    actual = _q(sum(posted.values(), Decimal(0)), exponent)
    differing = [g for g in sorted(set(billed) | set(posted)) if billed[g] != posted[g]]
    if not differing and actual == expected:
        return None
    involved = [r for g in differing for r in records[g]]
    return Difference(
        kind="billing_vs_ar",
        amount=actual - expected,
        expected=expected,
        actual=actual,
        records=involved,
        detail=(
            f"billing holds {expected} (invoices − credit notes), the ERP's receivables from "
            f"them are {actual}"
        ),
    )


def _status(doc: BilledRecord) -> str:
    return f" ({doc.status})" if not doc.billed else ""


def _closed_months(schedule: Schedule, as_of: dt.date) -> dict[str, int]:
    return {
        month: amount
        for month, amount in schedule.revenue_by_month_minor().items()
        if month_end(dt.date(int(month[:4]), int(month[5:7]), 1)) < as_of
    }


def compare_revenue(
    schedule: Schedule,
    entries: Sequence[ErpEntry],
    as_of: dt.date,
    *,
    workflow_id: str,
    prefix: str,
) -> Difference | None:
    """Revenue posted in the ERP against the schedule's months closed by `as_of`."""
    exponent = schedule.exponent
    expected_by_month = {m: _money(v, exponent) for m, v in _closed_months(schedule, as_of).items()}
    posted: defaultdict[str, Decimal] = defaultdict(Decimal)
    records: defaultdict[str, list[str]] = defaultdict(list)
    for entry in _entries(entries, as_of, prefix, workflow_id):
        revenue = -entry.net(Account.REVENUE)
        key = entry.key or ""
        if _is_ours(key, workflow_id) and REVENUE_MARK in key:
            month = key.partition(REVENUE_MARK)[2][:7]
            group = f"month {month}"
        elif revenue:
            group = f"erp:{entry.id}"
        else:
            continue
        posted[group] += revenue
        records[group].append(
            f"journal {entry.id}" + ("" if group.startswith("month") else " (not posted by q2c)")
        )
    expected_groups = {f"month {m}": v for m, v in expected_by_month.items()}
    expected = _q(sum(expected_groups.values(), Decimal(0)), exponent)
    actual = _q(sum(posted.values(), Decimal(0)), exponent)
    differing = [
        g
        for g in sorted(set(expected_groups) | set(posted))
        if expected_groups.get(g, Decimal(0)) != posted.get(g, Decimal(0))
    ]
    if not differing and actual == expected:
        return None
    involved: list[str] = []
    for g in differing:
        involved += records[g] or [f"{g} (no journal)"]
    return Difference(
        kind="revenue",
        amount=actual - expected,
        expected=expected,
        actual=actual,
        records=involved,
        detail=f"the ERP holds {actual} of revenue, the schedule {expected} for the months "
        f"closed by {as_of}",
    )


def compare_deferred(
    schedule: Schedule,
    docs: Sequence[BilledRecord],
    entries: Sequence[ErpEntry],
    as_of: dt.date,
    *,
    workflow_id: str,
    prefix: str,
    related: Sequence[Difference] = (),
) -> Difference | None:
    """Deferred revenue in the ERP against billed (billing) − recognized (the schedule)."""
    exponent = schedule.exponent
    billed = sum(
        (d.signed for d in _documents(docs, as_of, prefix, workflow_id) if d.billed), Decimal(0)
    )
    recognized = _money(sum(_closed_months(schedule, as_of).values()), exponent)
    expected = _q(billed - recognized, exponent)
    kept = _entries(entries, as_of, prefix, workflow_id)
    actual = _q(-sum((e.net(Account.DEFERRED_REVENUE) for e in kept), Decimal(0)), exponent)
    if actual == expected:
        return None
    involved: list[str] = []
    for difference in related:
        involved += [r for r in difference.records if r not in involved]
    for entry in kept:
        if not _is_ours(entry.key, workflow_id) and entry.net(Account.DEFERRED_REVENUE):
            record = f"journal {entry.id} (not posted by q2c)"
            if record not in involved:
                involved.append(record)
    return Difference(
        kind="deferred",
        amount=actual - expected,
        expected=expected,
        actual=actual,
        records=involved,
        detail=f"the ERP defers {actual}; billed {_q(billed, exponent)} − recognized "
        f"{recognized} is {expected}",
    )


def reconcile_contract(
    basis: ReconciliationBasis,
    salesforce: BookedContract | str | None,
    docs: Sequence[BilledRecord],
    entries: Sequence[ErpEntry],
    as_of: dt.date,
) -> ContractReconciliation:
    """The four checks of one contract on `as_of` (or on the last day it processed, if earlier).

    `salesforce` None skips the bookings check (a renewed term: Salesforce holds the first).
    """
    base = {
        "workflow_id": basis.workflow_id,
        "opportunity_id": basis.opportunity_id,
        "as_of": as_of,
    }
    if basis.contract is None:
        return ContractReconciliation(
            **base,
            contract_id=basis.opportunity_id,
            status="Skipped",
            note=f"not activated yet ({basis.stage})",
        )
    contract = basis.contract
    through = as_of
    notes: list[str] = []
    behind = basis.next_due is not None and basis.next_due <= as_of
    if basis.processed_through is not None and basis.processed_through < as_of and behind:
        # Work due by `as_of` is not done yet (the contract is parked, or its timer has not
        # fired): compare the books as they stood on the last day it processed.
        through = basis.processed_through
        notes.append(f"compared as of {through}: the contract has work due on {basis.next_due}")
    held = BookedContract(contract=contract, amendments=basis.amendments, usage=basis.usage)
    schedule = held.schedule(through)
    exponent = schedule.exponent
    keys = {"workflow_id": basis.workflow_id, "prefix": basis.key_prefix}
    differences: list[Difference] = []
    if salesforce is None:
        notes.append(f"bookings not compared: term {basis.term} is a renewal")
    else:
        found = compare_bookings(held, salesforce, through, basis.opportunity_id)
        if found is not None:
            differences.append(found)
    billing = compare_billing(docs, entries, through, exponent=exponent, **keys)
    revenue = compare_revenue(schedule, entries, through, **keys)
    differences += [d for d in (billing, revenue) if d is not None]
    deferred = compare_deferred(
        schedule,
        docs,
        entries,
        through,
        related=[d for d in (billing, revenue) if d is not None],
        **keys,
    )
    if deferred is not None:
        differences.append(deferred)
    billed = sum((d.signed for d in _documents(docs, through, **keys) if d.billed), Decimal(0))
    recognized = _money(sum(_closed_months(schedule, through).values()), exponent)
    figures = {
        "transaction_price": schedule.transaction_price,
        "billed": _q(billed, exponent),
        "recognized": recognized,
        "deferred": _q(billed - recognized, exponent),
    }
    return ContractReconciliation(
        **base,
        contract_id=contract.id,
        currency=contract.currency,
        checked_through=through,
        status="Mismatch" if differences else "Clean",
        note="; ".join(notes),
        figures=figures,
        differences=differences,
    )


class ReconciledNotice(_Model):
    """The `reconciled` signal to a contract workflow: its last reconciliation's verdict."""

    run_id: str
    as_of: dt.date
    status: Literal["Clean", "Mismatch"]
    mismatches: int = 0
