"""Hostile input to the `q2c` commands: exit 2 with one line on stderr, never a traceback.

The real scenarios of ../shared/scenarios, mutated by hypothesis (a value swapped for junk:
huge or NaN numbers, wrong types, impossible or out-of-range dates, deep nesting, a key
dropped; or the file's bytes cut short, made non-UTF-8 or emptied), go through `q2c schedule`
and `q2c simulate` in-process, as the console script runs them (`starter.cli.main` and its
error boundary). `simulate` has its sandbox replaced by one that stops the run the moment it
would start: every input it refuses is refused before a server or a sandbox starts, and it
refuses exactly what `q2c schedule` (the domain engine alone) refuses, with the same message.
The other commands that take user input are fed junk too; a few cases run the installed
console script in a subprocess, to see its real exit code and stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import starter.simulate
from adapters.settings import get_settings
from starter import cli
from tests.conftest import REPO, SCENARIOS

SCENARIO_FILES = sorted(p for p in SCENARIOS.glob("*.json") if ".report." not in p.name)
# Nothing a command could reach answers: input errors must be found before it tries.
ENV = {
    "TEMPORAL_ADDRESS": "127.0.0.1:1",
    "Q2C_SALESFORCE_URL": "http://127.0.0.1:1",
    "Q2C_BILLING_URL": "http://127.0.0.1:1",
    "Q2C_ERP_URL": "http://127.0.0.1:1",
    "COLUMNS": "200",
}


class SimulationWouldStart(Exception):
    """Raised by the stand-in sandbox: the scenario passed every check."""


class _NoSandbox:
    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    async def start(self) -> None:
        raise SimulationWouldStart


@dataclass
class Ran:
    code: int | str  # "started" when simulate got as far as starting its sandbox
    out: str
    err: str


def q2c(*args: str, env: dict[str, str] | None = None) -> Ran:
    """`q2c ARGS` in this process, through the console script's error boundary."""
    runner = CliRunner()
    argv = sys.argv
    get_settings.cache_clear()
    try:
        with (
            runner.isolation(env={**ENV, **(env or {})}) as (out, err, _),
            mock.patch.object(starter.simulate, "SandboxServer", _NoSandbox),
        ):
            sys.argv = ["q2c", *args]
            code: int | str
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except SimulationWouldStart:
                code = "started"
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            return Ran(code, out.getvalue().decode(), err.getvalue().decode())
    finally:
        sys.argv = argv
        get_settings.cache_clear()


def assert_one_line_error(ran: Ran, *expected: str) -> str:
    assert ran.code == 2, ran
    assert "Traceback" not in ran.err + ran.out
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("scenarios")


# -- mutated scenarios -----------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put verbatim where a value was (what json.dumps cannot write)."""

    text: str


JUNK_TEXT = [
    "1e999999999",
    "-1e999999999",
    "1E+400",
    "1e-999999",
    "9" * 5000,
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000 + "1" + "}" * 3000,
]
JUNK_DATES = [
    "0001-01-01",
    "1899-12-31",
    "9000-12-31",
    "9999-12-31",
    "2026-02-29",
    "2026-02-30",
    "2026-13-01",
    "2026-1-1",
    "20260101",
    "2026-01-01T00:00:00",
    "",
]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**15, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(JUNK_DATES),
    st.sampled_from(["1200.00", "-1", "0", "1e30", "0.0000001", "1_000", " 5 ", "XXX"]),
    st.sampled_from(JUNK_TEXT).map(Raw),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (the root excluded)."""
    found: list[tuple[Any, ...]] = [at] if at else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*at, i))
    return found


def _mutate(doc: Any, path: tuple[Any, ...], how: str, junk: Any) -> None:
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    if how == "drop" and isinstance(parent, dict):
        del parent[key]
    elif how == "repeat" and isinstance(parent, list):
        parent.append(parent[key])
    else:
        parent[key] = junk


def _dumps(doc: Any) -> str:
    """JSON text, with each `Raw` written verbatim."""
    raws: list[str] = []

    def default(value: Any) -> str:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"
        raise TypeError(type(value))

    text = json.dumps(doc, default=default)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000raw{i}\\u0000"', raw)
    return text


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> bytes:
    path = draw(st.sampled_from(SCENARIO_FILES))
    doc = json.loads(path.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = _paths(doc)
        if not places:
            break
        place = draw(st.sampled_from(places))
        how = draw(st.sampled_from(["replace", "replace", "replace", "drop", "repeat"]))
        _mutate(doc, place, how, draw(JUNK))
    data = _dumps(doc).encode()
    damage = draw(st.sampled_from(["none"] * 6 + ["cut", "bytes", "utf16", "empty"]))
    if damage == "cut":
        data = data[: draw(st.integers(min_value=0, max_value=len(data)))]
    elif damage == "bytes":
        at = draw(st.integers(min_value=0, max_value=len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    elif damage == "utf16":
        data = data.decode().encode("utf-16")
    elif damage == "empty":
        data = b""
    return data


@settings(
    max_examples=45,
    derandomize=True,  # the same files on every run: a CI failure reproduces anywhere
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=mutated_scenarios())
def test_a_mutated_scenario_is_refused_in_one_line_or_runs(files: Path, data: bytes) -> None:
    path = files / "mutated.json"
    path.write_bytes(data)

    schedule = q2c("schedule", str(path), "--json")
    simulate = q2c("simulate", str(path), "--json")

    assert "Traceback" not in schedule.err + simulate.err
    if schedule.code == 0:
        json.loads(schedule.out)  # the report, nothing else
        assert simulate.code == "started", simulate  # valid: the simulation would run
    else:
        refusal = assert_one_line_error(schedule)
        assert assert_one_line_error(simulate) == refusal  # refused alike, before starting


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "malformed JSON"),
        (b"\xff\xfe{", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"as_of": ' + b"9" * 5000 + b"}", "too many digits"),
        (b"null", "must be a JSON object"),
    ],
    ids=["empty", "not-utf8", "deep", "long-integer", "null"],
)
def test_a_file_that_is_no_scenario_is_exit_2(files: Path, content: bytes, expected: str) -> None:
    path = files / "junk.json"
    path.write_bytes(content)
    for command in ("schedule", "simulate"):
        assert_one_line_error(q2c(command, str(path)), expected)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (("contract", "lines", 0, "quantity"), Raw("1e999999999"), "must be ≤"),
        (("contract", "lines", 0, "unit_price"), "NaN", "finite number"),
        (("contract", "lines", 0, "unit_price"), Raw("Infinity"), "finite number"),
        (("contract", "lines", 0, "quantity"), "ten", "finite number"),
        (("contract", "end_date"), "9999-12-31", "more than 100 years"),
        (("contract", "start_date"), "0001-01-01", "outside 1900-01-01..9000-12-31"),
        (("contract", "start_date"), "2026-02-30", "must be a date"),
        (("contract", "lines"), {"L1": 1}, "contract.lines"),
    ],
    ids=["huge", "nan", "infinity", "wrong-type", "year-9999", "year-1", "feb-30", "lines-obj"],
)
def test_a_scenario_with_an_impossible_value_is_exit_2(
    files: Path, field: tuple[Any, ...], value: Any, expected: str
) -> None:
    doc = json.loads(SCENARIO_FILES[0].read_text(encoding="utf-8"))
    _mutate(doc, field, "replace", value)
    path = files / "impossible.json"
    path.write_text(_dumps(doc), encoding="utf-8")
    for command in ("schedule", "simulate"):
        assert_one_line_error(q2c(command, str(path)), expected)


def test_a_directory_or_a_missing_file_is_exit_2(files: Path) -> None:
    for command in ("schedule", "simulate"):
        assert_one_line_error(q2c(command, str(files)), "is a directory")
        assert_one_line_error(q2c(command, str(files / "absent.json")), "no such file")


# -- the other commands ----------------------------------------------------------------------

BAD_REFS = ["a b", "\x00", "-", "x" * 300, "OPP-1\n", "'; DROP TABLE", "é", ""]


@pytest.mark.parametrize("ref", BAD_REFS, ids=lambda r: repr(r)[:12])
@pytest.mark.parametrize("command", ["status", "report", "retry", "start", "amend", "cancel"])
def test_a_reference_that_is_no_contract_is_exit_2_before_connecting(
    command: str, ref: str
) -> None:
    extra = {"amend": ["a0A000000000001"], "cancel": ["--effective", "2026-01-01"]}
    assert_one_line_error(q2c(command, ref, *extra.get(command, [])), "is not a contract")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cancel", "OPP-1", "--effective", "2026-02-30"], "--effective"),
        (["cancel", "OPP-1", "--effective", "99999-01-01"], "--effective"),
        (["schedule", str(SCENARIO_FILES[0]), "--as-of", "0000-00-00"], "--as-of"),
        (["start", "--from-salesforce", "  "], "--from-salesforce"),
        (["start"], "give either OPP-ID"),
        (["webhook", "--host", "256.1.1.1", "--port", "0"], "not an address"),
        (["webhook", "--host", "a\x00b", "--port", "0"], "not an address"),
        (["webhook", "--host", "x" * 300, "--port", "0"], "not an address"),
        (["reconcile", "--contract", "OPP-1", "--contract", "a b"], "is not a contract"),
        (["sandbox", "--database-url", "junk://x"], "--database-url"),
        (["sandbox", "--faults", "{bad"], "--faults"),
    ],
    ids=[
        "feb-30",
        "year-99999",
        "as-of",
        "empty-where",
        "nothing",
        "host-256",
        "host-nul",
        "host-long",
        "reconcile-ref",
        "sandbox-url",
        "sandbox-faults",
    ],
)
def test_bad_options_are_exit_2(args: list[str], expected: str) -> None:
    assert_one_line_error(q2c(*args), expected)


@pytest.mark.parametrize(
    "args",
    [
        ["webhook", "--port", "99999"],
        ["start", "OPP-1", "--concurrency", "0"],
        ["simulate"],
        ["status", "OPP-1", "--no-such-option"],
    ],
    ids=["port", "concurrency", "no-file", "unknown-option"],
)
def test_usage_errors_are_exit_2_without_a_traceback(args: list[str]) -> None:
    ran = q2c(*args)
    assert ran.code == 2, ran
    assert "Traceback" not in ran.err + ran.out


# -- the installed console script --------------------------------------------------------------


@pytest.mark.slow
def test_the_console_script_exits_2_without_a_traceback(files: Path) -> None:
    """The real `q2c` in a subprocess: its exit code and stderr, as a shell sees them."""
    deep = files / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    huge = files / "huge.json"
    doc = json.loads(SCENARIO_FILES[0].read_text(encoding="utf-8"))
    _mutate(doc, ("contract", "lines", 0, "quantity"), "replace", Raw("1e999999999"))
    huge.write_text(_dumps(doc), encoding="utf-8")
    script = Path(sys.executable).parent / "q2c"
    env = {**os.environ, **ENV}
    runs = [
        ["simulate", str(deep)],
        ["simulate", str(huge)],
        ["status", "a b"],
        ["webhook", "--host", "256.1.1.1", "--port", "0"],
    ]
    started = [  # side by side: each spends its time importing
        subprocess.Popen(
            [str(script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for args in runs
    ]
    for args, process in zip(runs, started, strict=True):
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 2, (args, stderr)
        assert "Traceback" not in stderr, stderr
        assert stderr.strip().startswith("error: "), stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
