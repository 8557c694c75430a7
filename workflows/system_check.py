"""SystemCheckWorkflow: `q2c doctor` asks a live worker to prove it can reach what it needs."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.health import HealthActivities


class SystemCheckResult(BaseModel):
    task_queue: str
    ledger_backend: str


@workflow.defn(name="SystemCheck")
class SystemCheckWorkflow:
    @workflow.run
    async def run(self) -> SystemCheckResult:
        backend = await workflow.execute_activity_method(
            HealthActivities.check_ledger,
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary="ledger round-trip",
        )
        return SystemCheckResult(task_queue=workflow.info().task_queue, ledger_backend=backend)
