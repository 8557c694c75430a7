"""The q2c worker: polls the contract task queue and runs workflows and activities.

`python worker.py` or `q2c worker`. Connection from `temporalio.envconfig` (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS) and `.env`; stops cleanly on SIGINT/SIGTERM, letting
running activities finish within the graceful-shutdown timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.registry import worker_activities
from adapters import temporal_client
from adapters.database import check_database, make_engine
from adapters.observability import metrics, tracing
from adapters.observability.logging import configure_logging
from adapters.observability.metrics import ContractGauges
from adapters.settings import ConfigError, Settings, get_settings
from workflows import code_cache
from workflows import metrics as workflow_metrics
from workflows import search_attributes as sa
from workflows.registry import WORKFLOWS

GRACEFUL_SHUTDOWN = timedelta(seconds=20)
# Running contracts parked for an operator (their AttentionReason is read from each).
ATTENTION_QUERY = (
    f'WorkflowType = "Contract" AND ExecutionStatus = "Running" '
    f'AND {sa.CONTRACT_STAGE.name} = "NeedsAttention"'
)
log = logging.getLogger("q2c.worker")


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
    # One copy of the workflow modules' code for every sandboxed workflow (workflows/code_cache).
    code_cache.install()
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


def contract_gauges(
    client: Client, settings: Settings, meter: MetricMeter, ledger_engine: Engine | None = None
) -> ContractGauges:
    """The worker's gauges: contracts in NeedsAttention by reason, the amendment backlog, and
    (from the ledger) the last reconciliation run's mismatches by check."""
    return ContractGauges(
        client,
        meter,
        interval_seconds=settings.metrics_refresh_seconds,
        backlog=workflow_metrics.backlog_total,
        attention_query=ATTENTION_QUERY,
        reason_key=sa.ATTENTION_REASON,
        ledger=ledger_engine,
    )


@contextlib.asynccontextmanager
async def running_worker(
    client: Client,
    settings: Settings,
    ledger_engine: Engine,
    *,
    metrics_meter: MetricMeter | None = None,
) -> AsyncIterator[Worker]:
    """A worker polling the task queue, with its adapters open, until the block ends.

    With `metrics_meter` (the meter of the runtime serving Q2C_METRICS_BIND), the worker also
    refreshes the contract gauges in the background (the reconciliation gauge from the ledger).
    """
    # Sync activities run here; the SDK wants room for as many as may run at once (threads
    # are only started when needed).
    with ThreadPoolExecutor(
        max_workers=settings.worker_max_concurrent_activities, thread_name_prefix="q2c-activity"
    ) as executor:
        async with worker_activities(settings, ledger_engine) as activities:
            worker = build_worker(client, settings, activities, executor)
            async with (
                worker,
                _background(
                    contract_gauges(client, settings, metrics_meter, ledger_engine).run()
                    if metrics_meter
                    else None
                ),
            ):
                yield worker


@contextlib.asynccontextmanager
async def _background(work: Coroutine[Any, Any, None] | None) -> AsyncIterator[None]:
    task = asyncio.create_task(work) if work is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def run_until_stopped(
    client: Client,
    settings: Settings,
    ledger_engine: Engine,
    stop: asyncio.Event,
    *,
    metrics_meter: MetricMeter | None = None,
) -> None:
    async with running_worker(client, settings, ledger_engine, metrics_meter=metrics_meter):
        await stop.wait()


async def serve() -> None:
    settings = get_settings()
    configure_logging(settings, "q2c-worker")
    tracing.configure_tracing(settings, "q2c-worker")
    ledger_engine = open_ledger(settings)
    # The Prometheus endpoint: this process's runtime, given to its client only (the worker's
    # SDK metrics and the business metrics of its workflows and activities go through it).
    # Its core SDK logs go through Python logging (JSON, redacted) too.
    serving = bool(settings.metrics_bind.strip())
    try:
        runtime = metrics.worker_runtime(settings.metrics_bind)
    except ConfigError as exc:  # e.g. another worker on this host has the port: keep working
        log.warning("%s; this worker runs without a metrics endpoint", exc)
        runtime, serving = metrics.worker_runtime(""), False
    client = await temporal_client.connect(runtime=runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"q2c worker polling task queue {settings.task_queue!r}", flush=True)
    log.info(
        "worker polling task queue %s; metrics %s",
        settings.task_queue,
        f"on http://{settings.metrics_bind}/metrics" if serving else "off",
    )
    meter = runtime.metric_meter if serving else None
    try:
        await run_until_stopped(client, settings, ledger_engine, stop, metrics_meter=meter)
    finally:
        tracing.shutdown()
    log.info("worker stopped")
    print("q2c worker stopped", flush=True)


def main() -> None:
    try:
        asyncio.run(serve())
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        temporal_client.exit_process(2)
    # Stopped cleanly: end without finalization, which the SDK's threads can crash.
    temporal_client.exit_process(0)


if __name__ == "__main__":
    main()
