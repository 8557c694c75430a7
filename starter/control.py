"""What operators and webhooks do to a contract through Temporal: start it, signal it.

Shared by the `q2c` commands and the webhook receiver so both start contracts the same way:
signal-with-start of `ContractWorkflow` with the `booked` signal, id `contract-<opportunity>`,
so starting twice reaches the running contract instead of starting another. A contract whose
run has ended (Expired, Cancelled) is not started again: the id reuse policy allows a new run
only after a failed or terminated one.

An invoice paid after its contract's run ended reaches no signal: `closed_contract` reads
what the closed run knows (describe, then its `reconciliation_basis` query) and
`start_late_payment` starts `LatePaymentWorkflow` (workflows/late_payment.py) to post the
payment journal under the contract's own key.

Every call is bounded in time; Temporal not answering becomes `TemporalUnavailable` (the CLI
says so, the receiver answers 503 with Retry-After), an unknown contract `ContractNotFound`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.models import Contract
from domain.reconciliation import ReconciliationBasis
from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import ContractInput
from workflows.late_payment import LatePaymentInput, LatePaymentWorkflow, late_payment_id

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


@dataclass(frozen=True)
class ClosedContract:
    """A contract whose last run completed (Expired, Cancelled), as that run tells it."""

    workflow_id: str
    run_id: str
    basis: ReconciliationBasis
    contract: Contract
    clock_offset_days: int  # business date − workflow clock of the closed run (0 in production)

    @property
    def stage(self) -> str:
        return self.basis.stage


async def closed_contract(client: Client, workflow_id: str, *, timeout: float) -> ClosedContract:
    """The facts of a contract whose run has ended, from Temporal: describe the workflow, then
    ask its closed run the `reconciliation_basis` query (answered by a worker replaying it).

    `ContractNotFound` when no such workflow ever ran, or its last run did not complete (still
    running, failed, terminated: no ended contract to speak for); `TemporalUnavailable` when
    Temporal or a worker to replay it does not answer in time.
    """
    handle = client.get_workflow_handle(workflow_id)
    async with temporal_call(f"describe {workflow_id}", timeout):
        described = await handle.describe()
    status = described.status
    if status != WorkflowExecutionStatus.COMPLETED:
        state = status.name.lower() if status is not None else "unknown"
        raise ContractNotFound(f"{workflow_id} is {state}, not a contract that ran to its end")
    closed = client.get_workflow_handle(workflow_id, run_id=described.run_id)
    try:
        async with temporal_call(f"query the closed run of {workflow_id}", timeout):
            basis = await closed.query(ContractWorkflow.reconciliation_basis)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
        # A worker that cannot replay the run (a bad deploy): the sender retries later.
        raise TemporalUnavailable(f"{workflow_id}: its closed run did not answer: {exc}") from None
    if not basis.finished or basis.contract is None:
        raise ContractNotFound(f"{workflow_id} completed without finishing its contract")
    offset = 0
    if described.close_time is not None:
        offset = (basis.business_date - described.close_time.date()).days
    return ClosedContract(workflow_id, described.run_id, basis, basis.contract, offset)


async def start_late_payment(
    client: Client,
    task_queue: str,
    closed: ClosedContract,
    invoice_id: str,
    *,
    timeout: float,
) -> StartOutcome:
    """Start the workflow posting the payment journal of an ended contract's paid invoice.

    Its id is one per contract and invoice: already running or completed, nothing is started
    (`started` False); after a failure, a new start runs it again (the key posts once).
    """
    contract = closed.contract
    workflow_id = late_payment_id(closed.workflow_id, invoice_id)
    payment = LatePaymentInput(
        contract_workflow_id=closed.workflow_id,
        contract_run_id=closed.run_id,
        final_stage=closed.stage,
        key_prefix=closed.basis.key_prefix,
        contract_id=contract.id,
        currency=contract.currency,
        legal_entity=contract.legal_entity,
        account_id=contract.customer.id,
        customer_name=contract.customer.name,
        invoice_id=invoice_id,
        payment_id=invoice_id,
        clock_offset_days=closed.clock_offset_days,
    )
    try:
        async with temporal_call(f"start {workflow_id}", timeout):
            await client.start_workflow(
                LatePaymentWorkflow.run,
                payment,
                id=workflow_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                static_summary=(
                    f"Payment of invoice {invoice_id} after {closed.workflow_id} ended "
                    f"({closed.stage})"
                ),
            )
    except WorkflowAlreadyStartedError:
        return StartOutcome(workflow_id, started=False)
    return StartOutcome(workflow_id, started=True)
