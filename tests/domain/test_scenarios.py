"""Every worked scenario in ../shared/scenarios reproduces its .report.json exactly.

Invoice numbers are labels and are not compared; everything else is, with amounts as strings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from domain.inputs import load_scenario
from domain.report import report_for_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "scenarios"


def _scenario_files() -> list[Path]:
    assert SCENARIOS.is_dir(), f"shared scenarios not found at {SCENARIOS.resolve()}"
    files = sorted(p for p in SCENARIOS.glob("*.json") if not p.name.endswith(".report.json"))
    assert files, f"no scenarios in {SCENARIOS.resolve()}"
    return files


def _without_numbers(report: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    out["invoices"] = [{k: v for k, v in inv.items() if k != "number"} for inv in out["invoices"]]
    return out


@pytest.mark.parametrize("path", _scenario_files(), ids=lambda p: p.stem)
def test_scenario_reproduces_its_report(path: Path) -> None:
    expected = json.loads(path.with_name(path.stem + ".report.json").read_text())
    got = report_for_scenario(load_scenario(path.read_text(), source=path.name)).to_json()
    assert set(got) == set(expected)
    assert _without_numbers(got) == _without_numbers(expected)


@pytest.mark.parametrize("path", _scenario_files(), ids=lambda p: p.stem)
def test_numbers_are_sequential_per_kind(path: Path) -> None:
    got = report_for_scenario(load_scenario(path.read_text())).to_json()
    inv = [d["number"] for d in got["invoices"] if d["kind"] == "invoice"]
    cn = [d["number"] for d in got["invoices"] if d["kind"] == "credit_note"]
    assert inv == [f"INV-{i:04d}" for i in range(1, len(inv) + 1)]
    assert cn == [f"CN-{i:04d}" for i in range(1, len(cn) + 1)]
