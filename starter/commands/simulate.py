"""`q2c simulate SCENARIO.json`: run a scenario through the real workflow, time-skipped."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from domain.inputs import load_scenario
from domain.report import Report
from starter.app import OperationFailed, app, console
from starter.commands.schedule import _read, documents_table
from starter.simulate import SimulationError, run_scenario


def render_report(report: Report) -> None:
    """A readable view of a report read back from the systems."""
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for label, value in (
        ("Contract", report.contract_id),
        ("As of", str(report.as_of)),
        (
            "Status",
            report.status + (f" ({report.attention_reason})" if report.attention_reason else ""),
        ),
        ("Transaction price", f"{report.transaction_price} {report.currency}"),
        ("Billed to date", report.billed_to_date),
        ("Recognized to date", report.recognized_to_date),
        ("Deferred revenue", report.deferred_revenue),
    ):
        summary.add_row(label, value)
    console.print(summary)
    console.print(documents_table(report, f"Documents in billing to {report.as_of}"))
    revenue = Table(title="Revenue by month (ERP revenue schedule)", title_justify="left")
    revenue.add_column("Month")
    revenue.add_column("Revenue", justify="right")
    for month, amount in report.revenue_by_month.items():
        revenue.add_row(month, amount)
    console.print(revenue)


@app.command("simulate")
def simulate_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (DESIGN.md §6).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the §6 report as JSON, nothing else.")
    ] = False,
) -> None:
    """Run a scenario through the real ContractWorkflow on a time-skipping server and sandbox."""
    text = _read(scenario)
    parsed = load_scenario(text, source=str(scenario))
    raw: dict[str, Any] = json.loads(text)
    try:
        report = asyncio.run(run_scenario(parsed, raw))
    except SimulationError as exc:
        raise OperationFailed(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return
    render_report(report)
