"""`q2c schedule SCENARIO.json`: the contract report of DESIGN.md §6, computed by `domain/`.

Pure computation, no Temporal and no sandbox: the same functions the workflow runs. `--json`
prints exactly the §6 report; otherwise a readable view: the contract, its obligations, its
documents and a monthly revenue waterfall.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from domain.errors import InputError
from domain.inputs import load_scenario
from domain.report import Report, build_report
from domain.schedule import Schedule, build_schedule
from starter.app import app, console


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a scenario file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of: must be a date YYYY-MM-DD (got {value!r})") from None


@app.command("schedule")
def schedule_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (DESIGN.md §6).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the §6 report as JSON, nothing else.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Report as of this date instead (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Compute a scenario's billing and revenue schedule and print its report."""
    parsed = load_scenario(_read(scenario), source=str(scenario))
    day = _parse_date(as_of) or parsed.as_of
    schedule = build_schedule(parsed.contract, parsed.amendments, parsed.usage)
    report = build_report(schedule, day)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return
    render(schedule, report)


def render(schedule: Schedule, report: Report) -> None:
    """The readable view of a report (Rich)."""
    contract = schedule.contract
    status_style = {
        "Active": "green",
        "Cancelled": "yellow",
        "Expired": "dim",
        "NeedsAttention": "bold red",
    }[report.status]
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row(
        "Contract", f"{contract.id}  ({contract.customer.name}, {contract.customer.id})"
    )
    summary.add_row("Legal entity", contract.legal_entity or "-")
    summary.add_row(
        "Term",
        f"{contract.start_date} → {schedule.end_date}"
        + (f"  (booked to {contract.end_date})" if schedule.end_date != contract.end_date else ""),
    )
    summary.add_row("Billing", f"{contract.billing_frequency}, in {report.currency}")
    summary.add_row("As of", str(report.as_of))
    summary.add_row("Status", Text(report.status, style=status_style))
    for a in schedule.attention:
        summary.add_row("Attention", Text(f"{a.reason}: {a.detail}", style="red"))
    summary.add_row("Transaction price", report.transaction_price)
    summary.add_row("Billed to date", report.billed_to_date)
    summary.add_row("Recognized to date", report.recognized_to_date)
    deferred = report.deferred_revenue
    summary.add_row(
        "Deferred revenue",
        Text(f"{deferred}" + ("  (contract asset)" if deferred.startswith("-") else "")),
    )
    console.print(Panel(summary, title="q2c schedule", expand=False))

    obligations = Table(title="Performance obligations", title_justify="left")
    obligations.add_column("Obligation")
    obligations.add_column("Product")
    obligations.add_column("Kind")
    obligations.add_column("Treatment")
    obligations.add_column("Allocated", justify="right")
    for o, r in zip(schedule.obligations, report.obligations, strict=True):
        obligations.add_row(o.id, o.product_code, o.kind, r.treatment, r.allocated)
    console.print(obligations)

    console.print(documents_table(report, f"Documents to {report.as_of}"))

    billed_by_month: dict[str, int] = {}
    for doc in schedule.docs:
        d = date.fromordinal(doc.day)
        key = f"{d.year:04d}-{d.month:02d}"
        billed_by_month[key] = billed_by_month.get(key, 0) + doc.total
    revenue = schedule.revenue_by_month_minor()
    waterfall = Table(
        title="Revenue waterfall (months after as_of are the schedule ahead)",
        title_justify="left",
    )
    waterfall.add_column("Month")
    waterfall.add_column("Billed", justify="right")
    waterfall.add_column("Recognized", justify="right")
    waterfall.add_column("Billed, cumulative", justify="right")
    waterfall.add_column("Recognized, cumulative", justify="right")
    waterfall.add_column("Deferred at month end", justify="right")
    as_of_month = f"{report.as_of.year:04d}-{report.as_of.month:02d}"
    billed_cum = recognized_cum = 0
    for month in sorted(set(revenue) | set(billed_by_month)):
        billed = billed_by_month.get(month, 0)
        recognized = revenue.get(month, 0)
        billed_cum += billed
        recognized_cum += recognized
        deferred_minor = billed_cum - recognized_cum
        waterfall.add_row(
            month,
            schedule.text(billed),
            schedule.text(recognized),
            schedule.text(billed_cum),
            schedule.text(recognized_cum),
            Text(schedule.text(deferred_minor), style="red" if deferred_minor < 0 else ""),
            style="dim" if month > as_of_month else None,
        )
    console.print(waterfall)


def documents_table(report: Report, title: str) -> Table:
    """The invoices and credit notes of a report (credit notes shown negative, in red)."""
    invoices = Table(title=title, title_justify="left")
    invoices.add_column("Number")
    invoices.add_column("Kind")
    invoices.add_column("Date")
    invoices.add_column("Period")
    invoices.add_column("Total", justify="right")
    for inv in report.invoices:
        credit = inv.kind == "credit_note"
        invoices.add_row(
            inv.number,
            inv.kind.replace("_", " "),
            str(inv.date),
            f"{inv.period_start} → {inv.period_end}",
            Text(("-" if credit else "") + inv.total, style="red" if credit else ""),
        )
    if not report.invoices:
        invoices.add_row("-", "no documents yet", "", "", "")
    return invoices
