"""`q2c simulate FILE --json` as a user runs it: a subprocess, its exit code and its output.

The report on stdout is the scenario's `.report.json`; a bad file is one line on stderr with
exit code 2 and no traceback, before any server starts (the scenario is checked first).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SCENARIOS
from tests.workflows.test_simulate_scenarios import read_scenario, without_numbers

UNKNOWN_LINE = {
    "contract": {
        "id": "OPP-BAD",
        "customer": {"id": "ACC-1", "name": "Acme"},
        "currency": "EUR",
        "legal_entity": "EU-DE",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "billing_frequency": "monthly",
        "lines": [
            {
                "id": "L1",
                "product_code": "SEAT",
                "kind": "subscription",
                "quantity": 10,
                "unit_price": "100.00",
            }
        ],
    },
    "amendments": [
        {"id": "A1", "effective_date": "2026-03-01", "changes": [{"line_id": "L9", "quantity": 5}]}
    ],
    "usage": [],
    "as_of": "2026-04-01",
}


def q2c(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_simulate_json_prints_the_report() -> None:
    path = SCENARIOS / "08-cancellation-mid-period.json"
    _, expected = read_scenario(path)
    result = q2c("simulate", str(path), "--json")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert without_numbers(got) == without_numbers(expected)
    assert [d["number"] for d in got["invoices"]][:1] == ["INV-0001"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("malformed.json", '{"contract": ', "malformed JSON"),
        ("missing.json", None, "no such file"),
        ("unknown-line.json", json.dumps(UNKNOWN_LINE), "unknown line 'L9'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = q2c("simulate", str(path), "--json", timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in result.stderr
