"""How many full contract reports `domain/` computes per second on one core.

Each generated contract runs 36 months with 3 lines (two subscriptions and a usage line with a
year of usage records) and 2 amendments (a mix of upsells at and below SSP, price changes,
added lines, extensions and cancellations). The contracts are generated and validated first;
only `build_schedule` + `build_report` are timed.

    .venv/bin/python -m benchmarks.bench_schedule [--count 10000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import random
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.calendar import add_months
from domain.models import Amendment, Scenario
from domain.report import build_report
from domain.schedule import build_schedule

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "KWD"]
FREQUENCIES = ["monthly", "monthly", "quarterly", "annual"]


def _price(rng: random.Random, currency: str) -> str:
    whole = rng.randrange(100, 3000)
    if currency == "JPY":
        return str(whole * 100)
    if currency == "KWD":
        return f"{whole}.{rng.randrange(1000):03d}"
    return f"{whole}.{rng.randrange(100):02d}"


def _amendment(
    rng: random.Random, n: int, start: date, end: date, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    span = (end - start).days
    effective = start + timedelta(days=rng.randrange(30, span - 30))
    sub = rng.choice(lines[:2])
    kind = rng.randrange(6)
    amendment: dict[str, Any] = {"id": f"AMD-{n}", "effective_date": effective.isoformat()}
    if kind == 0:  # upsell at the line's price
        amendment["changes"] = [{"line_id": sub["id"], "quantity": sub["quantity"] + 5}]
    elif kind == 1:  # upsell with a discount
        amendment["changes"] = [
            {
                "line_id": sub["id"],
                "quantity": sub["quantity"] + 3,
                "unit_price": str(Decimal(sub["unit_price"]) * Decimal("0.7")),
            }
        ]
    elif kind == 2:  # price change
        amendment["changes"] = [
            {"line_id": sub["id"], "unit_price": str(Decimal(sub["unit_price"]) * Decimal("0.9"))}
        ]
    elif kind == 3:  # new line
        amendment["add_lines"] = [
            {
                "id": f"N{n}",
                "product_code": "ADDON",
                "kind": "subscription",
                "quantity": rng.randrange(1, 20),
                "unit_price": sub["unit_price"],
            }
        ]
    elif kind == 4:  # reduction
        amendment["changes"] = [{"line_id": sub["id"], "quantity": max(1, sub["quantity"] - 2)}]
    else:  # extension by six months
        amendment["end_date"] = add_months(end + timedelta(days=1), 6).isoformat()
    return amendment


def generate(count: int, seed: int = 7) -> list[Scenario]:
    """`count` valid scenarios: 36 months, 3 lines, 2 amendments, monthly usage."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        currency = rng.choice(CURRENCIES)
        start = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        end = add_months(start, 36) - timedelta(days=1)
        lines = [
            {
                "id": f"L{k}",
                "product_code": f"SEAT-{k}",
                "kind": "subscription",
                "quantity": rng.randrange(5, 200),
                "unit_price": _price(rng, currency),
                "ssp": _price(rng, currency),
            }
            for k in (1, 2)
        ]
        usage_line = {
            "id": "U1",
            "product_code": "API",
            "kind": "usage",
            "included": 1000,
            "unit_price": "0.01" if currency != "JPY" else "1",
        }
        usage = [
            {
                "line_id": "U1",
                "date": (start + timedelta(days=30 * m + rng.randrange(28))).isoformat(),
                "quantity": rng.randrange(0, 5000),
            }
            for m in range(12)
        ]
        first = _amendment(rng, 1, start, end, lines)
        second = _amendment(rng, 2, start, end, lines)
        amendments = sorted([first, second], key=lambda a: a["effective_date"])
        if amendments[0]["effective_date"] == amendments[1]["effective_date"]:
            amendments = amendments[:1]
        data = {
            "contract": {
                "id": f"OPP-{i}",
                "customer": {"id": f"ACC-{i}", "name": "Bench Co"},
                "currency": currency,
                "legal_entity": "US-DE",
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "billing_frequency": rng.choice(FREQUENCIES),
                "lines": [*lines, usage_line],
            },
            "amendments": amendments,
            "usage": usage,
            "as_of": (start + timedelta(days=rng.randrange(1200))).isoformat(),
        }
        scenario = Scenario.model_validate(data)
        if rng.random() < 0.1:  # now and then a cancellation as the second amendment
            cancel = Amendment(
                id="AMD-C",
                effective_date=max(a.effective_date for a in scenario.amendments)
                + timedelta(days=40),
                cancel=True,
            )
            if cancel.effective_date <= end:
                scenario = scenario.model_copy(
                    update={
                        "amendments": [scenario.amendments[0], cancel],
                        "usage": [u for u in scenario.usage if u.date < cancel.effective_date],
                    }
                )
        out.append(scenario)
    return out


def run(scenarios: list[Scenario]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to compute every scenario's full report.

    The rate is reported on CPU time of this single-threaded process, which is what "one core"
    means and is steadier than wall time on a shared machine; wall time is printed beside it.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    for s in scenarios:
        build_report(build_schedule(s.contract, s.amendments, s.usage), s.as_of)
    return time.process_time() - cpu, time.perf_counter() - wall


GOAL = 1_000  # contracts per second on one core (docs/PERFORMANCE.md)


def measure(count: int = 10_000, repeat: int = 1, seed: int = 7) -> dict[str, float | int]:
    """The figures `make bench` records: the best of `repeat` runs over `count` contracts."""
    scenarios = generate(count, seed)
    run(scenarios[: min(200, len(scenarios))])  # warm caches and imports
    cpu, wall = min(run(scenarios) for _ in range(max(1, repeat)))
    return {
        "contracts": len(scenarios),
        "repeat": repeat,
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "contracts_per_second": round(len(scenarios) / cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="contracts (default 10000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs; the best one is reported (default 1)"
    )
    args = parser.parse_args()
    scenarios = generate(args.count, args.seed)
    run(scenarios[: min(200, len(scenarios))])  # warm caches and imports
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        elapsed, wall = run(scenarios)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    else:
        elapsed, wall = min(run(scenarios) for _ in range(max(1, args.repeat)))
    print(
        f"{len(scenarios)} contracts (36 months, 3 lines, 2 amendments): "
        f"{len(scenarios) / elapsed:,.0f} contracts/s on one core "
        f"({elapsed:.2f}s CPU, {wall:.2f}s wall, python {platform.python_version()})"
    )


if __name__ == "__main__":
    main()
