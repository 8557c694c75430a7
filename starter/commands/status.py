"""`q2c status`, `q2c stuck`, `q2c report`: what a contract is doing, read from Temporal.

`status` asks the workflow (`status` query) and reads its search attributes (next billing
date); `stuck` is the visibility query `ContractStage = "NeedsAttention"`, each contract's
fix read from its workflow, and then the failed late payments (`LatePaymentWorkflow`, a payment
journal of an ended contract not posted: `WorkflowType = "LatePayment" AND ExecutionStatus =
"Failed"`, closed in the last 30 days, the latest run of each id only), each one's failure
read from its close event; `report` is the DESIGN.md §6 report of the live contract as of
today (`report` query). Nothing here changes a contract.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shlex
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)

from adapters.settings import get_settings
from domain.report import Report
from starter.app import OperationFailed, app, console
from starter.commands.common import (
    STUCK_QUERY,
    TIMEOUT,
    connect,
    contract_ref,
    operation_errors,
    resolve,
    stuck_link,
    ui_base,
    workflow_link,
)
from starter.commands.contracts import status_of
from starter.commands.schedule import documents_table
from starter.control import ContractNotFound, temporal_call
from workflows import search_attributes as sa
from workflows.contract import ContractWorkflow
from workflows.contract_models import ContractStatus
from workflows.late_payment import WORKFLOW_TYPE as LATE_PAYMENT

ContractArg = Annotated[
    str,
    typer.Argument(
        metavar="OPP-ID",
        help="Opportunity Id, workflow id or contract number.",
        callback=contract_ref,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output only.")]
STAGE_STYLE = {"Active": "green", "NeedsAttention": "bold red", "Cancelled": "yellow"}


def _money(value: Any, currency: str | None) -> str:
    return "-" if value is None else f"{value} {currency or ''}".strip()


# -- status --------------------------------------------------------------------------------


async def _status(ref: str) -> tuple[ContractStatus, dict[str, Any], str]:
    client = await connect()
    handle = await resolve(client, ref)
    async with temporal_call(f"describe {handle.id}", TIMEOUT):
        description = await handle.describe()
    status = await status_of(handle)
    attributes = description.typed_search_attributes
    next_billing = attributes.get(sa.NEXT_BILLING_DATE)
    extra = {
        "workflow_id": handle.id,
        "contract_number": attributes.get(sa.CONTRACT_ID),
        "next_billing_date": next_billing.date().isoformat() if next_billing else None,
        "web_ui": workflow_link(get_settings(), client.namespace, handle.id),
    }
    return status, extra, handle.id


def _render_status(status: ContractStatus, extra: dict[str, Any]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    number = f" ({extra['contract_number']})" if extra["contract_number"] else ""
    grid.add_row("Contract", f"{extra['workflow_id']}{number} · term {status.term}")
    grid.add_row("Stage", Text(status.stage, style=STAGE_STYLE.get(status.stage, "")))
    if status.attention_reason:
        grid.add_row("Attention", Text(status.attention_reason, style="bold red"))
        grid.add_row("Detail", status.attention_detail or "-")
    grid.add_row("Business date", str(status.business_date))
    grid.add_row("Next billing date", extra["next_billing_date"] or "-")
    grid.add_row("Billed to date", _money(status.billed_to_date, status.currency))
    grid.add_row("Recognized to date", _money(status.recognized_to_date, status.currency))
    grid.add_row("Deferred revenue", _money(status.deferred_revenue, status.currency))
    grid.add_row(
        "Posted", f"{status.documents_posted} documents, {status.journals_posted} journals"
    )
    if status.pending_messages:
        grid.add_row("Pending", f"{status.pending_messages} messages")
    grid.add_row("Web UI", extra["web_ui"])
    console.print(Panel(grid, title="q2c status", expand=False), highlight=False)


@app.command()
def status(contract: ContractArg, as_json: JsonFlag = False) -> None:
    """Stage, next billing date, billed / recognized / deferred, and why it needs attention."""
    with operation_errors("status"):
        current, extra, _ = asyncio.run(_status(contract))
    if as_json:
        typer.echo(json.dumps({**current.model_dump(mode="json"), **extra}, indent=2))
        return
    _render_status(current, extra)


# -- stuck ---------------------------------------------------------------------------------


async def _stuck_rows(client: Client) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    query = f'{STUCK_QUERY} AND ExecutionStatus = "Running"'
    async with temporal_call("list stuck contracts", TIMEOUT):
        async for found in client.list_workflows(query):
            attributes = found.typed_search_attributes
            rows.append(
                {
                    "workflow_id": found.id,
                    "contract_number": attributes.get(sa.CONTRACT_ID),
                    "customer": attributes.get(sa.CUSTOMER_ID),
                    "reason": attributes.get(sa.ATTENTION_REASON),
                    "web_ui": workflow_link(get_settings(), client.namespace, found.id),
                }
            )
    details = await asyncio.gather(
        *(
            status_of(client.get_workflow_handle_for(ContractWorkflow.run, r["workflow_id"]))
            for r in rows
        ),
        return_exceptions=True,
    )
    for row, detail in zip(rows, details, strict=True):
        if isinstance(detail, ContractStatus):
            row["reason"] = detail.attention_reason or row["reason"]
            row["detail"] = detail.attention_detail
    return rows


LATE_PAYMENTS_FAILED = f'WorkflowType = "{LATE_PAYMENT}" AND ExecutionStatus = "Failed"'
LATE_PAYMENT_DAYS = 30  # failed late payments closed this recently are listed
LATE_PAYMENT_LIMIT = 200  # failed runs read at most


def late_payments_query(now: dt.datetime, days: int = LATE_PAYMENT_DAYS) -> str:
    """Late payments that failed, closed in the last `days` days (visibility query)."""
    since = (now - dt.timedelta(days=days)).astimezone(dt.UTC)
    return f'{LATE_PAYMENTS_FAILED} AND CloseTime > "{since:%Y-%m-%dT%H:%M:%SZ}"'


def late_payment_fix(workflow_id: str, namespace: str) -> str:
    """The command that runs a failed late payment again, once its cause is fixed."""
    ns = "" if namespace == "default" else f" --namespace {shlex.quote(namespace)}"
    return (
        f"temporal workflow reset{ns} --workflow-id {shlex.quote(workflow_id)} "
        '--type FirstWorkflowTask --reason "cause fixed"'
    )


async def _late_payment_rows(client: Client) -> list[dict[str, Any]]:
    """Failed late payments, newest first: the latest run of each workflow id only (a failure
    since run again, by a redelivered webhook or a reset, is not listed)."""
    latest: dict[str, WorkflowExecution] = {}
    query = late_payments_query(dt.datetime.now(dt.UTC))
    async with temporal_call("list failed late payments", TIMEOUT):
        async for found in client.list_workflows(query, limit=LATE_PAYMENT_LIMIT):
            seen = latest.get(found.id)
            if seen is None or _closed(found) > _closed(seen):
                latest[found.id] = found
    calls = asyncio.Semaphore(16)  # Temporal calls at once

    async def row(execution: WorkflowExecution) -> dict[str, Any] | None:
        async with calls:
            return await _late_payment_row(client, execution)

    rows = await asyncio.gather(*(row(e) for e in latest.values()))
    listed = [row for row in rows if row is not None]
    return sorted(listed, key=lambda r: r["close_time"] or "", reverse=True)


def _closed(execution: WorkflowExecution) -> dt.datetime:
    return execution.close_time or dt.datetime.min.replace(tzinfo=dt.UTC)


async def _late_payment_row(client: Client, execution: WorkflowExecution) -> dict[str, Any] | None:
    contract, _, invoice = execution.id.rpartition(":payment:")
    try:
        async with temporal_call(f"describe {execution.id}", TIMEOUT):
            current = await client.get_workflow_handle(execution.id).describe()
    except ContractNotFound:
        return None  # gone since it was listed (retention)
    if current.run_id != execution.run_id or current.status != WorkflowExecutionStatus.FAILED:
        return None  # run again since: running, posted, or failed anew (listed on its own)
    failure = None
    try:
        async with temporal_call(f"failure of {execution.id}", TIMEOUT):
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).result(
                follow_runs=False
            )
    except WorkflowFailureError as exc:
        cause = exc.cause or exc
        failure = (getattr(cause, "message", None) or str(cause)).strip().splitlines()[0]
    closed = execution.close_time
    return {
        "workflow_id": execution.id,
        "run_id": execution.run_id,
        "contract": contract or None,
        "invoice_id": invoice if contract else None,
        "failure": failure,
        "close_time": closed.astimezone(dt.UTC).isoformat() if closed else None,
        "fix": late_payment_fix(execution.id, client.namespace),
        "web_ui": workflow_link(get_settings(), client.namespace, execution.id),
    }


def late_payments_link(namespace: str) -> str:
    """The Web UI's workflow list of failed late payments."""
    base = ui_base(get_settings())
    return f"{base}/namespaces/{namespace}/workflows?query={quote(LATE_PAYMENTS_FAILED)}"


async def _stuck() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    client = await connect()
    rows = await _stuck_rows(client)
    late = await _late_payment_rows(client)
    return rows, late, client.namespace


def stuck_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Contracts that need attention", title_justify="left")
    table.add_column("Contract")
    table.add_column("Customer")
    table.add_column("Reason", style="red")
    table.add_column("Detail / Web UI", overflow="fold")
    for row in rows:
        number = f"\n{row['contract_number']}" if row.get("contract_number") else ""
        table.add_row(
            row["workflow_id"] + number,
            row.get("customer") or "-",
            row.get("reason") or "-",
            f"{row.get('detail') or ''}\n{row['web_ui']}".strip(),
        )
    return table


def late_payments_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        title=f"Late payments that failed (last {LATE_PAYMENT_DAYS} days)", title_justify="left"
    )
    table.add_column("Workflow / contract", overflow="fold")
    table.add_column("Invoice")
    table.add_column("Failure", style="red", overflow="fold")
    table.add_column("Closed (UTC)")
    for row in rows:
        closed = row["close_time"][:19].replace("T", " ") if row.get("close_time") else "-"
        table.add_row(  # as Text: a vendor's message is not Rich markup
            Text(f"{row['workflow_id']}\n{row.get('contract') or '-'}"),
            Text(row.get("invoice_id") or "-"),
            Text(row.get("failure") or "-"),
            closed,
        )
    return table


@app.command()
def stuck(as_json: JsonFlag = False) -> None:
    """Every contract parked in NeedsAttention, with its reason and Web UI link, and every late
    payment (of an ended contract) that failed in the last 30 days, with its fix."""
    with operation_errors("stuck"):
        rows, late, namespace = asyncio.run(_stuck())
    settings = get_settings()
    link = stuck_link(settings, namespace)
    late_link = late_payments_link(namespace)
    if as_json:
        answer = {
            "contracts": rows,
            "web_ui": link,
            "late_payments": late,
            "late_payments_web_ui": late_link,
        }
        typer.echo(json.dumps(answer, indent=2))
        return
    if not rows:
        console.print("No contract needs attention.")
    else:
        console.print(stuck_table(rows), highlight=False)
    console.print(f"Web UI: {link}", highlight=False, soft_wrap=True)
    if not late:
        console.print(f"No late payment failed in the last {LATE_PAYMENT_DAYS} days.")
        return
    console.print()
    console.print(late_payments_table(late), highlight=False)
    console.print(
        "Fix the cause (the failure says which call, and the vendor's answer), then resend the "
        "invoice.paid event from billing (a new event id starts the payment again), or reset "
        "the workflow:",
        highlight=False,
    )
    for row in late:
        console.print(f"  {row['fix']}", highlight=False, soft_wrap=True, markup=False)
    console.print(f"Web UI: {late_link}", highlight=False, soft_wrap=True)


# -- report --------------------------------------------------------------------------------


async def _report(ref: str) -> Report:
    handle = await resolve(await connect(), ref)
    try:
        async with temporal_call(f"report of {handle.id}", TIMEOUT):
            return await handle.query(ContractWorkflow.report)
    except WorkflowQueryFailedError as exc:
        raise OperationFailed(f"{handle.id}: no report yet ({exc.message})") from None


def _render_report(report: Report) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    reason = f" ({report.attention_reason})" if report.attention_reason else ""
    for label, value in (
        ("Contract", report.contract_id),
        ("As of", str(report.as_of)),
        ("Status", report.status + reason),
        ("Transaction price", f"{report.transaction_price} {report.currency}"),
        ("Billed to date", report.billed_to_date),
        ("Recognized to date", report.recognized_to_date),
        ("Deferred revenue", report.deferred_revenue),
    ):
        grid.add_row(label, value)
    console.print(Panel(grid, title="q2c report", expand=False), highlight=False)
    obligations = Table(title="Performance obligations", title_justify="left")
    for column in ("Obligation", "Treatment", "Allocated"):
        obligations.add_column(column, justify="right" if column == "Allocated" else "left")
    for o in report.obligations:
        obligations.add_row(o.line_id, o.treatment, o.allocated)
    console.print(obligations)
    console.print(documents_table(report, f"Documents to {report.as_of}"))
    revenue = Table(title="Revenue by month", title_justify="left")
    revenue.add_column("Month")
    revenue.add_column("Revenue", justify="right")
    for month, amount in report.revenue_by_month.items():
        revenue.add_row(month, amount, style="dim" if month > report.as_of.isoformat() else None)
    console.print(revenue)


@app.command()
def report(contract: ContractArg, as_json: JsonFlag = False) -> None:
    """The DESIGN.md §6 report of a live contract, as of today."""
    with operation_errors("report"):
        result = asyncio.run(_report(contract))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    _render_report(result)
