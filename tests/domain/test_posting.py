"""Journals balance, and posting is append-only: only differences, adjustments in the open month."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain.documents import Account, JournalEntry, JournalLine, payment_journal
from domain.errors import PostingConflict
from domain.posting import posting_difference
from tests.domain.helpers import scenario, schedule_of, sub

PRICE_CUT = {"line_id": "L1", "unit_price": "1000.00"}


def _entry(debit: str, credit: str, currency: str = "USD") -> JournalEntry:
    return JournalEntry(
        key="journal:test",
        contract_id="C",
        date=date(2026, 1, 1),
        currency=currency,
        memo="test",
        lines=[
            JournalLine(account=Account.ACCOUNTS_RECEIVABLE, debit=Decimal(debit)),
            JournalLine(account=Account.DEFERRED_REVENUE, credit=Decimal(credit)),
        ],
    )


def test_journal_entry_refuses_to_exist_unbalanced() -> None:
    assert _entry("10.00", "10.00").amount == Decimal("10.00")
    with pytest.raises(ValidationError, match="unbalanced"):
        _entry("10.00", "9.99")
    with pytest.raises(ValidationError, match="more decimals"):
        _entry("10.001", "10.001")
    with pytest.raises(ValidationError, match="more decimals"):
        _entry("10.5", "10.5", currency="JPY")
    with pytest.raises(ValidationError):
        JournalLine(account=Account.CASH, debit=Decimal(1), credit=Decimal(1))


def test_accounts_of_each_journal() -> None:
    s = scenario(
        [sub(quantity=20)], [{"id": "A1", "effective_date": "2026-06-16", "changes": [PRICE_CUT]}]
    )
    schedule = schedule_of(s)
    entries = {e.key: e for e in schedule.journal_entries()}
    invoice = entries["journal:invoice:2026-01-01"]
    assert invoice.net(Account.ACCOUNTS_RECEIVABLE) == Decimal("2000.00")
    assert invoice.net(Account.DEFERRED_REVENUE) == Decimal("-2000.00")
    credit = entries["journal:amendment:A1"]
    assert credit.net(Account.ACCOUNTS_RECEIVABLE) == Decimal("-166.67")
    assert credit.net(Account.DEFERRED_REVENUE) == Decimal("166.67")
    revenue = entries["journal:revenue:2026-01"]
    assert revenue.date == date(2026, 1, 31)
    assert revenue.net(Account.DEFERRED_REVENUE) == Decimal("2038.36")
    assert revenue.net(Account.REVENUE) == Decimal("-2038.36")
    payment = payment_journal("C", "pi_1", date(2026, 1, 20), Decimal("2000.00"), "USD")
    assert payment.key == "journal:payment:pi_1"
    assert payment.net(Account.CASH) == Decimal("2000.00")
    assert payment.net(Account.ACCOUNTS_RECEIVABLE) == Decimal("-2000.00")


def test_posting_difference_of_a_schedule_with_itself_is_empty() -> None:
    s = scenario(
        [sub(quantity=20)],
        [
            {
                "id": "A1",
                "effective_date": "2026-04-16",
                "changes": [{"line_id": "L1", "quantity": 30}],
            }
        ],
    )
    schedule = schedule_of(s)
    today = date(2026, 5, 10)
    plan = posting_difference(schedule, {}, {}, today)
    assert [d.key for d in plan.documents] == [
        "invoice:2026-01-01",
        "invoice:2026-02-01",
        "invoice:2026-03-01",
        "invoice:2026-04-01",
        "amendment:A1",
        "invoice:2026-05-01",
    ]
    assert [j.key for j in plan.journals][-4:] == [
        "journal:revenue:2026-01",
        "journal:revenue:2026-02",
        "journal:revenue:2026-03",
        "journal:revenue:2026-04",
    ]
    again = posting_difference(schedule, plan.documents, plan.journals, today)
    assert again.empty


def test_late_amendment_posts_new_documents_and_adjusts_posted_months_in_the_open_month() -> None:
    lines = [sub(quantity=20)]
    before = schedule_of(scenario(lines))
    posted = posting_difference(before, {}, {}, date(2026, 7, 10))
    late = schedule_of(
        scenario(
            lines,
            [
                {
                    "id": "A1",
                    "effective_date": "2026-06-16",
                    "received_on": "2026-08-05",
                    "changes": [PRICE_CUT],
                }
            ],
        )
    )
    today = date(2026, 8, 5)
    plan = posting_difference(late, posted.documents, posted.journals, today)
    assert [d.key for d in plan.documents] == ["amendment:A1", "invoice:2026-08-01"]
    by_key = {j.key: j for j in plan.journals}
    assert set(by_key) == {
        "journal:amendment:A1",
        "journal:invoice:2026-08-01",
        "journal:revenue:2026-06:adj:2026-08",
        "journal:revenue:2026-07",
    }
    adjustment = by_key["journal:revenue:2026-06:adj:2026-08"]
    assert adjustment.date == today
    assert adjustment.net(Account.REVENUE) == Decimal("163.31")  # 1972.60 posted → 1809.29
    assert by_key["journal:revenue:2026-07"].date == date(2026, 7, 31)
    # the credit note is dated in June, but June is closed: its journal goes in the open month
    assert by_key["journal:amendment:A1"].date == today
    # posted revenue for June plus the adjustment is the new schedule's June
    june = sum(
        -j.net(Account.REVENUE)
        for j in [*posted.journals, *plan.journals]
        if j.key.startswith("journal:revenue:2026-06")
    )
    assert june == late.revenue_by_month()["2026-06"]
    assert posting_difference(
        late, [*posted.documents, *plan.documents], [*posted.journals, *plan.journals], today
    ).empty


def test_a_second_adjustment_in_the_same_month_gets_its_own_key() -> None:
    lines = [sub(quantity=20)]
    posted = posting_difference(schedule_of(scenario(lines)), {}, {}, date(2026, 7, 10))
    first = {
        "id": "A1",
        "effective_date": "2026-06-16",
        "received_on": "2026-08-05",
        "changes": [PRICE_CUT],
    }
    second = {
        "id": "A2",
        "effective_date": "2026-06-20",
        "received_on": "2026-08-06",
        "changes": [{"line_id": "L1", "unit_price": "900.00"}],
    }
    s1 = schedule_of(scenario(lines, [first]))
    p1 = posting_difference(s1, posted.documents, posted.journals, date(2026, 8, 5))
    docs, journals = [*posted.documents, *p1.documents], [*posted.journals, *p1.journals]
    s2 = schedule_of(scenario(lines, [first, second]))
    p2 = posting_difference(s2, docs, journals, date(2026, 8, 6))
    assert "journal:revenue:2026-06:adj:2026-08-2" in {j.key for j in p2.journals}


def test_a_posted_document_that_changed_is_a_conflict() -> None:
    schedule = schedule_of(scenario([sub()]))
    plan = posting_difference(schedule, {}, {}, date(2026, 2, 10))
    tampered = plan.documents[0].model_copy(update={"total": Decimal("1.00")})
    with pytest.raises(PostingConflict, match="invoice:2026-01-01"):
        posting_difference(
            schedule, [tampered, *plan.documents[1:]], plan.journals, date(2026, 2, 10)
        )


def test_document_lines_carry_what_billing_needs() -> None:
    s = scenario(
        [sub(quantity=20)], [{"id": "A1", "effective_date": "2026-06-16", "changes": [PRICE_CUT]}]
    )
    docs = {d.key: d for d in schedule_of(s).documents()}
    credit = docs["amendment:A1"]
    assert credit.kind == "credit_note"
    assert credit.total == Decimal("166.67")
    assert [(ln.amount, ln.unit_price, str(ln.period_start)) for ln in credit.lines] == [
        (Decimal("1000.00"), Decimal("1200"), "2026-06-16"),
        (Decimal("-833.33"), Decimal("1000.00"), "2026-06-16"),
    ]
    line = docs["invoice:2026-07-01"].lines[0]
    assert (line.obligation_id, line.product_code, line.quantity, line.amount) == (
        "L1",
        "P-L1",
        Decimal(20),
        Decimal("1666.67"),
    )
    assert str(line.period_end) == "2026-07-31"


def test_revenue_schedule_model_adds_up() -> None:
    s = scenario(
        [sub(quantity=20)],
        [
            {
                "id": "A1",
                "effective_date": "2026-04-16",
                "changes": [{"line_id": "L1", "quantity": 30}],
            }
        ],
    )
    rs = schedule_of(s).revenue_schedule()
    assert [o.obligation_id for o in rs.obligations] == ["L1", "L1@A1"]
    assert sum(o.allocated for o in rs.obligations) == rs.transaction_price == Decimal("32500.00")
    for o in rs.obligations:
        assert sum(o.by_month.values()) == o.allocated
    for month, total in rs.by_month.items():
        parts = sum(o.by_month[month] for o in rs.obligations) + rs.usage_by_month[month]
        assert parts == total
    assert rs.obligations[1].first_day == date(2026, 4, 16)
    assert rs.model_validate_json(rs.model_dump_json()) == rs
