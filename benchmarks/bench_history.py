"""How large a long contract's workflow history grows, and that continue-as-new keeps it bounded.

A monthly contract of `--years` (default 10) with `--amendments` (default 20: two a year)
spread over the term, mixing upsells at SSP (separate contracts), price increases and quantity
decreases (prospective) and added lines, runs through `q2c simulate`'s machinery
(time-skipping server, sandbox, the real worker) to a month after its end. Printed: events
per run of the continue-as-new chain, events per contract-year, the largest run, wall time,
and whether the report read back from the systems equals the domain engine's `build_report`.

    .venv/bin/python -m benchmarks.bench_history [--years 10] [--amendments 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from domain.calendar import add_months
from domain.inputs import load_scenario
from domain.models import Scenario
from domain.report import Report, build_report
from domain.schedule import build_schedule
from starter.simulate import Simulation, simulation

SEAT_PRICE = Decimal("1200.00")  # per seat per year, at SSP
ADDON_PRICE = Decimal("240.00")


def long_scenario(
    years: int = 10, amendments: int = 40, start: date = date(2026, 1, 15)
) -> dict[str, Any]:
    """A valid monthly contract with `amendments` spread evenly over `years`.

    In turn: seats added at SSP (separate), the support fee raised 4% (prospective), an
    add-on line at SSP (separate), five seats removed (prospective). Effective dates fall on
    the 24th, mid-period, so every amendment bills a proration.
    """
    months = 12 * years
    end = add_months(start, months) - timedelta(days=1)
    seats, support = 100, Decimal("12000.00")
    changes: list[dict[str, Any]] = []
    step = months / (amendments + 1)
    for k in range(amendments):
        effective = add_months(start, round(step * (k + 1))) + timedelta(days=9)
        amendment: dict[str, Any] = {"id": f"AMD-{k + 1}", "effective_date": str(effective)}
        kind = k % 4
        if kind == 0:
            seats += 10
            amendment["changes"] = [{"line_id": "L1", "quantity": seats}]
        elif kind == 1:
            support = (support * Decimal("1.04")).quantize(Decimal("0.01"))
            amendment["changes"] = [{"line_id": "L2", "unit_price": str(support)}]
        elif kind == 2:
            amendment["add_lines"] = [
                {
                    "id": f"ADD{k + 1}",
                    "product_code": "ADDON",
                    "kind": "subscription",
                    "quantity": 5,
                    "unit_price": str(ADDON_PRICE),
                    "ssp": str(ADDON_PRICE),
                }
            ]
        else:
            seats -= 5
            amendment["changes"] = [{"line_id": "L1", "quantity": seats}]
        changes.append(amendment)
    return {
        "description": f"{years}-year monthly contract with {amendments} amendments",
        "contract": {
            "id": f"OPP-LONG-{years}Y{amendments}A",
            "customer": {"id": "ACC-LONG", "name": "Longrun AG"},
            "currency": "EUR",
            "legal_entity": "EU-DE",
            "start_date": str(start),
            "end_date": str(end),
            "billing_frequency": "monthly",
            "lines": [
                {
                    "id": "L1",
                    "product_code": "SEAT-PRO",
                    "kind": "subscription",
                    "quantity": 100,
                    "unit_price": str(SEAT_PRICE),
                    "ssp": str(SEAT_PRICE),
                },
                {
                    "id": "L2",
                    "product_code": "SUPPORT",
                    "kind": "subscription",
                    "quantity": 1,
                    "unit_price": str(support.quantize(Decimal("0.01"))),
                    "ssp": "12000.00",
                },
            ],
        },
        "amendments": changes,
        "usage": [],
        "as_of": str(end + timedelta(days=31)),
    }


@dataclass
class HistoryMeasure:
    """What one simulated contract left: its runs' sizes and both reports."""

    scenario: Scenario
    run_events: list[int]
    run_bytes: list[int]  # the history size the server reported last in each run
    carried_bytes: list[int]  # the input each run started with (the state, after the first)
    suggested_at: list[int | None]  # the first event at which the server suggested a new run
    failed_tasks: int  # workflow tasks failed or timed out (a loaded machine; 3 events each)
    seconds: float
    report: Report
    domain_report: Report

    @property
    def total_events(self) -> int:
        return sum(self.run_events)

    @property
    def largest_run(self) -> int:
        return max(self.run_events)


async def measure(
    raw: dict[str, Any],
    *,
    inspect: Callable[[Simulation], Awaitable[None]] | None = None,
    **simulation_options: Any,
) -> HistoryMeasure:
    """Simulate `raw` to its `as_of` and count the events of every run of its workflow.

    `inspect` is awaited while the systems are still up (tests look at billing and the ERP).
    """
    scenario = load_scenario(json.dumps(raw), source=str(raw["contract"]["id"]))
    started = time.perf_counter()
    async with simulation(scenario, raw, **simulation_options) as sim:
        histories = await sim.run_histories()
        report = sim.report
        if inspect is not None:
            await inspect(sim)
    seconds = time.perf_counter() - started
    schedule = build_schedule(scenario.contract, scenario.amendments, scenario.usage)
    return HistoryMeasure(
        scenario=scenario,
        run_events=[len(h.events) for h in histories],
        run_bytes=[_last_size(h) for h in histories],
        carried_bytes=[_input_size(h) for h in histories],
        suggested_at=[_suggested_at(h) for h in histories],
        failed_tasks=sum(_failed_tasks(h) for h in histories),
        seconds=seconds,
        report=report,
        domain_report=build_report(schedule, scenario.as_of),
    )


def _started(history: WorkflowHistory) -> list[HistoryEvent]:
    return [e for e in history.events if e.HasField("workflow_task_started_event_attributes")]


def _failed_tasks(history: WorkflowHistory) -> int:
    return sum(
        e.HasField("workflow_task_failed_event_attributes")
        or e.HasField("workflow_task_timed_out_event_attributes")
        for e in history.events
    )


def _suggested_at(history: WorkflowHistory) -> int | None:
    for event in _started(history):
        if event.workflow_task_started_event_attributes.suggest_continue_as_new:
            return int(event.event_id)
    return None


def _last_size(history: WorkflowHistory) -> int:
    started = _started(history)
    return (
        int(started[-1].workflow_task_started_event_attributes.history_size_bytes) if started else 0
    )


def _input_size(history: WorkflowHistory) -> int:
    started = history.events[0].workflow_execution_started_event_attributes
    return sum(len(p.data) for p in started.input.payloads)


def _same(report: Report, other: Report) -> bool:
    def strip(r: Report) -> dict[str, Any]:
        out = r.to_json()
        out["invoices"] = [{k: v for k, v in d.items() if k != "number"} for d in out["invoices"]]
        return out

    return strip(report) == strip(other)


RUN_BOUND = 10_000  # events in one run; the tests hold the workflow to it


async def summary(years: int = 10, amendments: int = 20) -> dict[str, Any]:
    """The figures `make bench` records for one long contract (2 amendments a year)."""
    result = await measure(long_scenario(years, amendments))
    return {
        "years": years,
        "amendments": amendments,
        "runs": len(result.run_events),
        "run_events": result.run_events,
        "events": result.total_events,
        "events_per_year": round(result.total_events / years, 1),
        "largest_run_events": result.largest_run,
        "history_bytes_per_run": result.run_bytes,
        "carried_state_bytes_per_run": result.carried_bytes,
        "continue_as_new_suggested_at": result.suggested_at,
        "failed_workflow_tasks": result.failed_tasks,
        "report_matches": _same(result.report, result.domain_report),
        "documents": len(result.report.invoices),
        "wall_seconds": round(result.seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--amendments", type=int, default=20, help="default: 2 a year")
    args = parser.parse_args()
    raw = long_scenario(args.years, args.amendments)
    result = asyncio.run(measure(raw))
    years = args.years
    print(f"contract: {years} years monthly, {args.amendments} amendments")
    print(f"runs: {len(result.run_events)} ({', '.join(map(str, result.run_events))} events)")
    print(f"events: {result.total_events} in all, {result.total_events / years:.0f} per year")
    print(f"largest run: {result.largest_run} events")
    print(f"history bytes per run (last reported): {', '.join(map(str, result.run_bytes))}")
    print(f"input bytes per run (the carried state): {', '.join(map(str, result.carried_bytes))}")
    print(f"server suggested continue-as-new at event: {result.suggested_at}")
    print(f"report equals the domain's: {_same(result.report, result.domain_report)}")
    print(f"documents: {len(result.report.invoices)}; wall time {result.seconds:.1f} s")
    print(
        f"machine: nproc {os.cpu_count()}, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
