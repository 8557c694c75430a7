"""ReconciliationWorkflow: the three-way reconciliation of DESIGN.md §5, on demand or scheduled.

One run compares, for every contract (or the ones asked for) as of a date, Salesforce's
bookings with the transaction price, billing's documents with the AR posted in the ERP, the
ERP's revenue with the schedule, and the ERP's deferred revenue with billed − recognized
(`domain.reconciliation`). Contracts are read in batches by activities that change nothing
outside; each contract workflow is signalled its verdict (search attribute `ReconStatus`),
and the run and its differences are recorded in the ledger. Every worker reads the last
recorded run from the ledger for its gauge `q2c_reconciliation_mismatches{kind=...}`
(`adapters.observability.metrics.ReconciliationGauge`); the workflow sets no metric itself, so
a worker that did not run the last reconciliation reports it all the same.

Also here, for the CLI and other callers: `reconcile_contracts()` (run one and wait for its
report) and `ensure_reconciliation_schedule()` (the daily Temporal Schedule).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import RetryPolicy

from workflows.schedules import ensure_schedule

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import (
        FindContracts,
        ReconcileBatch,
        ReconciliationActivities,
        RecordRun,
        UnknownContractError,
        resolve_contracts,
    )
    from adapters.settings import Settings
    from domain.reconciliation import ContractReconciliation, ReconciliationReport

SCHEDULE_ID = "reconciliation-daily"
BATCH = 20  # contracts per activity
PARALLEL = 4  # batches at once
# Beyond this many clean contracts the report lists only the others (and counts the clean
# ones): the workflow's result must stay well under Temporal's 2 MB payload limit.
CLEAN_LISTED = 500
READ_TIMEOUT = timedelta(minutes=10)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))

__all__ = [
    "SCHEDULE_ID",
    "ReconcileInput",
    "ReconciliationWorkflow",
    "UnknownContractError",
    "ensure_reconciliation_schedule",
    "reconcile_contracts",
    "schedule_spec",
]


class ReconcileInput(BaseModel):
    """`contract_ids` None: every contract; `as_of` None: today (UTC) when the run starts."""

    contract_ids: list[str] | None = None
    as_of: dt.date | None = None
    notify: bool = True
    list_clean_up_to: int = CLEAN_LISTED


@workflow.defn(name="Reconciliation")
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconciliationReport:
        info = workflow.info()
        started = workflow.now()
        as_of = input.as_of or started.date()
        run_id = f"{info.workflow_id}/{info.run_id}"
        workflow_ids = await workflow.execute_activity_method(
            ReconciliationActivities.find_contracts,
            FindContracts(contract_ids=input.contract_ids),
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=RETRY,
            summary="contracts to reconcile",
        )
        batches = [workflow_ids[i : i + BATCH] for i in range(0, len(workflow_ids), BATCH)]
        results: list[ContractReconciliation] = []
        for i in range(0, len(batches), PARALLEL):
            done = await asyncio.gather(
                *(
                    workflow.execute_activity_method(
                        ReconciliationActivities.reconcile_batch,
                        ReconcileBatch(
                            run_id=run_id, as_of=as_of, workflow_ids=batch, notify=input.notify
                        ),
                        start_to_close_timeout=READ_TIMEOUT,
                        heartbeat_timeout=timedelta(minutes=2),
                        retry_policy=RETRY,
                        summary=f"reconcile {batch[0]}…" if len(batch) > 1 else batch[0],
                    )
                    for batch in batches[i : i + PARALLEL]
                )
            )
            for found in done:
                results += found
        listed = results
        if sum(1 for c in results if c.status == "Clean") > input.list_clean_up_to:
            listed = [c for c in results if c.status != "Clean"]
        report = ReconciliationReport(
            run_id=run_id,
            as_of=as_of,
            started=started,
            contracts=listed,
            clean_omitted=len(results) - len(listed),
        )
        await workflow.execute_activity_method(
            ReconciliationActivities.record_run,
            RecordRun(report=report, finished=workflow.now()),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RETRY,
            summary="record the run in the ledger",
        )
        # The mismatch gauge is read from the recorded run by every worker (ReconciliationGauge);
        # it was once set here, on this worker's meter only (no command: replays the same).
        workflow.set_current_details(
            f"as of {as_of}: {len(results)} contracts, {report.mismatches} mismatches "
            + ", ".join(f"{k} {n}" for k, n in report.by_kind().items() if n)
        )
        return report


# -- callers ------------------------------------------------------------------------------------


async def reconcile_contracts(
    client: Client,
    *,
    task_queue: str,
    contract_ids: list[str] | None = None,
    as_of: dt.date | None = None,
    notify: bool = True,
    workflow_id: str | None = None,
    list_clean_up_to: int = CLEAN_LISTED,
) -> ReconciliationReport:
    """Reconcile now and wait for the report (a worker must poll `task_queue`).

    `contract_ids` are opportunity ids, workflow ids or contract numbers; None reconciles
    every contract. Raises `UnknownContractError` before starting anything when one of them
    names no contract. Beyond `list_clean_up_to` clean contracts, the report lists only the
    others (`clean_omitted` counts the rest).
    """
    if contract_ids is not None:
        contract_ids = await resolve_contracts(client, contract_ids)
    return await client.execute_workflow(
        ReconciliationWorkflow.run,
        ReconcileInput(
            contract_ids=contract_ids,
            as_of=as_of,
            notify=notify,
            list_clean_up_to=list_clean_up_to,
        ),
        id=workflow_id or f"reconciliation-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
    )


_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def schedule_spec(every: str) -> ScheduleSpec:
    """`Q2C_RECONCILIATION_SCHEDULE`: a cron expression (`0 2 * * *`) or an interval (`6h`)."""
    match = _INTERVAL.match(every)
    if match:
        amount = int(match.group(1))
        if amount <= 0:
            raise ValueError(f"interval {every!r} must be positive")
        return ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(**{_UNITS[match.group(2)]: amount}))]
        )
    if len(every.split()) not in (5, 6, 7) and not every.strip().startswith("@"):
        raise ValueError(
            f"{every!r} is neither a cron expression ('0 2 * * *') nor an interval ('6h', '1d')"
        )
    return ScheduleSpec(cron_expressions=[every.strip()])


def _schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run,
            ReconcileInput(),
            id="reconciliation-scheduled",
            task_queue=settings.task_queue,
        ),
        spec=schedule_spec(settings.reconciliation_schedule),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconciliation_schedule(client: Client, settings: Settings) -> str:
    """Create the `reconciliation-daily` schedule, or update it to the current settings
    (keeping a pause an operator set). Returns "created" or "updated"."""
    return await ensure_schedule(client, SCHEDULE_ID, _schedule(settings))
