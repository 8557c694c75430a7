"""`make bench`: every benchmark of docs/PERFORMANCE.md, one table, one JSON file.

    .venv/bin/python -m benchmarks.run_all            # the sizes of docs/PERFORMANCE.md
    .venv/bin/python -m benchmarks.run_all --quick    # small sizes, a couple of minutes
    .venv/bin/python -m benchmarks.run_all --only book,schedule

Runs, in this order: the domain schedule engine, the history of a 10-year contract (time-skipping
server), then on a fresh local stack each (`benchmarks.stack`: dev server, sandbox and worker as
their own processes): activation throughput against the bare engine, quote-to-bill latency,
the billing-run burst, and the book's start-up and memory. The full sizes finish in under 15
minutes on the 2-core machine of docs/PERFORMANCE.md. A benchmark module that is not in the
checkout, or that fails, is reported as such in its rows and the others still run.

Prints a Rich table (figure, value, goal, met?) and writes every figure to
`.q2c/bench/results.json` (`--json` to change it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(width=max(140, Console().width))
DEFAULT_JSON = Path(".q2c/bench/results.json")


@dataclass
class Row:
    """One line of the table: a figure, its value, the goal and whether it is met (None: no
    goal, or not measured)."""

    benchmark: str
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None


@dataclass
class Outcome:
    name: str
    sizes: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "ok"  # ok | failed | pending (module not in the checkout)
    error: str = ""


# --- the benchmarks ---------------------------------------------------------------------------


def _schedule(count: int, repeat: int) -> tuple[dict[str, Any], list[Row]]:
    from benchmarks import bench_schedule

    figures = bench_schedule.measure(count=count, repeat=repeat)
    rate = figures["contracts_per_second"]
    return figures, [
        Row(
            "schedule",
            "domain engine, full contract reports per second (one core)",
            f"{rate:,.0f}",
            "≥ 1,000",
            rate >= bench_schedule.GOAL,
        )
    ]


def _history(years: int, amendments: int) -> tuple[dict[str, Any], list[Row]]:
    from benchmarks import bench_history

    figures = asyncio.run(bench_history.summary(years=years, amendments=amendments))
    bound = bench_history.RUN_BOUND
    largest = figures["largest_run_events"]
    return figures, [
        Row(
            "history",
            f"events per contract-year (monthly, {amendments / years:g} amendments a year)",
            f"{figures['events_per_year']:,.0f}"
            + (
                f" (incl. {figures['failed_workflow_tasks']} failed tasks × 3)"
                if figures.get("failed_workflow_tasks")
                else ""
            ),
        ),
        Row(
            "history",
            f"largest single run of a {years}-year contract (events)",
            f"{largest:,} ({figures['runs']} run{'s' if figures['runs'] != 1 else ''})",
            f"≤ {bound:,} (continue-as-new)",
            largest <= bound,
        ),
        Row(
            "history",
            "report read back = domain engine's",
            "yes" if figures["report_matches"] else "NO",
            "yes",
            bool(figures["report_matches"]),
        ),
    ]


def _activation(figures: dict[str, Any]) -> list[Row]:
    ratio = float(figures["ratio"])
    return [
        Row(
            "activation",
            f"closed-won → first invoice posted, {figures['contracts']} contracts: "
            "q2c / bare engine contracts per second",
            f"{ratio:.2f} ({figures['q2c_contracts_per_s']} / {figures['bare_contracts_per_s']})",
            "≥ 0.8",
            ratio >= 0.8,
        )
    ]


def _latency(figures: dict[str, Any]) -> list[Row]:
    p50, p99 = _number(figures, "latency_p50", "p50"), _number(figures, "latency_p99", "p99")
    return [
        Row(
            "latency",
            "webhook → first invoice posted, p50 (s)",
            _fmt(p50),
            "≤ 0.5",
            None if p50 is None else p50 <= 0.5,
        ),
        Row(
            "latency",
            "webhook → first invoice posted, p99 (s)",
            _fmt(p99),
            "≤ 2",
            None if p99 is None else p99 <= 2.0,
        ),
    ]


def _burst(figures: dict[str, Any]) -> list[Row]:
    rows = []
    rate = _number(figures, "invoices_per_s", "invoices_per_second")
    seconds = _number(figures, "burst", "seconds")
    contracts = figures.get("contracts", "?")
    if seconds is not None:
        figure = f"{contracts} contracts due at once: all posted (s)"
        rows.append(Row("burst", figure, _fmt(seconds)))
    if rate is not None:
        rows.append(Row("burst", "invoices issued and posted per second", _fmt(rate)))
    missing = _number(figures, "missing", "missed")
    duplicated = _number(figures, "duplicated", "duplicates")
    if missing is not None or duplicated is not None:
        bad = (missing or 0) + (duplicated or 0)
        rows.append(
            Row(
                "burst",
                "invoices missed / duplicated",
                f"{_fmt(missing)} / {_fmt(duplicated)}",
                "0 / 0",
                bad == 0,
            )
        )
    if not rows:
        rows.append(Row("burst", "figures", json.dumps(figures)[:80]))
    return rows


def _book(figures: dict[str, Any]) -> list[Row]:
    n = figures["contracts"]
    activated = figures["activated"]
    how = "--wait-activated " if figures.get("wait_activated") else ""
    rows = [
        Row(
            "book",
            f"q2c start --from-salesforce {how}→ all {n:,} activated, sleeping (contracts/s)",
            f"{figures['contracts_per_second']} ({activated:,} in {figures['activate_seconds']} s)",
            "all activated",
            bool(figures["complete"]) and not figures["parked"],
        ),
        Row(
            "book",
            f"worker RSS peak / sleeping (MB), sticky cache {figures['sticky_cache_size']:,}",
            f"{figures['rss_peak_mb']:.0f} / {figures['rss_sleeping_mb']:.0f}",
            "≤ 300",
            bool(figures["rss_met"]),
        ),
    ]
    return rows


def _number(figures: dict[str, Any], *names: str) -> float | None:
    for name in names:
        for key in (name, f"{name}_s", f"{name}_seconds"):
            value = figures.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return None


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.2f}"


@dataclass(frozen=True)
class EndToEnd:
    """A benchmark module with `async def run(stack, **sizes) -> dict`, on its own stack."""

    module: str
    stack_options: dict[str, Any]
    rows: Callable[[dict[str, Any]], list[Row]]


END_TO_END: dict[str, EndToEnd] = {
    "activation": EndToEnd("benchmarks.activation", {"bare": True}, _activation),
    "latency": EndToEnd("benchmarks.latency", {"webhooks": True}, _latency),
    "burst": EndToEnd("benchmarks.burst", {}, _burst),
    "book": EndToEnd("benchmarks.book", {}, _book),
}

# Sizes: (full, --quick). Full sizes fit in 15 minutes on the machine of docs/PERFORMANCE.md.
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "schedule": ({"count": 10_000, "repeat": 1}, {"count": 1_000, "repeat": 1}),
    "history": ({"years": 10, "amendments": 20}, {"years": 3, "amendments": 6}),
    "activation": ({"contracts": 100, "rounds": 2}, {"contracts": 30, "rounds": 1}),
    "latency": ({"rate": 2.0, "seconds": 120.0}, {"rate": 2.0, "seconds": 15.0}),
    "burst": ({"contracts": 300}, {"contracts": 100}),
    "book": ({"contracts": 300}, {"contracts": 100}),
}
ORDER = ("schedule", "history", "activation", "latency", "burst", "book")


async def _end_to_end(name: str, sizes: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.stack import free_port, local_stack

    spec = END_TO_END[name]
    module = importlib.import_module(spec.module)
    # The worker's Prometheus endpoint on a free port: the default one may be taken.
    async with local_stack(**spec.stack_options, metrics_bind=f"127.0.0.1:{free_port()}") as stack:
        figures: dict[str, Any] = await module.run(stack, **sizes)
        return {**figures, **{f"stack_{k}": v for k, v in stack.info.items()}}


def run_one(name: str, sizes: dict[str, Any]) -> Outcome:
    outcome = Outcome(name, sizes)
    started = time.monotonic()
    console.print(f"[bold]{name}[/bold] {sizes} …")
    try:
        if name == "schedule":
            outcome.figures, outcome.rows = _schedule(**sizes)
        elif name == "history":
            outcome.figures, outcome.rows = _history(**sizes)
        else:
            spec = END_TO_END[name]
            if importlib.util.find_spec(spec.module) is None:
                outcome.status = "pending"
                outcome.error = f"{spec.module} is not in this checkout yet"
            else:
                outcome.figures = asyncio.run(_end_to_end(name, sizes))
                outcome.rows = spec.rows(outcome.figures)
    except Exception as exc:  # one benchmark failing must not lose the others' figures
        outcome.status = "failed"
        outcome.error = f"{type(exc).__name__}: {exc}"
        console.print(traceback.format_exc(), highlight=False, markup=False)
    outcome.seconds = round(time.monotonic() - started, 1)
    if outcome.status != "ok":
        outcome.rows = [Row(name, outcome.status, outcome.error[:90])]
    console.print(f"  {name}: {outcome.status} in {outcome.seconds:.0f} s")
    return outcome


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    versions: dict[str, str] = {}
    for package in ("temporalio", "pydantic", "sqlalchemy"):
        with contextlib.suppress(Exception):
            versions[package] = importlib.metadata.version(package)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "memory": memory,
        "python": platform.python_version(),
        **versions,
        "load_average_at_start": [round(x, 2) for x in load],
    }


def table(outcomes: list[Outcome], title: str) -> Table:
    out = Table(title=title, title_justify="left")
    out.add_column("benchmark")
    out.add_column("figure")
    out.add_column("value", justify="right")
    out.add_column("goal")
    out.add_column("met?")
    for outcome in outcomes:
        for row in outcome.rows:
            met = "" if row.met is None else "[green]yes[/green]" if row.met else "[red]no[/red]"
            out.add_row(row.benchmark, row.figure, row.value, row.goal, met)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(ORDER)}")
    parser.add_argument("--book-contracts", type=int, default=None, help="book size override")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(ORDER)
    unknown = [n for n in chosen if n not in ORDER]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    started_at = dt.datetime.now(dt.UTC)
    began = time.monotonic()
    about = machine()
    outcomes = []
    for name in ORDER:
        if name not in chosen:
            continue
        sizes = dict(SIZES[name][1 if args.quick else 0])
        if name == "book" and args.book_contracts:
            sizes["contracts"] = args.book_contracts
        outcomes.append(run_one(name, sizes))
    total = round(time.monotonic() - began, 1)
    title = (
        f"q2c benchmarks ({'quick' if args.quick else 'full'}), {started_at:%Y-%m-%d %H:%M} UTC, "
        f"{about['nproc']} CPUs {about['cpu']}, Python {about['python']}, "
        f"temporalio {about.get('temporalio', '?')}; {total:.0f} s in all"
    )
    console.print(table(outcomes, title))
    results = {
        "date": started_at.isoformat(timespec="seconds"),
        "command": "python -m benchmarks.run_all" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "machine": about,
        "total_seconds": total,
        "benchmarks": {
            o.name: {
                "status": o.status,
                "error": o.error,
                "sizes": o.sizes,
                "seconds": o.seconds,
                "figures": o.figures,
                "rows": [row.__dict__ for row in o.rows],
            }
            for o in outcomes
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    console.print(f"results: {args.json}")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
