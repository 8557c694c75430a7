"""`q2c amend`, `q2c cancel`, `q2c retry`: change a running contract and say how it ended up.

`amend` uses the workflow's `amend` update, so it answers whether the amendment was applied
(and how) or refused; the amendment is checked in Salesforce first, because the workflow parks
on an amendment it cannot read. `cancel` and `retry` are signals; the command then waits (a
bounded poll of the `status` query) until the contract has taken them and prints its stage.
A refusal, or a contract still parked after a retry, is a failed operation (exit 1).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import typer
from temporalio.client import WorkflowUpdateFailedError

from adapters.salesforce import SalesforceClient, soql
from adapters.settings import get_settings
from domain.errors import InputError
from starter.app import OperationFailed, app, console
from starter.commands.common import (
    SALESFORCE_ID,
    TIMEOUT,
    Contract,
    connect,
    contract_ref,
    operation_errors,
    resolve,
)
from starter.control import temporal_call
from workflows.contract import ContractWorkflow
from workflows.contract_models import AmendmentRequest, CancelRequest, ContractStatus

ENDED = ("Cancelled", "Expired")
ContractRef = Annotated[
    str, typer.Argument(metavar="OPP-ID", help="The contract.", callback=contract_ref)
]
BUSY = ("Validating", "Provisioning", "Amending", "Renewing")
POLL_SECONDS = 0.2

Wait = Annotated[
    float, typer.Option("--wait", min=1, help="Seconds to wait for the contract to take it.")
]


async def status_of(handle: Contract) -> ContractStatus:
    async with temporal_call(f"status of {handle.id}", TIMEOUT):
        return await handle.query(ContractWorkflow.status)


async def settled(handle: Contract, wait: float) -> ContractStatus:
    """The status once every message is taken and no step is running (or after `wait`)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        status = await status_of(handle)
        if status.pending_messages == 0 and status.stage not in BUSY:
            return status
        if asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(POLL_SECONDS)


def _stage(status: ContractStatus) -> str:
    if status.attention_reason:
        return f"{status.stage} ({status.attention_reason}: {status.attention_detail})"
    return status.stage


# -- amend ---------------------------------------------------------------------------------


class _NotApplied(Exception):
    """The update is admitted but the contract has not answered within the wait."""


async def _amendment_id(handle: Contract, ref: str) -> str:
    """The amendment's record Id: `ref` is its Id or its name (AMD-7), on this opportunity."""
    opportunity_id = handle.id.removeprefix("contract-")
    text = soql(
        "SELECT Id FROM Q2C_Amendment__c WHERE Q2C_Opportunity__c = {opp} AND "
        + ("Id = {ref}" if SALESFORCE_ID.match(ref) else "Name = {ref}"),
        opp=opportunity_id,
        ref=ref,
    )
    async with SalesforceClient(get_settings()) as salesforce:
        records = await salesforce.query(text)
    if not records:
        raise InputError(f"{ref!r} is not an amendment of opportunity {opportunity_id}")
    return str(records[0]["Id"])


async def _amend(contract: str, amendment: str, wait: float) -> str:
    handle = await resolve(await connect(), contract)
    amendment_id = await _amendment_id(handle, amendment)
    try:
        async with temporal_call(f"amend {handle.id}", wait + TIMEOUT):
            try:
                async with asyncio.timeout(wait):
                    outcome = await handle.execute_update(
                        ContractWorkflow.amend, AmendmentRequest(amendment_id=amendment_id)
                    )
            except TimeoutError:
                raise _NotApplied from None
    except WorkflowUpdateFailedError as exc:
        raise OperationFailed(f"{handle.id} refused {amendment}: {exc.cause}") from None
    except _NotApplied:
        raise OperationFailed(
            f"{amendment} is queued on {handle.id} but not applied within {wait:g}s; "
            "`q2c status` shows why"
        ) from None
    if not outcome.accepted:
        raise OperationFailed(f"{handle.id} refused {amendment}: {outcome.message}")
    return f"{amendment} applied to {handle.id} ({outcome.treatment or 'no revenue change'})"


@app.command()
def amend(
    contract: ContractRef,
    amendment: Annotated[
        str, typer.Argument(metavar="AMENDMENT-ID", help="Q2C_Amendment__c Id or name.")
    ],
    wait: Wait = 60.0,
) -> None:
    """Apply a Salesforce amendment now and say how it was treated (or why it was refused)."""
    with operation_errors("Salesforce"):
        console.print(asyncio.run(_amend(contract, amendment, wait)), highlight=False)


# -- cancel --------------------------------------------------------------------------------


async def _cancel(contract: str, effective: dt.date, wait: float) -> str:
    handle = await resolve(await connect(), contract)
    before = await status_of(handle)
    if before.stage in ENDED:
        raise OperationFailed(f"{handle.id} is already {before.stage}")
    request = CancelRequest(request_id=f"cli-{effective.isoformat()}", effective_date=effective)
    async with temporal_call(f"cancel {handle.id}", TIMEOUT):
        await handle.signal(ContractWorkflow.cancel, request)
    after = await settled(handle, wait)
    if after.stage == "NeedsAttention":
        raise OperationFailed(f"{handle.id} refused the cancellation: {_stage(after)}")
    last_day = effective - dt.timedelta(days=1)
    return (
        f"{handle.id}: cancellation effective {effective} (last day served {last_day}); "
        f"now {after.stage}"
    )


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: must be a date YYYY-MM-DD (got {value!r})") from None


@app.command()
def cancel(
    contract: ContractRef,
    effective: Annotated[
        str,
        typer.Option("--effective", metavar="DATE", help="First day not served (YYYY-MM-DD)."),
    ],
    wait: Wait = 30.0,
) -> None:
    """Cancel a contract from DATE: days not served are credited, revenue trued up."""
    day = _date(effective, "--effective")
    with operation_errors("cancel"):
        console.print(asyncio.run(_cancel(contract, day, wait)), highlight=False)


# -- retry ---------------------------------------------------------------------------------


async def _retry(contract: str, wait: float) -> str:
    handle = await resolve(await connect(), contract)
    before = await status_of(handle)
    if before.stage != "NeedsAttention":
        return f"{handle.id} is {before.stage}; nothing to retry"
    async with temporal_call(f"retry {handle.id}", TIMEOUT):
        await handle.signal(ContractWorkflow.retry)
    after = await settled(handle, wait)
    if after.stage == "NeedsAttention":
        raise OperationFailed(f"{handle.id} retried but parked again: {_stage(after)}")
    return f"{handle.id} resumed ({before.attention_reason} resolved); now {after.stage}"


@app.command()
def retry(
    contract: ContractRef,
    wait: Wait = 60.0,
) -> None:
    """Resume a contract parked in NeedsAttention, once its cause is fixed."""
    with operation_errors("retry"):
        console.print(asyncio.run(_retry(contract, wait)), highlight=False)
