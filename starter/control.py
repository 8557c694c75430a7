"""What operators and webhooks do to a contract through Temporal: start it, signal it.

Shared by the `q2c` commands and the webhook receiver so both start contracts the same way:
signal-with-start of `ContractWorkflow` with the `booked` signal, id `contract-<opportunity>`,
so starting twice reaches the running contract instead of starting another. A contract whose
run has ended (Expired, Cancelled) is not started again: the id reuse policy allows a new run
only after a failed or terminated one.

Every call is bounded in time; Temporal not answering becomes `TemporalUnavailable` (the CLI
says so, the receiver answers 503 with Retry-After), an unknown contract `ContractNotFound`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import ContractInput

UNAVAILABLE = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
    }
)


class TemporalUnavailable(Exception):
    """Temporal did not answer in time or refused the connection; try again later."""


class ContractNotFound(Exception):
    """No running contract has that id (never started, or its run has ended)."""


class StartRefused(Exception):
    """The contract cannot be started: its run has ended, or Temporal refused the start."""


@dataclass(frozen=True)
class StartOutcome:
    workflow_id: str
    started: bool  # False: it was already running, and only the signal reached it


@contextlib.asynccontextmanager
async def temporal_call(what: str, timeout: float) -> AsyncIterator[None]:
    """Bound a Temporal call in time and turn its failures into the errors above."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise TemporalUnavailable(f"Temporal did not answer within {timeout:g}s ({what})") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ContractNotFound(f"{what}: {exc.message}") from None
        if exc.status in UNAVAILABLE:
            raise TemporalUnavailable(f"Temporal is unavailable ({what}): {exc.message}") from None
        raise
    except RuntimeError as exc:  # a lazy client failing its first connection
        if "connect" not in str(exc).lower():
            raise
        raise TemporalUnavailable(f"cannot connect to Temporal ({what})") from None


def started_by(handle: Any) -> bool:
    """Whether signal-with-start started a run (the SDK keeps the answer on the handle)."""
    response = getattr(handle, "_start_workflow_response", None)
    return bool(getattr(response, "started", True))


async def start_contract(
    client: Client, task_queue: str, opportunity_id: str, *, source: str, timeout: float
) -> StartOutcome:
    """Start the contract of a closed-won opportunity, or reach the one already running."""
    workflow_id = workflow_id_for(opportunity_id)
    try:
        async with temporal_call(f"start {workflow_id}", timeout):
            handle = await client.start_workflow(
                ContractWorkflow.run,
                ContractInput(opportunity_id=opportunity_id),
                id=workflow_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                start_signal="booked",
                start_signal_args=[source],
                static_summary=f"Contract of opportunity {opportunity_id}",
            )
    except WorkflowAlreadyStartedError:
        raise StartRefused(f"{workflow_id} has already run to its end") from None
    except RPCError as exc:
        raise StartRefused(f"Temporal refused to start {workflow_id}: {exc.message}") from None
    return StartOutcome(workflow_id, started_by(handle))


async def signal_contract(
    client: Client, workflow_id: str, signal: str, arg: Any, *, timeout: float
) -> None:
    """Deliver one signal to a running contract; returns once Temporal has stored it."""
    handle = client.get_workflow_handle(workflow_id)
    async with temporal_call(f"signal {signal} to {workflow_id}", timeout):
        if arg is None:
            await handle.signal(signal)
        else:
            await handle.signal(signal, arg)
