"""`q2c doctor`: ask a live worker, through Temporal, to prove it reaches the ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from adapters import temporal_client
from adapters.settings import get_settings
from starter.app import OperationFailed, app, console
from workflows.system_check import SystemCheckResult, SystemCheckWorkflow


async def _doctor(timeout: float) -> SystemCheckResult:
    settings = get_settings()
    client = await temporal_client.connect()
    try:
        return await client.execute_workflow(
            SystemCheckWorkflow.run,
            id=f"system-check-{uuid.uuid4()}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(seconds=timeout),
        )
    except WorkflowFailureError as exc:
        raise OperationFailed(
            f"no worker completed the check on task queue {settings.task_queue!r} within "
            f"{timeout:g}s ({exc.cause}); is `q2c worker` or `q2c dev` running?"
        ) from None
    except RPCError as exc:
        raise OperationFailed(f"Temporal refused the check: {exc.message}") from None


@app.command()
def doctor(
    timeout: float = 30.0,
) -> None:
    """Check that a worker is polling and can reach the ledger database."""
    result = asyncio.run(_doctor(timeout))
    console.print(
        f"ok: a worker on task queue {result.task_queue!r} reached the "
        f"{result.ledger_backend} ledger"
    )
