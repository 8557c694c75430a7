"""Small builders for domain tests: scenarios as plain dicts, validated like a file would be."""

from __future__ import annotations

from typing import Any

from domain.inputs import parse_scenario
from domain.models import Scenario
from domain.report import Report, build_report
from domain.schedule import Schedule, build_schedule


def sub(
    line_id: str = "L1",
    quantity: int = 10,
    price: str = "1200.00",
    ssp: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    line = {
        "id": line_id,
        "product_code": f"P-{line_id}",
        "kind": "subscription",
        "quantity": quantity,
        "unit_price": price,
        **extra,
    }
    if ssp is not None:
        line["ssp"] = ssp
    return line


def one_time(
    line_id: str = "O1",
    quantity: int = 1,
    price: str = "1000.00",
    ssp: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    line = {
        "id": line_id,
        "product_code": f"P-{line_id}",
        "kind": "one_time",
        "quantity": quantity,
        "unit_price": price,
        **extra,
    }
    if ssp is not None:
        line["ssp"] = ssp
    return line


def usage_line(line_id: str = "U1", included: int = 1000, price: str = "0.01") -> dict[str, Any]:
    return {
        "id": line_id,
        "product_code": f"P-{line_id}",
        "kind": "usage",
        "included": included,
        "unit_price": price,
    }


def scenario_dict(
    lines: list[dict[str, Any]],
    amendments: list[dict[str, Any]] | None = None,
    usage: list[dict[str, Any]] | None = None,
    *,
    start: str = "2026-01-01",
    end: str = "2026-12-31",
    frequency: str = "monthly",
    currency: str = "USD",
    as_of: str | None = None,
) -> dict[str, Any]:
    return {
        "contract": {
            "id": "OPP-T",
            "customer": {"id": "ACC-T", "name": "Test Co"},
            "currency": currency,
            "legal_entity": "US-DE",
            "start_date": start,
            "end_date": end,
            "billing_frequency": frequency,
            "lines": lines,
        },
        "amendments": amendments or [],
        "usage": usage or [],
        "as_of": as_of or end,
    }


def scenario(*args: Any, **kwargs: Any) -> Scenario:
    return parse_scenario(scenario_dict(*args, **kwargs))


def schedule_of(s: Scenario) -> Schedule:
    return build_schedule(s.contract, s.amendments, s.usage)


def report_of(s: Scenario) -> Report:
    return build_report(schedule_of(s), s.as_of)


def totals(report: Report) -> list[tuple[str, str, str]]:
    """(kind, date, total) of each listed document."""
    return [(d.kind, str(d.date), d.total) for d in report.invoices]


def cents(text: str) -> int:
    """'1654.11' → 165411 (also for other minor units: the digits without the point)."""
    return int(text.replace(".", ""))
