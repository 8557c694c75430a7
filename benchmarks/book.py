"""Book scale and memory: a whole book started through `q2c start --from-salesforce`.

    python -m benchmarks.book --contracts 10000          # its own stack
    python -m benchmarks.book --contracts 1000 --profile 30

`run(stack, contracts=N)` books N closed-won contracts in the Salesforce sandbox (one seat
line, monthly, a year; each starting on one of the next 28 days, so that once activated every
workflow sleeps on its first billing timer), then runs the real command an operator would,
`q2c start --from-salesforce "<WHERE>" --concurrency C`, as its own process, and measures:

- start-up of the book: from invoking the command to every contract activated (read from
  Salesforce, customer in billing and in the ERP, revenue schedule posted, status written
  back; `ContractStage = "Active"` in visibility), as contracts per second; also when the
  command itself returned (every workflow started);
- the worker's resident memory (RSS, psutil on the worker process) idle before, at its peak,
  and once the whole book is activated and sleeping, beside the sticky cache size (the number
  of workflows the worker keeps in memory, `Q2C_WORKER_STICKY_CACHE_SIZE`), since that cache,
  not the book, is what the memory follows;
- the worker's CPU seconds, and optionally (`profile_seconds`) a py-spy profile of the worker
  while the book activates.

Seeding the book is not timed in the figures (it is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client

from benchmarks.stack import Stack, contract_scenario, free_port, local_stack

RSS_GOAL_MB = 300.0
DEFAULT_CONCURRENCY = 64  # `q2c start --concurrency`, its maximum
POLL_SECONDS = 1.0
SETTLE_SECONDS = 5.0


def book_scenarios(prefix: str, contracts: int, today: dt.date) -> list[dict[str, Any]]:
    """`contracts` one-line contracts numbered `<prefix>-00001`…, starting in the next 28 days."""
    return [
        contract_scenario(f"{prefix}-{i:05d}", today + dt.timedelta(days=1 + i % 28), today=today)
        for i in range(1, contracts + 1)
    ]


SEED_CHUNK = 250


async def seed_book(stack: Stack, scenarios: list[dict[str, Any]]) -> None:
    """Book the scenarios: the first through `stack.book` (which maps the product to billing
    and the ERP), the rest in chunks, each one sandbox transaction (`{"scenarios": [...]}`)."""
    await stack.book(scenarios[:1])
    for i in range(1, len(scenarios), SEED_CHUNK):
        chunk = scenarios[i : i + SEED_CHUNK]
        answer = await stack.admin(
            "salesforce", "POST", "seed", {"scenarios": chunk, "amendments": False}
        )
        assert len(answer["opportunity_ids"]) == len(chunk), answer


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


class RssSampler:
    """The worker's RSS every half second, in the background, to catch its peak."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> int:
        rss = int(self.process.memory_info().rss)
        self.peak = max(self.peak, rss)
        return rss

    async def _loop(self) -> None:
        while True:
            self.now()
            await asyncio.sleep(0.5)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def _py_spy(pid: int, seconds: float, out: Path) -> asyncio.subprocess.Process:
    """py-spy on the worker for `seconds`, as collapsed stacks (one line per stack: count),
    sampling only the thread holding the GIL (where the worker's Python CPU goes)."""
    exe = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        *[
            str(exe),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "50",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def profile_summary(raw: Path, top: int = 15) -> list[tuple[str, float]]:
    """Share of samples per function that was on the stack (inclusive), from py-spy's raw
    output, leaving out the event loop's own frames."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0] + ")"
            if name not in seen:
                seen.add(name)
                inclusive[name] += n
    if not total:
        return []
    return [(name, count / total) for name, count in inclusive.most_common(top)]


async def step_latencies(client: Client, workflow_ids: list[str]) -> dict[str, float]:
    """Mean milliseconds, over some contracts' activation histories, that an activity waited
    to be picked up (scheduled → started), that it ran (started → completed), and that a
    workflow task waited and ran."""
    waits: dict[str, list[float]] = collections.defaultdict(list)
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        at: dict[int, dt.datetime] = {}
        names: dict[int, str] = {}
        for event in history.events:
            when = event.event_time.ToDatetime()
            at[event.event_id] = when
            if event.HasField("activity_task_scheduled_event_attributes"):
                names[event.event_id] = (
                    event.activity_task_scheduled_event_attributes.activity_type.name
                )
            elif event.HasField("activity_task_started_event_attributes"):
                scheduled = event.activity_task_started_event_attributes.scheduled_event_id
                waits["activity_queued_ms"].append((when - at[scheduled]).total_seconds())
            elif event.HasField("activity_task_completed_event_attributes"):
                started = event.activity_task_completed_event_attributes.started_event_id
                waits["activity_running_ms"].append((when - at[started]).total_seconds())
                scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
                name = names.get(scheduled, "?")
                waits[f"{name}_ms"].append((when - at[started]).total_seconds())
            elif event.HasField("workflow_task_started_event_attributes"):
                scheduled = event.workflow_task_started_event_attributes.scheduled_event_id
                first = "first_" if scheduled <= 2 else ""
                waits[f"{first}workflow_task_queued_ms"].append(
                    (when - at[scheduled]).total_seconds()
                )
            elif event.HasField("workflow_task_completed_event_attributes"):
                started = event.workflow_task_completed_event_attributes.started_event_id
                waits["workflow_task_running_ms"].append((when - at[started]).total_seconds())
            elif event.HasField("timer_started_event_attributes"):
                break
    return {name: round(1000 * sum(v) / len(v), 1) for name, v in waits.items() if v}


def stack_cpu() -> dict[str, float]:
    """CPU seconds so far of this process's children, by name (temporal, worker, sandbox…)."""
    out: dict[str, float] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            line = " ".join(child.cmdline()[:3])
        except psutil.Error:
            continue
        name = (
            "temporal"
            if "temporal" in child.name()
            else "worker"
            if "worker.py" in line
            else "sandbox"
            if "sandbox" in " ".join(child.cmdline())
            else "q2c start"
            if "start" in child.cmdline()
            else child.name()
        )
        out[name] = out.get(name, 0.0) + times.user + times.system
    return out


async def run(
    stack: Stack,
    *,
    contracts: int = 1000,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = 900.0,
    profile_seconds: float = 0.0,
    wait_activated: bool = True,
    settle_seconds: float = SETTLE_SECONDS,
) -> dict[str, Any]:
    """Book `contracts` contracts, start them all with `q2c start --from-salesforce`, measure."""
    prefix = f"BK{uuid.uuid4().hex[:6].upper()}"
    today = dt.datetime.now(dt.UTC).date()
    scenarios = book_scenarios(prefix, contracts, today)
    began = time.monotonic()
    await seed_book(stack, scenarios)
    seed_seconds = time.monotonic() - began

    client = stack.client
    mine = f'ContractId STARTS_WITH "{prefix}-"'
    on_queue = f'TaskQueue = "{stack.task_queue}"'
    workflows_before = await _count(client, on_queue)
    where = f"Q2C_External_Id__c LIKE '{prefix}-%'"
    log = stack.state_dir / f"start-{prefix}.log"
    worker = stack.worker
    cpu_before = stack_cpu()
    result: dict[str, Any] = {
        "contracts": contracts,
        "concurrency": concurrency,
        "wait_activated": wait_activated,
    }
    with RssSampler(worker.pid) as rss:
        rss_idle = rss.now()
        spy = None
        spy_out = stack.state_dir / f"py-spy-{prefix}.txt"
        if profile_seconds > 0:
            spy = await _py_spy(worker.pid, profile_seconds, spy_out)
        with log.open("wb") as out:
            invoked = time.monotonic()
            command = await asyncio.create_subprocess_exec(
                *[
                    sys.executable,
                    "-c",
                    "from starter.cli import console; console()",
                    "start",
                    "--from-salesforce",
                    where,
                    "--concurrency",
                    str(concurrency),
                    *(["--wait-activated"] if wait_activated else []),
                ],
                cwd=stack.state_dir,
                env={**stack.env, "COLUMNS": "100"},
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
            command_seconds: float | None = None
            timeline: list[tuple[float, int, int]] = []  # (seconds, started, activated)
            activated = 0
            while True:
                await asyncio.sleep(POLL_SECONDS)
                elapsed = time.monotonic() - invoked
                if command_seconds is None and command.returncode is not None:
                    command_seconds = elapsed
                started = await _count(client, on_queue) - workflows_before
                activated = await _count(client, f'{mine} AND ContractStage = "Active"')
                timeline.append((round(elapsed, 1), started, activated))
                stack.check_alive()
                if activated >= contracts and command_seconds is not None:
                    break
                if elapsed > timeout:
                    break
            activate_seconds = time.monotonic() - invoked
            if command.returncode is None:
                command.terminate()
            await asyncio.wait_for(command.wait(), timeout=30)
        parked = await _count(client, f'{mine} AND ContractStage = "NeedsAttention"')
        sample = [execution.id async for execution in client.list_workflows(mine, limit=20)]
        latencies = await step_latencies(client, sample)
        cpu_after = stack_cpu()
        cpu_during = {
            name: round(seconds - cpu_before.get(name, 0.0), 1)
            for name, seconds in cpu_after.items()
            if name != "q2c start"
        }
        await asyncio.sleep(settle_seconds)
        rss_sleeping = rss.now()
        rss_peak = rss.peak
        if spy is not None:
            try:
                await asyncio.wait_for(spy.wait(), timeout=profile_seconds + 30)
            except TimeoutError:
                spy.kill()
    complete = activated >= contracts
    result.update(
        {
            "seed_seconds": round(seed_seconds, 1),
            "command_exit_code": command.returncode,
            "command_seconds": round(command_seconds, 1) if command_seconds else None,
            "start_rate": round(contracts / command_seconds, 1) if command_seconds else None,
            "activated": activated,
            "parked": parked,
            "complete": complete,
            "activate_seconds": round(activate_seconds, 1),
            "contracts_per_second": round(activated / activate_seconds, 1),
            "worker_cpu_seconds": cpu_during.get("worker"),
            "cpu_seconds": cpu_during,
            "step_latencies": latencies,
            "sticky_cache_size": stack.settings.worker_sticky_cache_size,
            "rss_idle_mb": round(rss_idle / 2**20, 1),
            "rss_peak_mb": round(rss_peak / 2**20, 1),
            "rss_sleeping_mb": round(rss_sleeping / 2**20, 1),
            "rss_goal_mb": RSS_GOAL_MB,
            "rss_met": rss_peak / 2**20 <= RSS_GOAL_MB,
            "timeline": timeline[:: max(1, len(timeline) // 40)],
            "command_log_tail": log.read_text(errors="replace").splitlines()[-8:],
        }
    )
    if spy is not None and spy_out.exists():
        kept = Path(".q2c/bench") / "py-spy-book.txt"
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(spy_out.read_bytes())
        result["profile_raw"] = str(kept)
        result["profile"] = [
            (name, round(share, 3)) for name, share in profile_summary(spy_out, top=25)
        ]
    return result


def _print(result: dict[str, Any]) -> None:
    shown = {k: v for k, v in result.items() if k not in ("timeline", "profile")}
    print(json.dumps(shown, indent=2))
    for name, share in result.get("profile", []):
        print(f"{share:6.1%}  {name}")


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    # The worker's Prometheus endpoint on a free port (the default one may be taken).
    overrides: dict[str, Any] = {"metrics_bind": f"127.0.0.1:{free_port()}"}
    if args.sticky is not None:
        overrides["worker_sticky_cache_size"] = args.sticky
    async with local_stack(ledger=args.ledger, **overrides) as stack:
        return await run(
            stack,
            contracts=args.contracts,
            concurrency=args.concurrency,
            timeout=args.timeout,
            profile_seconds=args.profile,
            wait_activated=not args.no_wait,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--sticky", type=int, default=None, help="sticky cache size")
    parser.add_argument("--ledger", choices=("sqlite", "postgres", "auto"), default="auto")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds")
    parser.add_argument("--no-wait", action="store_true", help="q2c start without --wait-activated")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    args = parser.parse_args()
    result = asyncio.run(_main(args))
    _print(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
