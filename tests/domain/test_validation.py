"""Bad input is refused with the field path and the problem, never a traceback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.errors import InputError
from domain.inputs import load_scenario, parse_scenario
from domain.schedule import build_schedule
from tests.domain.helpers import one_time, scenario_dict, sub, usage_line


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(InputError) as info:
        s = parse_scenario(data)
        build_schedule(s.contract, s.amendments, s.usage)
    return str(info.value)


def test_negative_quantity_names_the_line() -> None:
    data = scenario_dict([sub(), sub("L2", quantity=-1)])
    assert _error(data) == "contract.lines[1].quantity: must be ≥ 0"


def test_end_before_start() -> None:
    data = scenario_dict([sub()], start="2026-06-01", end="2026-05-31")
    assert _error(data).startswith("contract.end_date: 2026-05-31 is before the start date")


def test_unknown_currency() -> None:
    assert _error(scenario_dict([sub()], currency="XYZ")).startswith(
        "contract.currency: unknown currency 'XYZ'"
    )


def test_missing_and_mistyped_fields() -> None:
    data = scenario_dict([sub()])
    del data["contract"]["start_date"]
    assert _error(data) == "contract.start_date: is required"
    data = scenario_dict([sub()])
    data["contract"]["lines"][0]["unit_price"] = "twelve"
    assert _error(data).startswith("contract.lines[0].unit_price: must be a finite number")
    data = scenario_dict([sub()])
    data["contract"]["lines"][0]["kind"] = "rental"
    assert _error(data).startswith("contract.lines[0].kind: must be one of")
    data = scenario_dict([sub()])
    data["contract"]["billing_frequency"] = "weekly"
    assert _error(data).startswith("contract.billing_frequency: must be one of")
    data = scenario_dict([{**sub(), "quantity": None}])
    assert _error(data) == "contract.lines[0].quantity: is required for a subscription line"
    data = scenario_dict([sub()])
    data["as_of"] = "2026-02-30"
    assert _error(data).startswith("as_of: must be a date")


def test_duplicate_line_ids() -> None:
    assert _error(scenario_dict([sub(), sub()])) == "contract.lines[1].id: duplicate line id 'L1'"


@pytest.mark.parametrize(
    ("amendment", "message"),
    [
        (
            {"effective_date": "2027-02-01", "changes": [{"line_id": "L1", "quantity": 3}]},
            "amendments[0].effective_date: 2027-02-01 is outside the term 2026-01-01..2026-12-31",
        ),
        (
            {"effective_date": "2026-05-01", "changes": [{"line_id": "L9", "quantity": 3}]},
            "amendments[0].changes[0].line_id: unknown line 'L9'",
        ),
        (
            {"effective_date": "2026-05-01", "remove_lines": ["L9"]},
            "amendments[0].remove_lines[0]: unknown line 'L9'",
        ),
        (
            {"effective_date": "2026-05-01", "cancel": True, "end_date": "2026-10-01"},
            "amendments[0].cancel: a cancellation cannot be combined with other changes",
        ),
        (
            {"effective_date": "2026-05-01", "end_date": "2026-04-30"},
            "amendments[0].end_date: 2026-04-30 is before the effective date 2026-05-01",
        ),
        (
            {"effective_date": "2026-05-01", "changes": [{"line_id": "O1", "unit_price": "1"}]},
            "amendments[0].changes[0].line_id: one-time line 'O1' was delivered on 2026-01-01",
        ),
        (
            {"effective_date": "2026-05-01", "changes": [{"line_id": "L1", "quantity": -3}]},
            "amendments[0].changes[0].quantity: must be ≥ 0",
        ),
        (
            {"effective_date": "2026-05-01", "add_lines": [sub("L1")]},
            "amendments[0].add_lines[0].id: line 'L1' already exists",
        ),
        (
            {"effective_date": "2026-05-01", "add_lines": [sub("L5", start_date="2026-04-01")]},
            "amendments[0].add_lines[0].start_date: 2026-04-01 is before the effective date "
            "2026-05-01",
        ),
        (
            {"effective_date": "2026-05-01", "received_on": "2026-04-30", "cancel": True},
            "amendments[0].received_on: 2026-04-30 is before the effective date 2026-05-01",
        ),
    ],
)
def test_invalid_amendments(amendment: dict[str, Any], message: str) -> None:
    data = scenario_dict([sub(), one_time()], [{"id": "A1", **amendment}])
    assert _error(data) == message


def test_amendment_after_a_cancellation_or_on_a_removed_line() -> None:
    data = scenario_dict(
        [sub(), sub("L2")],
        [
            {"id": "A1", "effective_date": "2026-05-01", "remove_lines": ["L2"]},
            {
                "id": "A2",
                "effective_date": "2026-06-01",
                "changes": [{"line_id": "L2", "quantity": 1}],
            },
        ],
    )
    assert _error(data) == "amendments[1].changes[0].line_id: line 'L2' was already removed"
    data = scenario_dict(
        [sub()],
        [
            {"id": "C", "effective_date": "2026-05-01", "cancel": True},
            {
                "id": "A2",
                "effective_date": "2026-06-01",
                "changes": [{"line_id": "L1", "quantity": 1}],
            },
        ],
    )
    assert _error(data).startswith(
        "amendments[1].effective_date: 2026-06-01 is on or after the cancellation effective "
        "2026-05-01"
    )


def test_amendments_must_arrive_in_effective_order() -> None:
    data = scenario_dict(
        [sub()],
        [
            {
                "id": "A1",
                "effective_date": "2026-05-01",
                "received_on": "2026-07-01",
                "cancel": True,
            },
            {
                "id": "A2",
                "effective_date": "2026-06-01",
                "changes": [{"line_id": "L1", "quantity": 1}],
            },
        ],
    )
    assert _error(data).startswith("amendments[1].received_on:")


def test_duplicate_amendment_ids() -> None:
    a = {"id": "A1", "effective_date": "2026-05-01", "changes": [{"line_id": "L1", "quantity": 2}]}
    assert _error(scenario_dict([sub()], [a, a])).startswith(
        "amendments[1].id: duplicate amendment id 'A1'"
    )


def test_usage_outside_the_term_or_on_a_wrong_line() -> None:
    lines = [sub(), usage_line()]
    data = scenario_dict(lines, usage=[{"line_id": "U1", "date": "2027-01-05", "quantity": 5}])
    assert _error(data) == "usage[0].date: 2027-01-05 is outside the term 2026-01-01..2026-12-31"
    data = scenario_dict(lines, usage=[{"line_id": "U1", "date": "2025-12-31", "quantity": 5}])
    assert _error(data).startswith("usage[0].date: 2025-12-31 is before the start of the term")
    data = scenario_dict(lines, usage=[{"line_id": "L1", "date": "2026-03-05", "quantity": 5}])
    assert _error(data) == "usage[0].line_id: line 'L1' is not a usage line"
    data = scenario_dict(lines, usage=[{"line_id": "U1", "date": "2026-03-05", "quantity": -5}])
    assert _error(data) == "usage[0].quantity: must be ≥ 0"
    data = scenario_dict(
        lines,
        [{"id": "C", "effective_date": "2026-05-01", "cancel": True}],
        [{"line_id": "U1", "date": "2026-05-05", "quantity": 5}],
    )
    assert _error(data) == "usage[0].date: 2026-05-05 is outside the term 2026-01-01..2026-04-30"


def test_malformed_json() -> None:
    with pytest.raises(InputError) as info:
        load_scenario('{"contract": {', source="bad.json")
    assert str(info.value).startswith("bad.json: malformed JSON at line 1 column 15")
    with pytest.raises(InputError, match="must be a JSON object"):
        load_scenario("[1, 2]")


def test_numbers_in_json_are_never_floats() -> None:
    data = scenario_dict([sub(price="0")])
    text = json.dumps(data).replace('"unit_price": "0"', '"unit_price": 0.1')
    s = load_scenario(text)
    assert str(s.contract.lines[0].unit_price) == "0.1"
