"""The pure comparison (domain/reconciliation.py): books that agree by construction are clean,
and each kind of drift is reported with its exact amount and the records involved.

Books come from the domain engine itself (`books.books_of`: what a contract that processes
every day has posted by a date, as billing and the ERP hold it), so a false alarm here is a
fault of the comparison, not of the workflow.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.documents import Account
from domain.inputs import load_scenario
from domain.models import Scenario
from domain.reconciliation import (
    BilledRecord,
    BookedContract,
    ContractReconciliation,
    ErpEntry,
    ErpLine,
    ReconciliationReport,
    reconcile_contract,
)
from tests.conftest import SCENARIOS
from tests.reconciliation.books import WORKFLOW, Books, books_of

AR, DEFERRED, REVENUE, CASH = (
    Account.ACCOUNTS_RECEIVABLE,
    Account.DEFERRED_REVENUE,
    Account.REVENUE,
    Account.CASH,
)


def scenario_paths() -> list[Path]:
    return sorted(p for p in SCENARIOS.glob("*.json") if not p.name.endswith(".report.json"))


@functools.cache
def scenario(name: str) -> Scenario:
    return load_scenario((SCENARIOS / f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def books(name: str, as_of: dt.date | None = None) -> Books:
    return books_of(scenario(name), as_of)


def salesforce_side(b: Books) -> BookedContract:
    assert b.basis.contract is not None
    return BookedContract(
        contract=b.basis.contract, amendments=b.basis.amendments, usage=b.basis.usage
    )


def run(
    b: Books,
    *,
    docs: list[BilledRecord] | None = None,
    entries: list[ErpEntry] | None = None,
    salesforce: BookedContract | str | None = None,
    as_of: dt.date | None = None,
) -> ContractReconciliation:
    return reconcile_contract(
        b.basis,
        salesforce if salesforce is not None else salesforce_side(b),
        b.docs if docs is None else docs,
        b.entries if entries is None else entries,
        as_of or b.basis.business_date,
    )


def kinds(result: ContractReconciliation) -> dict[str, Decimal]:
    return {d.kind: d.amount for d in result.differences}


def entry(
    n: int, day: dt.date, *lines: tuple[Account, str, str], key: str | None = None
) -> ErpEntry:
    return ErpEntry(
        id=f"stray-{n}",
        key=key,
        date=day,
        lines=[ErpLine(account=a, debit=Decimal(d), credit=Decimal(c)) for a, d, c in lines],
    )


# -- clean books -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", scenario_paths(), ids=lambda p: p.stem)
def test_every_scenarios_books_are_clean(path: Path) -> None:
    b = books(path.stem)
    result = run(b)
    assert result.status == "Clean", result.differences
    assert result.figures["transaction_price"] == b.schedule.transaction_price
    assert result.figures["billed"] == b.schedule.billed_through(b.basis.business_date)


# -- each drift, by hand -----------------------------------------------------------------------

ANNUAL = "01-annual-contract-billed-monthly"
DECREASE = "06-price-decrease-prospective"  # has a credit note and revenue adjustments


def test_a_voided_invoice_is_ar_without_billing() -> None:
    b = books(ANNUAL)
    target = b.docs[2]
    docs = [d.model_copy(update={"status": "void"}) if d is target else d for d in b.docs]
    result = run(b, docs=docs)
    assert kinds(result) == {"billing_vs_ar": target.total, "deferred": target.total}
    billing = result.differences[0]
    journal_key = (target.key or "").replace(f"{WORKFLOW}:", f"{WORKFLOW}:journal:", 1)
    journal = next(e for e in b.entries if e.key == journal_key)
    assert billing.records == [f"invoice {target.id} (void)", f"journal {journal.id}"]
    assert billing.actual - billing.expected == target.total
    assert result.status == "Mismatch"


def test_a_draft_invoice_is_not_billed_either() -> None:
    b = books(ANNUAL)
    docs = [d.model_copy(update={"status": "draft"}) if n == 0 else d for n, d in enumerate(b.docs)]
    assert kinds(run(b, docs=docs))["billing_vs_ar"] == b.docs[0].total


def test_a_voided_credit_note_bills_more_than_ar_holds() -> None:
    b = books(DECREASE)
    note = next(d for d in b.docs if d.kind == "credit_note")
    docs = [d.model_copy(update={"status": "void"}) if d is note else d for d in b.docs]
    assert kinds(run(b, docs=docs)) == {"billing_vs_ar": -note.total, "deferred": -note.total}


def test_a_journal_q2c_never_posted_is_billing_without_ar() -> None:
    b = books(ANNUAL)
    target = b.docs[1]
    journal_key = (target.key or "").replace(f"{WORKFLOW}:", f"{WORKFLOW}:journal:", 1)
    entries = [e for e in b.entries if e.key != journal_key]
    assert len(entries) == len(b.entries) - 1
    result = run(b, entries=entries)
    assert kinds(result) == {"billing_vs_ar": -target.total, "deferred": -target.total}
    assert result.differences[0].records == [f"invoice {target.id}"]


def test_a_stray_journal_is_named_as_not_posted_by_q2c() -> None:
    b = books(ANNUAL)
    day = b.basis.business_date - dt.timedelta(days=2)
    stray = entry(1, day, (AR, "99.99", "0"), (DEFERRED, "0", "99.99"))
    result = run(b, entries=[*b.entries, stray])
    assert kinds(result) == {"billing_vs_ar": Decimal("99.99"), "deferred": Decimal("99.99")}
    assert result.differences[0].records == ["journal stray-1 (not posted by q2c)"]
    assert "journal stray-1 (not posted by q2c)" in result.differences[1].records


def test_stray_revenue_and_a_missing_month() -> None:
    b = books(ANNUAL)
    month = next(e for e in b.entries if (e.key or "").endswith(":journal:revenue:2026-02"))
    entries = [e for e in b.entries if e is not month]
    day = b.basis.business_date - dt.timedelta(days=1)
    stray = entry(2, day, (DEFERRED, "10.00", "0"), (REVENUE, "0", "10.00"))
    result = run(b, entries=[*entries, stray])
    lost = -month.net(REVENUE)  # the month's revenue (credited)
    assert kinds(result) == {
        "revenue": Decimal("10.00") - lost,
        "deferred": lost - Decimal("10.00"),
    }
    revenue = result.differences[0]
    assert set(revenue.records) == {
        "month 2026-02 (no journal)",
        "journal stray-2 (not posted by q2c)",
    }


def test_payments_move_ar_but_are_not_billing_documents() -> None:
    b = books(ANNUAL)
    day = b.basis.business_date
    payment = entry(
        3, day, (CASH, "1000.00", "0"), (AR, "0", "1000.00"), key=f"{WORKFLOW}:journal:payment:py_1"
    )
    assert run(b, entries=[*b.entries, payment]).status == "Clean"


def test_records_after_the_date_do_not_count() -> None:
    b = books(ANNUAL)
    later = b.basis.business_date + dt.timedelta(days=1)
    stray = entry(4, later, (AR, "5.00", "0"), (REVENUE, "0", "5.00"))
    invoice = BilledRecord(
        id="in_late", kind="invoice", status="open", date=later, total=Decimal(7)
    )
    assert run(b, docs=[*b.docs, invoice], entries=[*b.entries, stray]).status == "Clean"


def test_another_terms_records_are_not_this_terms() -> None:
    b = books(ANNUAL)

    def term2(key: str | None) -> str:
        return (key or "").replace(f"{WORKFLOW}:", f"{WORKFLOW}:term-2:", 1)

    other = [e.model_copy(update={"key": term2(e.key)}) for e in b.entries]
    docs2 = [d.model_copy(update={"key": term2(d.key)}) for d in b.docs]
    assert run(b, docs=[*b.docs, *docs2], entries=[*b.entries, *other]).status == "Clean"
    second = b.basis.model_copy(update={"term": 2})
    clean = reconcile_contract(second, None, docs2, other, b.basis.business_date)
    assert clean.status == "Clean" and "renewal" in clean.note


def test_a_contract_behind_is_compared_on_the_last_day_it_processed() -> None:
    b = books(ANNUAL)
    day = b.basis.business_date
    behind = b.basis.model_copy(update={"next_due": day})
    later = day + dt.timedelta(days=40)
    result = reconcile_contract(behind, salesforce_side(b), b.docs, b.entries, later)
    assert result.status == "Clean" and result.checked_through == day
    assert "work due" in result.note
    ahead = b.basis.model_copy(update={"next_due": later + dt.timedelta(days=1)})
    result = reconcile_contract(ahead, salesforce_side(b), b.docs, b.entries, later)
    assert result.checked_through == later  # nothing was due in between: compared as asked
    assert "revenue" in kinds(result)  # ...and the month that closed meanwhile is missing


def test_a_booking_edited_in_salesforce() -> None:
    b = books(ANNUAL)
    sf = salesforce_side(b)
    contract = sf.contract
    edited = contract.model_copy(
        update={
            "lines": [
                line.model_copy(update={"quantity": Decimal(51)}) if line.id == "L1" else line
                for line in contract.lines
            ]
        }
    )
    result = run(b, salesforce=sf.model_copy(update={"contract": edited}))
    (difference,) = result.differences
    assert difference.kind == "bookings"
    assert difference.amount == Decimal("1200.00")  # one seat more for the year
    assert difference.records == ["opportunity OPP", "line L1"]
    refused = run(b, salesforce="Opportunity OPP: Q2C_End_Date__c is not set")
    (difference,) = refused.differences
    assert difference.amount == -b.schedule.transaction_price
    assert "cannot be valued" in difference.detail


def test_unactivated_contract_is_skipped_and_report_counts() -> None:
    b = books(ANNUAL)
    pending = b.basis.model_copy(update={"contract": None, "stage": "Validating"})
    skipped = reconcile_contract(pending, None, [], [], b.basis.business_date)
    assert skipped.status == "Skipped" and skipped.differences == []
    docs = [d.model_copy(update={"status": "void"}) if n == 0 else d for n, d in enumerate(b.docs)]
    report = ReconciliationReport(
        run_id="r",
        as_of=b.basis.business_date,
        started=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        contracts=[skipped, run(b), run(b, docs=docs)],
    )
    assert report.mismatches == 2 and not report.clean
    assert report.by_kind() == {"bookings": 0, "billing_vs_ar": 1, "revenue": 0, "deferred": 1}
    assert report.for_contract(WORKFLOW).workflow_id == WORKFLOW


# -- properties --------------------------------------------------------------------------------

NAMES = [p.stem for p in scenario_paths()]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(name=st.sampled_from(NAMES), back=st.integers(min_value=0, max_value=200))
def test_books_of_any_day_are_clean(name: str, back: int) -> None:
    """No false alarm on any day of any scenario, not only on its `as_of`."""
    sc = scenario(name)
    day = max(sc.contract.start_date, sc.as_of - dt.timedelta(days=back))
    result = run(books(name, day))
    assert result.status == "Clean", (day, result.differences)


@FAST
@given(
    name=st.sampled_from(NAMES),
    pick=st.integers(min_value=0),
    status=st.sampled_from(["void", "draft"]),
)
def test_a_document_not_billed_is_its_exact_amount(name: str, pick: int, status: str) -> None:
    b = books(name)
    target = b.docs[pick % len(b.docs)]
    docs = [d.model_copy(update={"status": status}) if d is target else d for d in b.docs]
    result = run(b, docs=docs)
    assert kinds(result) == {"billing_vs_ar": target.signed, "deferred": target.signed}
    assert any(target.id in r for r in result.differences[0].records)


ACCOUNTS = [AR, DEFERRED, REVENUE, CASH]


@FAST
@given(
    name=st.sampled_from(NAMES),
    cents=st.integers(min_value=1, max_value=10**9),
    pair=st.permutations(ACCOUNTS).map(lambda p: (p[0], p[1])),
    back=st.integers(min_value=0, max_value=60),
)
def test_a_stray_journal_moves_each_check_by_its_net(
    name: str, cents: int, pair: tuple[Account, Account], back: int
) -> None:
    """Whatever accounts a stray entry hits, each check is off by exactly its net there."""
    b = books(name)
    exponent = b.schedule.exponent
    amount = Decimal(cents).scaleb(-exponent)
    day = max(b.schedule.start_date, b.basis.business_date - dt.timedelta(days=back))
    debit, credit = pair
    stray = entry(9, day, (debit, str(amount), "0"), (credit, "0", str(amount)))
    result = run(b, entries=[*b.entries, stray])
    expected = {
        "billing_vs_ar": stray.net(AR),
        "revenue": -stray.net(REVENUE),
        "deferred": -stray.net(DEFERRED),
    }
    assert kinds(result) == {k: v for k, v in expected.items() if v}
    for difference in result.differences:
        assert "journal stray-9 (not posted by q2c)" in difference.records
        assert difference.actual - difference.expected == difference.amount
