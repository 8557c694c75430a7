"""`q2c reconcile`: the three-way reconciliation of DESIGN.md §5, now; and its Schedule.

`q2c reconcile [--contract ID]... [--as-of DATE] [--json] [--csv FILE]` runs
`ReconciliationWorkflow` (a worker must poll the task queue) and prints every difference:
the contract, the check (bookings, billing_vs_ar, revenue, deferred), the amount (actual −
expected, in the currency's minor units), both sides and the records involved. Mismatches are
findings, not failures: the exit code is 0 whatever the books say; 2 for an unknown contract or
a bad date, 1 when the run could not be done.

`q2c reconcile schedule` creates the Temporal Schedule `reconciliation-daily` or updates it to
`Q2C_RECONCILIATION_SCHEDULE`; `q2c reconcile history` lists the runs recorded in the ledger.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from temporalio.client import WorkflowFailureError

from adapters.database import make_engine
from adapters.reconciliation_store import ReconciliationStore
from adapters.settings import Settings, get_settings
from domain.errors import InputError
from domain.reconciliation import ReconciliationReport
from starter.app import OperationFailed, app, console
from starter.commands.common import (
    TIMEOUT,
    connect,
    contract_refs,
    operation_errors,
    resolve,
    ui_base,
)
from starter.control import temporal_call
from workflows.reconciliation import (
    SCHEDULE_ID,
    UnknownContractError,
    ensure_reconciliation_schedule,
    reconcile_contracts,
    schedule_spec,
)

reconcile_app = typer.Typer(
    name="reconcile",
    help="Three-way reconciliation: Salesforce bookings, billing, and the ERP's AR, revenue "
    "and deferred revenue, per contract.",
)
app.add_typer(reconcile_app)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output only.")]
CSV_FIELDS = [
    "run_id",
    "as_of",
    "workflow_id",
    "opportunity_id",
    "contract_id",
    "currency",
    "status",
    "check",
    "amount",
    "expected",
    "actual",
    "records",
    "detail",
]
STATUS_STYLE = {"Clean": "green", "Mismatch": "bold red", "Skipped": "yellow"}


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from None


async def _run(
    settings: Settings, refs: list[str], as_of: dt.date | None, wait: float
) -> ReconciliationReport:
    client = await connect()
    workflow_ids: list[str] | None = None
    if refs:
        workflow_ids = [(await resolve(client, ref)).id for ref in refs]
    try:
        async with asyncio.timeout(wait):
            async with temporal_call("reconcile", wait + TIMEOUT):
                return await reconcile_contracts(
                    client,
                    task_queue=settings.task_queue,
                    contract_ids=workflow_ids,
                    as_of=as_of,
                )
    except TimeoutError:
        raise OperationFailed(
            f"the reconciliation did not finish within {wait:g}s (is a worker polling "
            f"{settings.task_queue!r}?)"
        ) from None
    except UnknownContractError as exc:
        raise InputError(str(exc)) from None
    except WorkflowFailureError as exc:
        cause = getattr(exc.cause, "message", None) or str(exc.cause)
        raise OperationFailed(f"the reconciliation failed: {cause}") from None


def rows(report: ReconciliationReport) -> list[dict[str, str]]:
    """One row per difference, and one per contract without any (its status)."""
    out: list[dict[str, str]] = []
    for contract in report.contracts:
        base = {
            "run_id": report.run_id,
            "as_of": report.as_of.isoformat(),
            "workflow_id": contract.workflow_id,
            "opportunity_id": contract.opportunity_id,
            "contract_id": contract.contract_id,
            "currency": contract.currency,
            "status": contract.status,
        }
        if not contract.differences:
            empty = dict.fromkeys(("check", "amount", "expected", "actual", "records"), "")
            out.append({**base, **empty, "detail": contract.note})
        for d in contract.differences:
            out.append(
                {
                    **base,
                    "check": d.kind,
                    "amount": str(d.amount),
                    "expected": str(d.expected),
                    "actual": str(d.actual),
                    "records": "; ".join(d.records),
                    "detail": d.detail,
                }
            )
    return out


def write_csv(report: ReconciliationReport, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows(report))


def render(report: ReconciliationReport) -> None:
    table = Table(
        title=f"Reconciliation as of {report.as_of} ({report.run_id})", title_justify="left"
    )
    table.add_column("Contract")
    table.add_column("Status")
    table.add_column("Check")
    table.add_column("Amount", justify="right")
    table.add_column("Expected", justify="right")
    table.add_column("Actual", justify="right")
    table.add_column("Records", overflow="fold")
    for contract in report.contracts:
        name = contract.contract_id
        if contract.opportunity_id != contract.contract_id:
            name = f"{contract.contract_id}\n{contract.opportunity_id}"
        status = Text(contract.status, style=STATUS_STYLE[contract.status])
        if not contract.differences:
            table.add_row(name, status, "-", "", "", "", contract.note or "")
        for n, d in enumerate(contract.differences):
            table.add_row(
                name if n == 0 else "",
                status if n == 0 else "",
                d.kind,
                f"{d.amount} {contract.currency}",
                str(d.expected),
                str(d.actual),
                "\n".join(d.records),
            )
    console.print(table)
    counts = report.by_kind()
    skipped = sum(1 for c in report.contracts if c.status == "Skipped")
    n, m = report.compared, report.mismatches
    summary = f"{n} contract{'s' * (n != 1)}, {m} mismatch{'es' * (m != 1)}"
    if report.mismatches:
        summary += " (" + ", ".join(f"{k} {n}" for k, n in counts.items() if n) + ")"
    if skipped:
        summary += f", {skipped} skipped"
    if report.clean_omitted:
        summary += f"; {report.clean_omitted} clean contracts not listed"
    console.print(summary, highlight=False)


@reconcile_app.callback(invoke_without_command=True)
def reconcile(
    ctx: typer.Context,
    contracts: Annotated[
        list[str] | None,
        typer.Option(
            "--contract",
            metavar="ID",
            help="Only this contract (opportunity Id, workflow id or contract number; "
            "repeatable). Default: every contract.",
            callback=contract_refs,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="DATE", help="Business date (YYYY-MM-DD); default today."),
    ] = None,
    as_json: JsonFlag = False,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", metavar="FILE", help="Also write every row to this CSV file."),
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", min=1, help="Seconds to wait for the run to finish.")
    ] = 600.0,
) -> None:
    """Reconcile now: every difference with its amount and the records involved."""
    if ctx.invoked_subcommand is not None:
        return
    day = parse_date(as_of)
    refs = [ref.strip() for ref in contracts or []]
    if any(not ref for ref in refs):
        raise InputError("--contract needs an id")
    if csv_file is not None and csv_file.is_dir():
        raise InputError(f"--csv {csv_file} is a directory")
    settings = get_settings()
    with operation_errors("reconcile"):
        report = asyncio.run(_run(settings, refs, day, wait))
    if csv_file is not None:
        write_csv(report, csv_file)
    if as_json:
        body: dict[str, Any] = {
            **report.model_dump(mode="json"),
            "compared": report.compared,
            "mismatches": report.mismatches,
            "by_check": report.by_kind(),
        }
        typer.echo(json.dumps(body, indent=2))
    else:
        render(report)
        if csv_file is not None:
            console.print(f"CSV written to {csv_file}", highlight=False)


# -- schedule ------------------------------------------------------------------------------


async def _schedule(settings: Settings) -> tuple[str, str]:
    client = await connect()
    async with temporal_call(f"create or update the Schedule {SCHEDULE_ID}", TIMEOUT):
        outcome = await ensure_reconciliation_schedule(client, settings)
    return outcome, client.namespace


@reconcile_app.command("schedule")
def schedule(
    as_json: JsonFlag = False,
    every: Annotated[
        str | None,
        typer.Option(
            "--every",
            metavar="CRON|INTERVAL",
            help="Cron in UTC ('0 2 * * *') or an interval ('6h'); default: "
            "Q2C_RECONCILIATION_SCHEDULE.",
        ),
    ] = None,
) -> None:
    """Create the Temporal Schedule `reconciliation-daily`, or update it to the settings."""
    settings = get_settings()
    if every is not None:
        settings = settings.model_copy(update={"reconciliation_schedule": every})
    try:
        schedule_spec(settings.reconciliation_schedule)
    except ValueError as exc:
        raise InputError(f"Q2C_RECONCILIATION_SCHEDULE / --every: {exc}") from None
    with operation_errors("reconcile schedule"):
        outcome, namespace = asyncio.run(_schedule(settings))
    link = f"{ui_base(settings)}/namespaces/{namespace}/schedules/{SCHEDULE_ID}"
    if as_json:
        body = {
            "schedule_id": SCHEDULE_ID,
            "outcome": outcome,
            "every": settings.reconciliation_schedule,
            "task_queue": settings.task_queue,
            "web_ui": link,
        }
        typer.echo(json.dumps(body, indent=2))
        return
    console.print(
        f"Schedule {SCHEDULE_ID} {outcome}: reconciliation at "
        f"'{settings.reconciliation_schedule}' on task queue {settings.task_queue!r}",
        highlight=False,
    )
    console.print(f"Web UI: {link}", highlight=False)


# -- history -------------------------------------------------------------------------------


@reconcile_app.command("history")
def history(
    as_json: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
) -> None:
    """The latest reconciliation runs recorded in the ledger."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        store = ReconciliationStore(engine)
        store.create_tables()
        runs = store.runs(limit)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([run.model_dump(mode="json") for run in runs], indent=2))
        return
    table = Table(title="Reconciliation runs", title_justify="left")
    for column in ("Run", "As of", "Started", "Contracts", "Mismatches"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.run_id,
            run.as_of.isoformat(),
            run.started.strftime("%Y-%m-%d %H:%M:%S UTC"),
            str(run.contracts),
            Text(str(run.mismatches), style="bold red" if run.mismatches else "green"),
        )
    console.print(table)
