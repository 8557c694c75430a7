"""Quote-to-bill latency: from the closed-won webhook to the first invoice posted in the ERP.

Contracts are booked in the Salesforce sandbox first; then, at a steady `--rate` (default 2 per
second) for `--seconds` (default 120), each one's `opportunity.closed_won` event is POSTed,
signed, to the real webhook receiver, as Salesforce would send it. A contract's latency runs
from the moment its webhook was sent to the moment its first invoice's journal was recorded
in the ledger (the ERP has accepted it; the ledger records right after the ERP answers).
Goals on the 2-core machine: p50 ≤ 0.5 s, p99 ≤ 2 s.

    .venv/bin/python -m benchmarks.latency [--rate 2] [--seconds 120]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import statistics
import time
import uuid

from benchmarks.stack import (
    Figures,
    Stack,
    StackError,
    cli,
    contract_scenario,
    invoice_journals_posted,
)

GOAL_P50, GOAL_P99 = 0.5, 2.0
DRAIN_SECONDS = 60.0


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def run(stack: Stack, rate: float = 2.0, seconds: float = 120.0) -> Figures:
    if stack.webhooks is None:
        raise StackError("the latency benchmark needs local_stack(webhooks=True)")
    count = max(1, round(rate * seconds))
    today = dt.datetime.now(dt.UTC).date()
    prefix = f"LAT-{uuid.uuid4().hex[:6]}-"
    numbers = [f"{prefix}{i:05d}" for i in range(count)]
    opportunities = await stack.book([contract_scenario(n, today) for n in numbers])
    # One contract first, untimed: imports, connections and caches warm up on every side.
    warm = await stack.book([contract_scenario(f"{prefix}WARM", today)])
    sent: dict[str, float] = {}
    answered: list[float] = []
    refused: list[str] = []

    async def close_won(number: str, opportunity_id: str) -> None:
        event = {
            "id": f"evt_{uuid.uuid4().hex[:20]}",
            "type": "opportunity.closed_won",
            "opportunity_id": opportunity_id,
        }
        began = time.time()
        sent[number] = began
        response = await stack.send_salesforce_event(event)
        answered.append(time.time() - began)
        if response.status_code != 202:
            refused.append(f"{number}: {response.status_code} {response.text[:200]}")

    await close_won(f"{prefix}WARM", warm[0])
    await _wait_posted(stack, prefix, {f"{prefix}WARM"})
    sent.clear()
    answered.clear()

    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()
    for i, (number, opportunity_id) in enumerate(zip(numbers, opportunities, strict=True)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(close_won(number, opportunity_id)))
    await asyncio.gather(*tasks)
    sending = time.monotonic() - start
    if refused:
        raise StackError(f"{len(refused)} webhooks refused, e.g. {refused[0]}")
    posted = await _wait_posted(stack, prefix, set(numbers))
    latencies = [posted[n][0] - sent[n] for n in numbers]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    met = p50 <= GOAL_P50 and p99 <= GOAL_P99
    return {
        "contracts": count,
        "rate_per_s": rate,
        "sending_seconds": round(sending, 1),
        "latency_p50_s": round(p50, 3),
        "latency_p90_s": round(percentile(latencies, 90), 3),
        "latency_p99_s": round(p99, 3),
        "latency_max_s": round(max(latencies), 3),
        "latency_mean_s": round(statistics.fmean(latencies), 3),
        "webhook_answer_p50_s": round(percentile(answered, 50), 3),
        "webhook_answer_p99_s": round(percentile(answered, 99), 3),
        "goal": f"p50 <= {GOAL_P50} s and p99 <= {GOAL_P99} s: {'met' if met else 'MISSED'}",
    }


async def _wait_posted(stack: Stack, prefix: str, numbers: set[str]) -> dict[str, list[float]]:
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        posted = await asyncio.to_thread(invoice_journals_posted, stack, prefix)
        if numbers <= set(posted):
            return posted
        stack.check_alive()
        if time.monotonic() > deadline:
            missing = sorted(numbers - set(posted))
            raise StackError(f"{len(missing)} contracts posted no invoice, e.g. {missing[:3]}")
        await asyncio.sleep(0.25)


def main() -> None:
    cli(run, __doc__, {"rate": 2.0, "seconds": 120.0}, webhooks=True)


if __name__ == "__main__":
    main()
