"""The q2c worker: polls the contract task queue and runs workflows and activities.

`python worker.py` or `q2c worker`. Connection from `temporalio.envconfig` (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS) and `.env`; stops cleanly on SIGINT/SIGTERM, letting
running activities finish within the graceful-shutdown timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.registry import worker_activities
from adapters import temporal_client
from adapters.database import check_database, make_engine
from adapters.settings import ConfigError, Settings, get_settings
from workflows.registry import WORKFLOWS

GRACEFUL_SHUTDOWN = timedelta(seconds=20)


def open_ledger(settings: Settings) -> Engine:
    """The ledger engine, after one round-trip, so a bad Q2C_DATABASE_URL fails at start-up."""
    engine = make_engine(settings.database_url)
    check_database(engine)
    return engine


def build_worker(
    client: Client,
    settings: Settings,
    activities: Sequence[Callable[..., Any]],
    executor: ThreadPoolExecutor,
) -> Worker:
    """The worker, tuned by the Q2C_WORKER_* settings (docs/DEPLOYMENT.md)."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        activity_executor=executor,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
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


@contextlib.asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, ledger_engine: Engine
) -> AsyncIterator[Worker]:
    """A worker polling the task queue, with its adapters open, until the block ends."""
    # Sync activities run here; the SDK wants room for as many as may run at once (threads
    # are only started when needed).
    with ThreadPoolExecutor(
        max_workers=settings.worker_max_concurrent_activities, thread_name_prefix="q2c-activity"
    ) as executor:
        async with worker_activities(settings, ledger_engine) as activities:
            worker = build_worker(client, settings, activities, executor)
            async with worker:
                yield worker


async def run_until_stopped(
    client: Client, settings: Settings, ledger_engine: Engine, stop: asyncio.Event
) -> None:
    async with running_worker(client, settings, ledger_engine):
        await stop.wait()


async def serve() -> None:
    settings = get_settings()
    ledger_engine = open_ledger(settings)
    client = await temporal_client.connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"q2c worker polling task queue {settings.task_queue!r}", flush=True)
    await run_until_stopped(client, settings, ledger_engine, stop)
    print("q2c worker stopped", flush=True)


def main() -> None:
    try:
        asyncio.run(serve())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
