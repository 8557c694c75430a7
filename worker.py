"""The q2c worker: polls the contract task queue and runs workflows and activities.

`python worker.py` or `q2c worker`. Connection from `temporalio.envconfig` (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS) and `.env`; stops cleanly on SIGINT/SIGTERM, letting
running activities finish within the graceful-shutdown timeout.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.registry import build_activities
from adapters import temporal_client
from adapters.settings import ConfigError, Settings, get_settings
from workflows.registry import WORKFLOWS

GRACEFUL_SHUTDOWN = timedelta(seconds=20)


def build_worker(client: Client, settings: Settings, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(settings),
        activity_executor=executor,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def run_until_stopped(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    with ThreadPoolExecutor(max_workers=32, thread_name_prefix="q2c-activity") as executor:
        worker = build_worker(client, settings, executor)
        async with worker:
            await stop.wait()


async def serve() -> None:
    settings = get_settings()
    client = await temporal_client.connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"q2c worker polling task queue {settings.task_queue!r}", flush=True)
    await run_until_stopped(client, settings, stop)
    print("q2c worker stopped", flush=True)


def main() -> None:
    try:
        asyncio.run(serve())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
