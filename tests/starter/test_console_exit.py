"""The `q2c` console script ends its process without interpreter finalization (the Temporal
client's threads can crash it: SIGSEGV after `q2c start` had printed its summary, seen in CI),
so what finalization would have done must still happen: the exit code is the command's, and
buffered output and log records reach their files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from starter import cli
from tests.domain.test_scenarios import SCENARIOS
from tests.fixtures.console import Q2C

REPO = Path(__file__).resolve().parents[2]


class Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _exit_code(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    def fake_exit(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(cli, "exit_process", fake_exit)
    monkeypatch.setattr(sys, "argv", ["q2c", *args])
    with pytest.raises(Exited) as info:
        cli.console()
    return info.value.code


def test_the_exit_code_is_the_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _exit_code(monkeypatch, "--help") == 0
    assert _exit_code(monkeypatch, "schedule", str(tmp_path / "nope.json")) == 2
    assert "no such file" in capsys.readouterr().err
    assert _exit_code(monkeypatch, "no-such-command") == 2


def test_a_message_exit_is_printed_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def message_exit() -> None:
        sys.exit("cannot go on")

    monkeypatch.setattr(cli, "main", message_exit)
    assert _exit_code(monkeypatch) == 1
    assert capsys.readouterr().err == "cannot go on\n"


def test_piped_output_is_whole(tmp_path: Path) -> None:
    """stdout to a file is block-buffered: without the flush before the exit it is cut short."""
    out = tmp_path / "report.json"
    with out.open("w") as sink:
        done = subprocess.run(
            [Q2C, "schedule", str(SCENARIOS / "06-price-decrease-prospective.json"), "--json"],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    expected = json.loads((SCENARIOS / "06-price-decrease-prospective.report.json").read_text())
    assert json.loads(out.read_text()) == expected


def test_buffered_log_records_are_written(tmp_path: Path) -> None:
    """A handler that writes only when closed (as batching handlers do) still gets its records
    written: `exit_process` shuts logging down first."""
    log = tmp_path / "q2c.log"
    program = (
        "import logging, logging.handlers\n"
        "from adapters.temporal_client import exit_process\n"
        f"target = logging.FileHandler({str(log)!r})\n"
        "buffered = logging.handlers.MemoryHandler(capacity=1000, target=target)\n"
        "logging.getLogger().addHandler(buffered)\n"
        "logging.getLogger().warning('last words')\n"
        "exit_process(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, timeout=60, check=False, capture_output=True
    )
    assert done.returncode == 3, done.stderr
    assert log.read_text() == "last words\n"
