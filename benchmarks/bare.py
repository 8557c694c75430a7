"""The bare-engine baseline: a workflow that runs no-op activities in the shape of an activation.

`BareWorkflow` takes `batches`, e.g. [1, 1, 1, 2, 1]: each batch is that many no-op activities
started together (as the activities q2c's workflow schedules in one workflow task), batches one
after another. `benchmarks.activation` reads the shape from a real contract's history, so the
engine does the same round trips for both; what remains is q2c's own cost (its workflow code,
payloads, the vendors' HTTP calls, the ledger).

`python -m benchmarks.bare` runs its worker: the Temporal connection from the environment like
`worker.py`, the same Q2C_WORKER_* tuning, on the task queue `<Q2C_TASK_QUEUE>-bare`. It is
registered here only, never in `workflows/registry.py`.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

with workflow.unsafe.imports_passed_through():
    from adapters import temporal_client
    from adapters.settings import Settings, get_settings

ACTIVITY_TIMEOUT = timedelta(seconds=60)


class BareInput(BaseModel):
    batches: list[int]


@activity.defn(name="BareNoop")
async def noop() -> None:
    """Nothing: the engine's cost of one activity (schedule, dispatch, complete, record)."""


@workflow.defn(name="Bare")
class BareWorkflow:
    @workflow.run
    async def run(self, input: BareInput) -> int:
        done = 0
        for size in input.batches:
            await asyncio.gather(
                *(
                    workflow.execute_activity(noop, start_to_close_timeout=ACTIVITY_TIMEOUT)
                    for _ in range(size)
                )
            )
            done += size
        return done


def task_queue_of(settings: Settings) -> str:
    return f"{settings.task_queue}-bare"


def build_worker(client: Client, settings: Settings) -> Worker:
    """The bare worker with q2c's worker tuning (the same Q2C_WORKER_* settings)."""
    return Worker(
        client,
        task_queue=task_queue_of(settings),
        workflows=[BareWorkflow],
        activities=[noop],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_sticky_cache_size,
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(
            settings.worker_workflow_task_pollers
        ),
        activity_task_poller_behavior=PollerBehaviorSimpleMaximum(
            settings.worker_activity_task_pollers
        ),
    )


async def serve() -> None:
    settings = get_settings()
    client = await temporal_client.connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, settings):
        print(f"bare worker polling task queue {task_queue_of(settings)!r}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    # Through the module's own name: the workflow sandbox re-imports the workflow's module,
    # which `__main__` is not.
    from benchmarks import bare

    asyncio.run(bare.serve())
