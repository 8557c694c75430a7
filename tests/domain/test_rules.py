"""The money and revenue rules of DESIGN.md §5, one rule at a time, on small contracts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.models import Scenario
from domain.schedule import NEGATIVE_REMAINING_CONSIDERATION
from tests.domain.helpers import (
    cents,
    one_time,
    report_of,
    scenario,
    schedule_of,
    sub,
    totals,
    usage_line,
)


def _check_invariants(s: Scenario) -> None:
    schedule = schedule_of(s)
    report = report_of(s)
    usage = sum(a for _, a in schedule.usage_revenue)
    assert sum(cents(v) for v in report.revenue_by_month.values()) == (
        cents(report.transaction_price) + usage
    )
    assert sum(cents(o.allocated) for o in report.obligations) == cents(report.transaction_price)
    assert cents(report.deferred_revenue) == cents(report.billed_to_date) - cents(
        report.recognized_to_date
    )
    non_usage = sum(c.amount for d in schedule.docs for c in d.charges if c.kind != "usage")
    assert non_usage == cents(report.transaction_price)


# -- currencies --------------------------------------------------------------------------------


def test_jpy_has_no_minor_units() -> None:
    s = scenario([sub(quantity=7, price="100000")], currency="JPY")
    r = report_of(s)
    assert totals(r)[0] == ("invoice", "2026-01-01", "58333")  # 700000 / 12 rounded
    assert r.transaction_price == "699996"
    assert all("." not in v for v in r.revenue_by_month.values())
    _check_invariants(s)


def test_kwd_has_three_decimals() -> None:
    s = scenario([sub(quantity=3, price="1000.001")], currency="KWD", as_of="2026-03-01")
    r = report_of(s)
    assert totals(r)[0] == ("invoice", "2026-01-01", "250.000")
    assert r.transaction_price == "3000.000"
    assert r.revenue_by_month["2026-01"] == "254.795"  # 3000 × 31 / 365
    _check_invariants(s)


# -- periods and invoices ----------------------------------------------------------------------


def test_month_end_anchor_bills_on_the_last_day_of_short_months() -> None:
    r = report_of(scenario([sub()], start="2026-01-31", end="2027-01-30", as_of="2026-05-01"))
    assert [(str(d.date), str(d.period_end)) for d in r.invoices] == [
        ("2026-01-31", "2026-02-27"),
        ("2026-02-28", "2026-03-30"),
        ("2026-03-31", "2026-04-29"),
        ("2026-04-30", "2026-05-30"),
    ]


def test_quarterly_fee_and_annual_fee() -> None:
    r = report_of(scenario([sub(quantity=10, price="1200")], frequency="quarterly"))
    assert [t[2] for t in totals(r)] == ["3000.00"] * 4
    r = report_of(scenario([sub(quantity=10, price="1200")], frequency="annual"))
    assert totals(r) == [("invoice", "2026-01-01", "12000.00")]


def test_line_with_its_own_dates_is_prorated_by_days() -> None:
    line = sub(price="1200", start_date="2026-01-11", end_date="2026-11-20")
    r = report_of(scenario([line]))
    assert totals(r)[0] == ("invoice", "2026-01-01", "677.42")  # 1000 × 21/31
    assert totals(r)[-1] == ("invoice", "2026-11-01", "666.67")  # 1000 × 20/30
    assert r.invoices[0].period_start == date(2026, 1, 1)


def test_one_time_fee_on_the_first_invoice_and_recognized_on_its_day() -> None:
    r = report_of(scenario([sub(), one_time(price="500")]))
    assert totals(r)[0][2] == "1500.00"
    assert totals(r)[1][2] == "1000.00"


def test_zero_invoice_is_not_issued() -> None:
    r = report_of(scenario([sub(price="0", ssp="100")]))
    assert r.invoices == []
    assert r.transaction_price == "0.00"


# -- allocation ----------------------------------------------------------------------------------


def test_line_without_ssp_uses_its_price() -> None:
    r = report_of(scenario([sub(price="1200"), one_time(price="1000")]))
    assert [o.allocated for o in r.obligations] == ["12000.00", "1000.00"]


def test_subscription_ssp_is_valued_over_its_service_period() -> None:
    # 6 months of service at SSP 1200/yr is worth 600, against a one-time SSP of 600: half each
    line = sub(quantity=1, price="1200", ssp="1200", start_date="2026-07-01")
    r = report_of(scenario([line, one_time(price="0", ssp="600")]))
    assert [o.allocated for o in r.obligations] == ["300.00", "300.00"]


# -- amendments --------------------------------------------------------------------------------


def test_amendment_effective_on_a_period_start_needs_no_proration() -> None:
    s = scenario(
        [sub()],
        [
            {
                "id": "A1",
                "effective_date": "2026-04-01",
                "changes": [{"line_id": "L1", "unit_price": "600"}],
            }
        ],
    )
    r = report_of(s)
    assert [t[2] for t in totals(r)] == ["1000.00"] * 3 + ["500.00"] * 9
    assert r.obligations[0].treatment == "prospective"
    _check_invariants(s)


def test_separate_contract_for_a_new_line_and_a_one_time_fee_on_the_amendment_document() -> None:
    s = scenario(
        [sub(ssp="1200")],
        [
            {
                "id": "A1",
                "effective_date": "2026-03-10",
                "add_lines": [
                    sub("L4", quantity=2, price="600"),
                    one_time("OT", price="100"),
                ],
            }
        ],
        as_of="2026-04-30",
    )
    r = report_of(s)
    assert ("invoice", "2026-03-10", "170.97") in totals(r)  # 100 × 22/31 + 100
    assert [(o.line_id, o.treatment, o.allocated) for o in r.obligations] == [
        ("L1", "original", "12000.00"),
        ("L4@A1", "separate", "970.97"),
        ("OT@A1", "separate", "100.00"),
    ]
    _check_invariants(s)


def test_separate_term_extension_adds_days_as_their_own_obligation() -> None:
    s = scenario([sub()], [{"id": "A1", "effective_date": "2026-11-10", "end_date": "2027-03-31"}])
    r = report_of(s)
    assert [(o.line_id, o.treatment, o.allocated) for o in r.obligations] == [
        ("L1", "original", "12000.00"),
        ("L1@A1", "separate", "3000.00"),
    ]
    assert r.revenue_by_month["2027-02"] == "933.34"
    _check_invariants(s)


def test_fifteen_percent_below_ssp_is_the_boundary() -> None:
    def treatment(price: str) -> str:
        s = scenario(
            [sub(price=price, ssp="1000")],
            [
                {
                    "id": "A1",
                    "effective_date": "2026-04-16",
                    "changes": [{"line_id": "L1", "quantity": 20}],
                }
            ],
        )
        return report_of(s).obligations[-1].treatment

    assert treatment("850.00") == "separate"
    assert treatment("849.99") == "prospective"


def test_restated_ssp_counts_for_the_separate_test() -> None:
    s = scenario(
        [sub(price="1000", ssp="1000")],
        [
            {
                "id": "A1",
                "effective_date": "2026-04-16",
                "changes": [{"line_id": "L1", "quantity": 20, "ssp": "1500"}],
            }
        ],
    )
    assert report_of(s).obligations[0].treatment == "prospective"


def test_amendment_that_only_restates_ssp_changes_nothing() -> None:
    base = report_of(scenario([sub(ssp="1200")]))
    s = scenario(
        [sub(ssp="1200")],
        [
            {
                "id": "A1",
                "effective_date": "2026-04-16",
                "changes": [{"line_id": "L1", "ssp": "9999"}],
            }
        ],
    )
    assert report_of(s) == base


def test_decrease_takes_the_most_recently_added_units_first() -> None:
    s = scenario(
        [sub()],
        [
            {
                "id": "A1",
                "effective_date": "2026-03-01",
                "changes": [{"line_id": "L1", "quantity": 15}],
            },
            {
                "id": "A2",
                "effective_date": "2026-06-16",
                "changes": [{"line_id": "L1", "quantity": 12}],
            },
        ],
    )
    schedule = schedule_of(s)
    blocks = {b.obligation_id: b for _, b in schedule.terms.blocks()}
    after = date(2026, 7, 1).toordinal()
    assert blocks["L1"].qty_at(after) == 10
    assert blocks["L1@A1"].qty_at(after) == 2
    r = report_of(s)
    assert ("credit_note", "2026-06-16", "150.00") in totals(r)  # 3 seats × 100 × 15/30
    assert [o.treatment for o in r.obligations] == ["prospective", "prospective"]
    _check_invariants(s)


def test_prospective_part_starting_later_is_recognized_from_its_own_start() -> None:
    s = scenario(
        [sub()],
        [
            {
                "id": "A1",
                "effective_date": "2026-03-01",
                "add_lines": [sub("L2", quantity=5, price="1200", start_date="2026-09-01")],
            },
            {
                "id": "A2",
                "effective_date": "2026-05-01",
                "changes": [{"line_id": "L1", "unit_price": "1100"}],
            },
        ],
    )
    schedule = schedule_of(s)
    part = next(o for o in schedule.obligations if o.id == "L2@A1")
    assert part.treatment == "prospective"
    assert part.cum(date(2026, 8, 31).toordinal()) == 0
    assert part.cum(date(2026, 9, 1).toordinal()) > 0
    _check_invariants(s)


def test_negative_remaining_consideration_parks_and_keeps_previous_terms() -> None:
    lines = [sub(), one_time(price="500", ssp="2000")]
    amendment = {
        "id": "A1",
        "effective_date": "2026-11-16",
        "changes": [{"line_id": "L1", "unit_price": "0"}],
    }
    base = report_of(scenario(lines, as_of="2026-12-31"))
    before = report_of(scenario(lines, [amendment], as_of="2026-11-15"))
    after = report_of(scenario(lines, [amendment], as_of="2026-12-31"))
    assert before.status == "Active"
    assert (after.status, after.attention_reason) == (
        "NeedsAttention",
        NEGATIVE_REMAINING_CONSIDERATION,
    )
    assert after.invoices == base.invoices
    assert after.revenue_by_month == base.revenue_by_month
    assert schedule_of(scenario(lines, [amendment])).attention[0].amendment_id == "A1"


def test_cancellation_trues_up_on_the_last_day_shared_by_ssp() -> None:
    lines = [
        sub(ssp="1200"),
        sub("L2", quantity=1, price="2400", ssp="3600"),
        one_time(price="500", ssp="2000"),
    ]
    s = scenario(lines, [{"id": "C", "effective_date": "2026-05-16", "cancel": True}])
    r = report_of(s)
    assert r.status == "Cancelled"
    assert totals(r)[-1] == ("credit_note", "2026-05-16", "619.36")  # (1000 + 200) × 16/31
    assert list(r.revenue_by_month)[-1] == "2026-05"
    assert r.deferred_revenue == "0.00"
    assert [o.treatment for o in r.obligations] == ["original"] * 3
    schedule = schedule_of(s)
    last = date(2026, 5, 15).toordinal()
    assert sum(o.cum(last) for o in schedule.obligations) == cents(r.transaction_price)
    _check_invariants(s)


def test_cancellation_on_a_period_start_credits_nothing() -> None:
    r = report_of(scenario([sub()], [{"id": "C", "effective_date": "2026-07-01", "cancel": True}]))
    assert [t[0] for t in totals(r)] == ["invoice"] * 6
    assert r.transaction_price == "6000.00"


def test_expired_after_the_end_date() -> None:
    assert report_of(scenario([sub()], as_of="2027-01-01")).status == "Expired"
    assert report_of(scenario([sub()], as_of="2026-12-31")).status == "Active"


# -- usage -------------------------------------------------------------------------------------


def test_usage_price_in_effect_on_the_last_day_prices_the_period() -> None:
    s = scenario(
        [sub(), usage_line(included=0, price="0.01")],
        [
            {
                "id": "A",
                "effective_date": "2026-03-20",
                "changes": [{"line_id": "U1", "unit_price": "0.02"}],
            }
        ],
        [{"line_id": "U1", "date": "2026-03-05", "quantity": 1000}],
    )
    r = report_of(s)
    assert ("invoice", "2026-04-01", "20.00") in totals(r)
    assert r.revenue_by_month["2026-03"] == "1039.17"  # 1019.17 + 20.00
    assert r.obligations[0].treatment == "original"  # usage changes leave the allocation alone
    _check_invariants(s)


def test_cancelled_period_usage_is_invoiced_on_the_effective_date_before_the_credit() -> None:
    s = scenario(
        [sub(), usage_line(included=100, price="0.01")],
        [{"id": "C", "effective_date": "2026-05-16", "cancel": True}],
        [{"line_id": "U1", "date": "2026-05-10", "quantity": 1100}],
    )
    r = report_of(s)
    assert totals(r)[-2:] == [
        ("invoice", "2026-05-16", "10.00"),
        ("credit_note", "2026-05-16", "516.13"),
    ]
    assert r.invoices[-2].period_end == date(2026, 5, 15)  # the full allowance, not prorated


def test_usage_recognized_on_record_dates_with_cumulative_rounding() -> None:
    s = scenario(
        [sub(), usage_line(included=0, price="0.001")],
        usage=[
            {"line_id": "U1", "date": "2026-02-03", "quantity": 5},
            {"line_id": "U1", "date": "2026-02-04", "quantity": 5},
            {"line_id": "U1", "date": "2026-02-05", "quantity": 5},
        ],
    )
    schedule = schedule_of(s)
    assert schedule.usage_revenue == [
        (date(2026, 2, 3).toordinal(), 1),  # 0.005 → 0.01
        (date(2026, 2, 5).toordinal(), 1),  # 0.015 → 0.02 (0.010 on the 4th adds nothing)
    ]
    assert ("invoice", "2026-03-01", "0.02") in totals(report_of(s))


# -- amendments received late ------------------------------------------------------------------


def test_late_amendment_rebills_invoiced_periods_on_its_document() -> None:
    change = {"line_id": "L1", "unit_price": "1000.00"}
    on_time = scenario(
        [sub(quantity=20)], [{"id": "A1", "effective_date": "2026-06-16", "changes": [change]}]
    )
    late = scenario(
        [sub(quantity=20)],
        [
            {
                "id": "A1",
                "effective_date": "2026-06-16",
                "received_on": "2026-08-05",
                "changes": [change],
            }
        ],
    )
    r_on, r_late = report_of(on_time), report_of(late)
    assert r_late.transaction_price == r_on.transaction_price == "21833.35"
    assert r_late.revenue_by_month == r_on.revenue_by_month
    doc = next(d for d in schedule_of(late).documents() if d.source == "amendment")
    assert (doc.kind, doc.total, str(doc.date), str(doc.available_on)) == (
        "credit_note",
        Decimal("833.33"),
        "2026-06-16",
        "2026-08-05",
    )
    assert str(doc.period_end) == "2026-08-31"
    # before the amendment arrives, the report does not know it
    before = report_of(late.model_copy(update={"as_of": date(2026, 8, 4)}))
    assert all(d.kind == "invoice" for d in before.invoices)
    assert before.billed_to_date == "16000.00"


def test_same_received_day_orders_by_effective_date_then_arrival() -> None:
    s = scenario(
        [sub()],
        [
            {
                "id": "A2",
                "effective_date": "2026-05-10",
                "changes": [{"line_id": "L1", "quantity": 14}],
            },
            {
                "id": "A1",
                "effective_date": "2026-05-10",
                "changes": [{"line_id": "L1", "quantity": 12}],
            },
        ],
    )
    r = report_of(s)
    amendment_docs = [d for d in r.invoices if str(d.date) == "2026-05-10"]
    # A2 arrived first: +4 seats as its own block (4 × 100 × 22/31); then A1 takes 2 of them
    # back (the block's fee 283.87 → 141.94, rounded per invoice line)
    assert [(d.kind, d.total) for d in amendment_docs] == [
        ("invoice", "283.87"),
        ("credit_note", "141.93"),
    ]
