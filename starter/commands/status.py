"""`q2c status`, `q2c stuck`, `q2c report`: what a contract is doing, read from Temporal.

`status` asks the workflow (`status` query) and reads its search attributes (next billing
date); `stuck` is the visibility query `ContractStage = "NeedsAttention"`, each contract's
fix read from its workflow; `report` is the DESIGN.md §6 report of the live contract as of
today (`report` query). Nothing here changes a contract.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowQueryFailedError

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
    workflow_link,
)
from starter.commands.contracts import status_of
from starter.commands.schedule import documents_table
from starter.control import temporal_call
from workflows import search_attributes as sa
from workflows.contract import ContractWorkflow
from workflows.contract_models import ContractStatus

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


async def _stuck() -> tuple[list[dict[str, Any]], str]:
    client = await connect()
    rows = await _stuck_rows(client)
    return rows, stuck_link(get_settings(), client.namespace)


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


@app.command()
def stuck(as_json: JsonFlag = False) -> None:
    """Every contract parked in NeedsAttention, with its reason and Web UI link."""
    with operation_errors("stuck"):
        rows, link = asyncio.run(_stuck())
    if as_json:
        typer.echo(json.dumps({"contracts": rows, "web_ui": link}, indent=2))
        return
    if not rows:
        console.print("No contract needs attention.")
    else:
        console.print(stuck_table(rows), highlight=False)
    console.print(f"Web UI: {link}", highlight=False, soft_wrap=True)


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
