"""Properties over generated contracts and amendment sequences (hypothesis).

Whatever the contract and its amendments: months sum to each allocation, obligations sum to
the transaction price (= everything billed but usage), every journal balances, deferred =
billed − recognized, amounts have the currency's minor units, billing and revenue meet at the
end of the contract's life, and the posting difference of a schedule with itself is empty.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import add_months
from domain.documents import Account
from domain.inputs import parse_scenario
from domain.money import currency_exponent
from domain.posting import posting_difference
from domain.report import build_report
from domain.schedule import build_schedule

CURRENCIES = ["USD", "EUR", "JPY", "KWD"]
PRICES = ["0", "1", "99.99", "100", "960", "1200", "1500.50", "2400", "0.3", "12345.67"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(CURRENCIES))
    start = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 900)))
    months = draw(st.integers(1, 30))
    end = add_months(start, months) - timedelta(days=1 + draw(st.integers(0, 20)))
    if end < start:
        end = start
    frequency = draw(st.sampled_from(["monthly", "monthly", "quarterly", "annual"]))
    days = (end - start).days

    def day_in(first: date, last: date) -> date:
        return first + timedelta(days=draw(st.integers(0, max(0, (last - first).days))))

    lines: list[dict[str, Any]] = []
    for k in range(draw(st.integers(1, 3))):
        line: dict[str, Any] = {
            "id": f"L{k}",
            "product_code": f"P{k}",
            "kind": "subscription",
            "quantity": draw(st.integers(0, 40)),
            "unit_price": draw(st.sampled_from(PRICES)),
        }
        if draw(st.booleans()):
            line["ssp"] = draw(st.sampled_from(PRICES))
        lines.append(line)
    if draw(st.booleans()):
        lines.append(
            {
                "id": "O1",
                "product_code": "ONB",
                "kind": "one_time",
                "quantity": draw(st.integers(0, 3)),
                "unit_price": draw(st.sampled_from(PRICES)),
                "ssp": draw(st.sampled_from(PRICES)),
                "start_date": day_in(start, end).isoformat(),
            }
        )
    usage: list[dict[str, Any]] = []
    if draw(st.booleans()):
        lines.append(
            {
                "id": "U1",
                "product_code": "API",
                "kind": "usage",
                "included": draw(st.integers(0, 500)),
                "unit_price": draw(st.sampled_from(["0.001", "0.01", "1", "0.3"])),
            }
        )

    amendments: list[dict[str, Any]] = []
    active = [line["id"] for line in lines if line["kind"] == "subscription"]
    term_end = end
    effective = start
    for n in range(draw(st.integers(0, 3))):
        if effective > term_end:
            break
        effective = day_in(effective, term_end)
        current_end = term_end  # an amendment is received before the term in force ends
        amendment: dict[str, Any] = {"id": f"A{n}", "effective_date": effective.isoformat()}
        action = draw(
            st.sampled_from(["qty", "price", "add", "remove", "extend", "shorten", "ssp", "cancel"])
        )
        if action == "cancel":
            amendment["cancel"] = True
            if draw(st.booleans()) and effective < current_end:
                received = day_in(effective, min(current_end, effective + timedelta(days=70)))
                amendment["received_on"] = received.isoformat()
            amendments.append(amendment)
            term_end = effective - timedelta(days=1)
            break
        if action in ("qty", "price", "ssp") and active:
            change: dict[str, Any] = {"line_id": draw(st.sampled_from(active))}
            if action == "qty":
                change["quantity"] = draw(st.integers(0, 60))
            elif action == "price":
                change["unit_price"] = draw(st.sampled_from(PRICES))
            else:
                change["ssp"] = draw(st.sampled_from(PRICES))
            if draw(st.booleans()):
                change["ssp"] = draw(st.sampled_from(PRICES))
            amendment["changes"] = [change]
        elif action == "add":
            kind = draw(st.sampled_from(["subscription", "one_time"]))
            new = {
                "id": f"N{n}",
                "product_code": f"NEW{n}",
                "kind": kind,
                "quantity": draw(st.integers(0, 10)),
                "unit_price": draw(st.sampled_from(PRICES)),
                "start_date": day_in(effective, term_end).isoformat(),
            }
            amendment["add_lines"] = [new]
            if kind == "subscription":
                active.append(new["id"])
        elif action == "remove" and active:
            gone = draw(st.sampled_from(active))
            active.remove(gone)
            amendment["remove_lines"] = [gone]
        elif action == "extend":
            term_end = term_end + timedelta(days=draw(st.integers(1, 200)))
            amendment["end_date"] = term_end.isoformat()
        elif action == "shorten":
            term_end = day_in(effective, term_end)
            amendment["end_date"] = term_end.isoformat()
        if draw(st.booleans()) and effective < current_end:
            received = day_in(effective, min(current_end, effective + timedelta(days=70)))
            amendment["received_on"] = received.isoformat()
            effective = received  # later amendments take effect after this one arrives
        amendments.append(amendment)
    if any(line["kind"] == "usage" for line in lines) and term_end >= start:
        for _ in range(draw(st.integers(0, 6))):
            usage.append(
                {
                    "line_id": "U1",
                    "date": day_in(start, term_end).isoformat(),
                    "quantity": draw(st.integers(0, 2000)),
                }
            )
    as_of = start + timedelta(days=draw(st.integers(-5, days + 400)))
    return {
        "contract": {
            "id": "OPP-P",
            "customer": {"id": "ACC", "name": "Prop"},
            "currency": currency,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "billing_frequency": frequency,
            "lines": lines,
        },
        "amendments": amendments,
        "usage": usage,
        "as_of": as_of.isoformat(),
    }


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_schedule_invariants(data: dict[str, Any]) -> None:
    s = parse_scenario(data)
    schedule = build_schedule(s.contract, s.amendments, s.usage)
    exponent = currency_exponent(s.contract.currency)
    usage_revenue = sum(a for _, a in schedule.usage_revenue)
    tp = schedule.transaction_price_minor

    # Obligations sum to the transaction price, which is everything billed except usage.
    assert sum(o.allocated for o in schedule.obligations) == tp
    billed_non_usage = sum(c.amount for d in schedule.docs for c in d.charges if c.kind != "usage")
    assert billed_non_usage == tp

    # Months sum to each allocation (and the months of the report to all of it plus usage).
    months = schedule.revenue_by_month_minor()
    ends = [
        date(int(m[:4]) + int(m[5:]) // 12, int(m[5:]) % 12 + 1, 1).toordinal() - 1 for m in months
    ]
    for o in schedule.obligations:
        by_month = [o.cum(e) for e in ends]
        deltas = [b - a for a, b in zip([0, *by_month], by_month, strict=False)]
        assert sum(deltas) == o.allocated
    assert sum(months.values()) == tp + usage_revenue

    # At the end of the contract's life, billing and revenue meet.
    far = date(2100, 1, 1)
    assert schedule.billed_through_minor(far) == schedule.recognized_through_minor(far)

    # Every journal balances (JournalEntry refuses otherwise) and has the currency's units.
    unit = Decimal(1).scaleb(-exponent)
    for entry in schedule.journal_entries():
        assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
        for line in entry.lines:
            assert line.debit == line.debit.quantize(unit)
            assert line.credit == line.credit.quantize(unit)
    for doc in schedule.documents():
        assert doc.total > 0
        assert sum(line.amount for line in doc.lines) == doc.total

    # The report: deferred = billed − recognized; amounts in minor units.
    report = build_report(schedule, s.as_of)
    texts = [
        report.transaction_price,
        report.billed_to_date,
        report.recognized_to_date,
        report.deferred_revenue,
        *report.revenue_by_month.values(),
        *(o.allocated for o in report.obligations),
        *(d.total for d in report.invoices),
    ]
    assert all(_decimals(t) == exponent for t in texts)

    def minor(t: str) -> int:
        return int(t.replace(".", ""))

    assert minor(report.deferred_revenue) == minor(report.billed_to_date) - minor(
        report.recognized_to_date
    )

    # Pure: the same inputs give the same schedule.
    again = build_schedule(s.contract, s.amendments, s.usage)
    assert build_report(again, s.as_of) == report

    # Posting what the schedule says, then asking again, posts nothing more.
    plan = posting_difference(schedule, {}, {}, s.as_of)
    assert posting_difference(schedule, plan.documents, plan.journals, s.as_of).empty
    posted_revenue = sum(
        -j.net(Account.REVENUE) for j in plan.journals if j.key.startswith("journal:revenue:")
    )
    closed = [m for m, e in zip(months, ends, strict=True) if e < s.as_of.toordinal()]
    assert posted_revenue == sum(schedule.revenue_by_month()[m] for m in closed)
