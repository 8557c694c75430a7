"""`q2c schedule`: the §6 JSON, a readable view, and bad input as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter import cli
from starter.app import app
from tests.domain.helpers import scenario_dict, sub
from tests.domain.test_scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
assert cli.app is app  # importing starter.cli registers the commands


def _run_boundary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run the real entry point (with its error boundary) in-process."""
    monkeypatch.setattr(sys, "argv", ["q2c", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_json_output_is_the_report(tmp_path: Path) -> None:
    path = SCENARIOS / "06-price-decrease-prospective.json"
    expected = json.loads((SCENARIOS / "06-price-decrease-prospective.report.json").read_text())
    result = runner.invoke(app, ["schedule", str(path), "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got == expected  # numbers included: INV-/CN- numbering as in the file


def test_readable_view_shows_summary_documents_waterfall_and_obligations() -> None:
    path = SCENARIOS / "05-mid-period-upsell-below-ssp-prospective.json"
    result = runner.invoke(app, ["schedule", str(path)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for text in ("OPP-1005", "prospective", "26448.48", "INV-0005", "waterfall", "2026-12"):
        assert text in result.stdout


def test_as_of_option(tmp_path: Path) -> None:
    path = SCENARIOS / "01-annual-contract-billed-monthly.json"
    result = runner.invoke(app, ["schedule", str(path), "--json", "--as-of", "2027-02-01"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["status"], report["deferred_revenue"]) == ("Expired", "0.00")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"contract": ', "malformed JSON at line 1"),
        (json.dumps(scenario_dict([sub(quantity=-2)])), "contract.lines[0].quantity: must be ≥ 0"),
        (json.dumps(scenario_dict([sub()], currency="ABC")), "contract.currency: unknown currency"),
        (
            json.dumps(scenario_dict([sub()], start="2026-02-01", end="2026-01-01")),
            "contract.end_date:",
        ),
        (
            json.dumps(
                scenario_dict(
                    [sub()],
                    [{"id": "A", "effective_date": "2026-03-01", "remove_lines": ["L7"]}],
                )
            ),
            "amendments[0].remove_lines[0]: unknown line 'L7'",
        ),
        (
            json.dumps(
                scenario_dict(
                    [sub()],
                    [{"id": "A", "effective_date": "2028-03-01", "cancel": True}],
                )
            ),
            "amendments[0].effective_date: 2028-03-01 is outside the term",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = _run_boundary(monkeypatch, capsys, "schedule", str(path), "--json")
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1


def test_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run_boundary(monkeypatch, capsys, "schedule", str(tmp_path / "nope.json"))
    assert code == 2
    assert "no such file" in err


def test_console_script_end_to_end(tmp_path: Path) -> None:
    """The real entry point in its own process: bad input exits 2, one line, no traceback."""
    bad_path = tmp_path / "bad.json"
    bad_path.write_text(json.dumps(scenario_dict([sub(), sub("L2", quantity=-1)])))
    bad = subprocess.run(
        [sys.executable, "-m", "starter.cli", "schedule", str(bad_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: contract.lines[1].quantity: must be ≥ 0"
    assert "Traceback" not in bad.stdout + bad.stderr
