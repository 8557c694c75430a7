"""A workflow with a billing period's timer, in a module of its own: the sandbox re-imports it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


@workflow.defn
class SleepsAMonth:
    """A durable timer of a billing period's length: time-skipping must fast-forward it."""

    @workflow.run
    async def run(self) -> str:
        start = workflow.now()
        await workflow.sleep(timedelta(days=31))
        return str((workflow.now() - start).days)
