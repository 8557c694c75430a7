"""`q2c start`: bring one contract, or a whole book from Salesforce, under q2c.

Each contract is started with signal-with-start (`starter.control.start_contract`), so running
the command again reaches the contracts already running and starts nothing twice. The
opportunity is read from Salesforce first: only a closed-won one is started, always under its
18-character Id (a 15-character Id or a contract number would otherwise name another
workflow). `--from-salesforce "<SOQL WHERE clause>"` is the migration case: every opportunity
the clause selects, started with a concurrency limit behind a progress bar, then a summary of
started / already running / refused; any refusal makes the exit code 1. With
`--wait-activated` each of the `--concurrency` slots is held until its contract is activated
(the workflow's `activated` update answers), so a large book never has more contracts
activating at once than the slots: started all at once, thousands of activations would
outgrow the worker's sticky cache and be replayed from history over and over
(docs/PERFORMANCE.md, book start-up).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from adapters.errors import BusinessError
from adapters.salesforce import SalesforceClient, soql
from adapters.settings import Settings, get_settings
from domain.errors import InputError
from starter.app import OperationFailed, app, console
from starter.commands.common import (
    SALESFORCE_ID,
    TIMEOUT,
    connect,
    contract_ref,
    operation_errors,
)
from starter.control import StartRefused, TemporalUnavailable, start_contract

FIELDS = "Id, Name, StageName, IsWon, Q2C_External_Id__c"
SHOWN_REFUSALS = 20
QUERY_ERRORS = frozenset({"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "MALFORMED_ID"})
ACTIVATION_WAIT = 300.0  # seconds a slot waits for one contract's activation at most


@dataclass
class Tally:
    started: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    not_activated: list[str] = field(default_factory=list)  # --wait-activated gave up on these


def one_line(message: str) -> str:
    """Salesforce's query errors quote the query over several lines; keep what says why."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reason = next((i for i, line in enumerate(lines) if line.startswith("ERROR at")), 0)
    return " ".join(lines[reason:])


def _label(record: dict[str, Any]) -> str:
    number = record.get("Q2C_External_Id__c")
    return f"{record['Id']} ({number})" if number else str(record["Id"])


async def _query(settings: Settings, where: str, what: str) -> list[dict[str, Any]]:
    text = f"SELECT {FIELDS} FROM Opportunity WHERE {where} ORDER BY CloseDate, Id"
    async with SalesforceClient(settings) as salesforce:
        try:
            return await salesforce.query(text)
        except BusinessError as exc:
            if exc.code not in QUERY_ERRORS:
                raise
            raise InputError(
                f"{what}: Salesforce refused the query: {one_line(exc.message)}"
            ) from None


async def wait_activated(client: Client, workflow_id: str, timeout: float) -> bool:
    """Until the contract is activated (stage past Provisioning: Active, NeedsAttention…) or its
    run has closed; False when that did not happen within `timeout` seconds.

    One `activated` update, which the workflow answers when activation is over (the server
    holds the call meanwhile): no polling, which on a book of thousands would load the server.
    A busy server gives up waiting for the workflow to take the update after a while; the
    update is then sent again (a repeated one answers the same).
    """
    handle = client.get_workflow_handle(workflow_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        try:
            async with asyncio.timeout(remaining):
                await handle.execute_update("activated")
            return True
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            continue  # the loop checks the deadline
        except (RPCError, WorkflowUpdateFailedError):
            return True  # the run has closed meanwhile: nothing to wait for


async def _start_one(
    client: Client,
    settings: Settings,
    record: dict[str, Any],
    tally: Tally,
    wait: bool = False,
) -> None:
    label = _label(record)
    if not record.get("IsWon"):
        tally.refused.append((label, f"stage is {record.get('StageName')!r}, not Closed Won"))
        return
    try:
        outcome = await start_contract(
            client, settings.task_queue, str(record["Id"]), source="q2c start", timeout=TIMEOUT
        )
    except (StartRefused, TemporalUnavailable) as exc:
        tally.refused.append((label, str(exc)))
        return
    (tally.started if outcome.started else tally.running).append(outcome.workflow_id)
    activated = not (wait and outcome.started) or await wait_activated(
        client, outcome.workflow_id, ACTIVATION_WAIT
    )
    if not activated:
        tally.not_activated.append(outcome.workflow_id)


async def start_book(
    client: Client,
    settings: Settings,
    records: list[dict[str, Any]],
    concurrency: int,
    wait: bool = False,
) -> Tally:
    """Start every record's contract, at most `concurrency` at a time, with a progress bar;
    with `wait`, a slot is free again once its contract is activated."""
    tally = Tally()
    limit = asyncio.Semaphore(concurrency)
    columns = (
        TextColumn("starting contracts"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("start", total=len(records))

        async def one(record: dict[str, Any]) -> None:
            async with limit:
                await _start_one(client, settings, record, tally, wait)
            progress.advance(task)

        await asyncio.gather(*(one(r) for r in records))
    return tally


def _summary(tally: Tally) -> None:
    table = Table(title="q2c start", title_justify="left")
    table.add_column("Outcome")
    table.add_column("Contracts", justify="right")
    table.add_row("started", str(len(tally.started)))
    table.add_row("already running", str(len(tally.running)))
    table.add_row("refused", str(len(tally.refused)), style="red" if tally.refused else None)
    console.print(table)
    for label, reason in tally.refused[:SHOWN_REFUSALS]:
        console.print(f"  refused {label}: {reason}", highlight=False)
    if len(tally.refused) > SHOWN_REFUSALS:
        console.print(f"  … and {len(tally.refused) - SHOWN_REFUSALS} more refused")
    if tally.not_activated:
        console.print(
            f"  {len(tally.not_activated)} started contracts were not activated within "
            f"{ACTIVATION_WAIT:.0f}s (is a worker polling? see `q2c stuck`), e.g. "
            f"{tally.not_activated[0]}",
            highlight=False,
        )


async def _start(ref: str | None, where: str | None, concurrency: int, wait: bool) -> Tally:
    settings = get_settings()
    if where is not None:
        records = await _query(settings, where, "--from-salesforce")
    else:
        assert ref is not None
        column = "Id" if SALESFORCE_ID.match(ref) else "Q2C_External_Id__c"
        records = await _query(settings, soql(f"{column} = {{v}}", v=ref), "OPP-ID")
        if not records:
            raise InputError(f"no opportunity {ref!r} in Salesforce")
    client = await connect()
    if where is None:
        tally = Tally()
        await _start_one(client, settings, records[0], tally)
        return tally
    return await start_book(client, settings, records, concurrency, wait)


@app.command()
def start(
    opportunity: Annotated[
        str | None,
        typer.Argument(
            metavar="OPP-ID",
            help="Salesforce opportunity Id, or its contract number.",
            callback=contract_ref,
        ),
    ] = None,
    from_salesforce: Annotated[
        str | None,
        typer.Option(
            "--from-salesforce",
            metavar="WHERE",
            help="Start every opportunity this SOQL WHERE clause selects (migration), "
            'e.g. "IsWon = true AND CloseDate < 2026-01-01".',
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Contracts started at the same time.")
    ] = 8,
    wait_activated: Annotated[
        bool,
        typer.Option(
            "--wait-activated",
            help="With --from-salesforce: hold each concurrency slot until its contract is "
            "activated (for books larger than the worker's sticky cache).",
        ),
    ] = False,
) -> None:
    """Start a closed-won contract (safe to repeat), or every one a Salesforce query selects."""
    if (opportunity is None) == (from_salesforce is None):
        raise InputError("give either OPP-ID or --from-salesforce WHERE")
    if from_salesforce is not None and not from_salesforce.strip():
        raise InputError("--from-salesforce: the WHERE clause is empty")
    with operation_errors("Salesforce"):
        tally = asyncio.run(_start(opportunity, from_salesforce, concurrency, wait_activated))
    if from_salesforce is not None:
        _summary(tally)
        if tally.refused:
            raise OperationFailed(f"{len(tally.refused)} of the contracts were refused")
        return
    if tally.refused:
        label, reason = tally.refused[0]
        raise OperationFailed(f"{label}: {reason}")
    if tally.started:
        console.print(f"started {tally.started[0]}")
    else:
        console.print(f"{tally.running[0]} is already running; nothing started")
