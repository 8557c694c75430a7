"""Activation throughput, as a ratio of the bare Temporal engine's on the same stack.

N contracts are closed-won at once (signal-with-start, as the webhook receiver does it) and
timed until every one's first invoice is posted to the ERP (its journal recorded in the
ledger). Against it, N bare workflows (`benchmarks.bare`) run the same number of no-op
activities in the same shape, read from the history of a q2c contract activated in this run;
both on the same dev server, with workers of the same settings, each in its own process.
Goal: q2c ≥ 0.8 of the bare engine's contracts per second.

    .venv/bin/python -m benchmarks.activation [--contracts 100] [--rounds 2]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from benchmarks.bare import BareInput, BareWorkflow
from benchmarks.stack import (
    Figures,
    Stack,
    StackError,
    activity_batches,
    cli,
    contract_scenario,
    invoice_journals_posted,
)
from starter.control import start_contract
from workflows.contract import workflow_id_for

GOAL = 0.8
START_CONCURRENCY = 32
TIMEOUT_PER_CONTRACT = 2.0  # seconds, on top of a minute: a stuck run fails, never hangs
WARMUP = 5


async def _launch(count: int, start: Callable[[int], Awaitable[None]]) -> None:
    limit = asyncio.Semaphore(START_CONCURRENCY)

    async def one(i: int) -> None:
        async with limit:
            await start(i)

    await asyncio.gather(*(one(i) for i in range(count)))


async def activate_q2c(stack: Stack, count: int, label: str) -> tuple[float, str]:
    """Close `count` booked contracts won at once; seconds until all first invoices are posted.

    Returns the seconds and one of the workflow ids.
    """
    today = dt.datetime.now(dt.UTC).date()
    prefix = f"ACT-{label}-"
    opportunities = await stack.book(
        [contract_scenario(f"{prefix}{i:05d}", today) for i in range(count)]
    )

    async def start(i: int) -> None:
        await start_contract(
            stack.client, stack.task_queue, opportunities[i], source="benchmark", timeout=30
        )

    began = time.time()
    await _launch(count, start)
    deadline = time.monotonic() + 60 + TIMEOUT_PER_CONTRACT * count
    while True:
        posted = await asyncio.to_thread(invoice_journals_posted, stack, prefix)
        if len(posted) >= count:
            break
        stack.check_alive()
        if time.monotonic() > deadline:
            raise StackError(f"only {len(posted)} of {count} contracts posted a first invoice")
        await asyncio.sleep(0.1)
    finished = max(times[0] for times in posted.values())
    return finished - began, workflow_id_for(opportunities[0])


async def run_bare(stack: Stack, count: int, batches: list[int], label: str) -> float:
    """Run `count` bare workflows at once; seconds until the last one completed."""
    handles = []

    async def start(i: int) -> None:
        handles.append(
            await stack.client.start_workflow(
                BareWorkflow.run,
                BareInput(batches=batches),
                id=f"bare-{label}-{i:05d}",
                task_queue=stack.bare_task_queue,
            )
        )

    began = time.time()
    await _launch(count, start)
    async with asyncio.timeout(60 + TIMEOUT_PER_CONTRACT * count):
        await asyncio.gather(*(h.result() for h in handles))
    return time.time() - began


async def run(stack: Stack, contracts: int = 100, rounds: int = 2) -> Figures:
    """Activate `contracts` q2c contracts and as many bare workflows, `rounds` times each
    (alternating, bare first); the best round of each is kept."""
    if stack.bare_worker is None:
        raise StackError("the activation benchmark needs local_stack(bare=True)")
    run_id = uuid.uuid4().hex[:6]
    # Warm-up: a few contracts, whose history gives the activation's shape.
    warm = min(WARMUP, contracts)
    _, sample = await activate_q2c(stack, warm, f"{run_id}-warm")
    batches = await activity_batches(stack.client, sample)
    await run_bare(stack, warm, batches, f"{run_id}-warm")

    q2c_seconds: list[float] = []
    bare_seconds: list[float] = []
    cpu_q2c: Counter[str] = Counter()  # CPU seconds per process during the q2c phases
    cpu_bare: Counter[str] = Counter()
    for r in range(rounds):
        before = stack.cpu_seconds()
        bare_seconds.append(await run_bare(stack, contracts, batches, f"{run_id}-{r}"))
        middle = stack.cpu_seconds()
        seconds, _ = await activate_q2c(stack, contracts, f"{run_id}-{r}")
        q2c_seconds.append(seconds)
        after = stack.cpu_seconds()
        cpu_bare.update({k: middle[k] - before[k] for k in before})
        cpu_q2c.update({k: after[k] - middle[k] for k in after})
    per_contract = 1000 / (contracts * rounds)
    q2c_rate = contracts / min(q2c_seconds)
    bare_rate = contracts / min(bare_seconds)
    ratio = q2c_rate / bare_rate
    return {
        "contracts": contracts,
        "rounds": rounds,
        "activities_per_contract": sum(batches),
        "activation_shape": "+".join(map(str, batches)),
        "q2c_seconds": round(min(q2c_seconds), 2),
        "bare_seconds": round(min(bare_seconds), 2),
        "q2c_contracts_per_s": round(q2c_rate, 1),
        "bare_contracts_per_s": round(bare_rate, 1),
        "ratio": round(ratio, 3),
        "goal": f"ratio >= {GOAL}: {'met' if ratio >= GOAL else 'MISSED'}",
        "q2c_worker_cpu_ms_per_contract": round(per_contract * cpu_q2c["worker"], 1),
        "bare_worker_cpu_ms_per_contract": round(per_contract * cpu_bare["bare-worker"], 1),
        "q2c_temporal_cpu_ms_per_contract": round(per_contract * cpu_q2c["temporal"], 1),
        "bare_temporal_cpu_ms_per_contract": round(per_contract * cpu_bare["temporal"], 1),
        "sandbox_cpu_ms_per_contract": round(per_contract * cpu_q2c["sandbox"], 1),
    }


def main() -> None:
    cli(run, __doc__, {"contracts": 100, "rounds": 2}, bare=True)


if __name__ == "__main__":
    main()
