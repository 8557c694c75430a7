"""`q2c catalog sync` and `q2c catalog schedule`: the Salesforce catalog in billing and the ERP.

`sync` runs `CatalogSyncWorkflow` now (workflow id `catalog-sync`; a second `sync` while one
runs attaches to it and prints its result) and prints what it did per product — created,
updated, unchanged, unmappable (with the reason), failed, or retired (deactivated in Salesforce:
billing prices archived, ERP item inactive) — and the contracts parked for a missing mapping
that it retried. The counts cover the whole catalog; the table lists at most the result's
`detail_limit` products (those that need attention first) and says how many more there are.
Exit code 1 when a product failed (a vendor stayed down, or
Salesforce refused the write-back; the next run tries again) or the sync could not run (no
worker polls the task queue, Temporal does not answer), 2 for bad input; unmappable products
are reported, not an error: fixing them is a catalog admin's job in Salesforce.

`schedule` creates the Temporal Schedule `catalog-sync` or updates it to the settings.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError

from activities.catalog_io import CatalogSyncInput, CatalogSyncResult
from adapters.salesforce import SalesforceClient, soql_literal
from adapters.settings import Settings, get_settings
from domain.errors import InputError
from starter.app import OperationFailed, app, console
from starter.catalog import SCHEDULE_ID, ensure_catalog_schedule, start_catalog_sync
from starter.commands.common import TIMEOUT, connect, operation_errors, ui_base, workflow_link
from starter.control import temporal_call

catalog_app = typer.Typer(
    name="catalog",
    help="Map Salesforce products and price books to billing prices and ERP items.",
    no_args_is_help=True,
)
app.add_typer(catalog_app)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output only.")]
OUTCOME_STYLE = {
    "created": "green",
    "updated": "cyan",
    "unchanged": "dim",
    "unmappable": "bold yellow",
    "failed": "bold red",
    "retired": "magenta",
}


# -- sync ----------------------------------------------------------------------------------


async def _product_ids(settings: Settings, codes: list[str]) -> list[str]:
    """The Product2 Ids of the codes asked for; an unknown code is an input error."""
    wanted = list(dict.fromkeys(codes))
    text = (
        "SELECT Id, ProductCode, IsActive FROM Product2 WHERE ProductCode IN ("
        + ", ".join(soql_literal(code) for code in wanted)
        + ")"
    )
    async with SalesforceClient(settings) as salesforce:
        records = await salesforce.query(text)
    found: dict[str, list[str]] = {}
    inactive: set[str] = set()
    for record in records:
        if record.get("IsActive"):
            found.setdefault(str(record["ProductCode"]), []).append(str(record["Id"]))
        else:
            inactive.add(str(record["ProductCode"]))
    unknown = [code for code in wanted if code not in found and code not in inactive]
    if unknown:
        raise InputError(f"no Product2 in Salesforce with ProductCode {', '.join(unknown)}")
    off = [code for code in wanted if code not in found]
    if off:
        raise InputError(
            f"Product2 {', '.join(off)} is inactive in Salesforce (only active products are synced)"
        )
    return [product_id for code in wanted for product_id in found[code]]


async def _sync(
    codes: list[str], retry_parked: bool, wait: float
) -> tuple[CatalogSyncResult, dict[str, Any]]:
    settings = get_settings()
    product_ids = await _product_ids(settings, codes) if codes else None
    client = await connect()
    async with temporal_call(f"describe task queue {settings.task_queue}", TIMEOUT):
        polled = await _polled(client, settings.task_queue)
    if not polled:
        raise OperationFailed(
            f"no worker polls task queue {settings.task_queue!r}: start `q2c worker` "
            "(or `q2c dev`), then sync again"
        )
    request = CatalogSyncInput(product_ids=product_ids, retry_parked=retry_parked)
    async with temporal_call("start the catalog sync", TIMEOUT):
        handle, started = await start_catalog_sync(client, settings, request)
    link = workflow_link(settings, client.namespace, handle.id)
    try:
        async with asyncio.timeout(wait):  # outside: temporal_call's own timeout means "down"
            async with temporal_call(f"wait for {handle.id}", wait + TIMEOUT):
                result = await handle.result()
    except TimeoutError:
        raise OperationFailed(
            f"catalog sync {handle.id} still running after {wait:g}s; follow it at {link}"
        ) from None
    except WorkflowFailureError as exc:
        cause = exc.cause.message if hasattr(exc.cause, "message") else str(exc.cause)
        raise OperationFailed(f"catalog sync {handle.id} failed: {cause}") from None
    extra = {
        "workflow_id": handle.id,
        "run_id": handle.result_run_id,
        "attached": not started,
        "web_ui": link,
    }
    return result, extra


async def _polled(client: Client, task_queue: str) -> bool:
    """Whether Temporal has seen a worker poll the queue for activities lately."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return bool(response.pollers)


def _details(changes: list[str], reason: str | None) -> str:
    if reason:
        return reason
    return "; ".join(changes) if changes else "-"


def _render_sync(result: CatalogSyncResult, extra: dict[str, Any]) -> None:
    if extra["attached"]:
        console.print("A catalog sync was already running: this is its result.")
    table = Table(title=f"Catalog sync ({extra['workflow_id']})", title_justify="left")
    table.add_column("Product")
    table.add_column("Name")
    table.add_column("Result")
    table.add_column("Details / reason", overflow="fold")
    for product in result.products:
        table.add_row(
            product.code or product.product_id,
            product.name,
            Text(product.outcome, style=OUTCOME_STYLE[product.outcome]),
            _details(product.changes, product.reason),
        )
    console.print(table)
    counts = result.counts()
    console.print(" · ".join(f"{n} {outcome}" for outcome, n in counts.items()), highlight=False)
    if result.not_listed:
        console.print(
            f"{result.not_listed} more product(s) not listed (the counts cover them; "
            "products that need attention are listed first)",
            highlight=False,
        )
    if result.contracts:
        contracts = Table(
            title="Contracts parked for missing_product_mapping", title_justify="left"
        )
        contracts.add_column("Contract")
        contracts.add_column("Result")
        for contract in result.contracts:
            contracts.add_row(
                contract.workflow_id,
                Text("retry sent", style="green")
                if contract.retried
                else Text(f"still waiting on {', '.join(contract.waiting_on)}", style="yellow"),
            )
        console.print(contracts)
    else:
        console.print("No contract was parked for a missing product mapping.")
    console.print(f"Web UI: {extra['web_ui']}", highlight=False)


@catalog_app.command("sync")
def sync(
    as_json: JsonFlag = False,
    products: Annotated[
        list[str] | None,
        typer.Option(
            "--product",
            metavar="CODE",
            help="Only this ProductCode (repeatable); default: every active product.",
        ),
    ] = None,
    no_retry: Annotated[
        bool,
        typer.Option("--no-retry", help="Do not retry contracts parked for a missing mapping."),
    ] = False,
    wait: Annotated[
        float, typer.Option("--wait", min=1, help="Seconds to wait for the sync to finish.")
    ] = 600.0,
) -> None:
    """Create or update billing products, prices and ERP items from Salesforce, now."""
    codes = [code.strip() for code in products or []]
    if any(not code for code in codes):
        raise InputError("--product needs a ProductCode")
    with operation_errors("catalog sync"):
        result, extra = asyncio.run(_sync(codes, not no_retry, wait))
    if as_json:
        body = {**extra, "counts": result.counts(), **result.model_dump(mode="json")}
        typer.echo(json.dumps(body, indent=2))
    else:
        _render_sync(result, extra)
    failed = [p.code or p.product_id for p in result.products if p.outcome == "failed"]
    more = result.counts()["failed"] - len(failed)
    if failed or more:
        listed = ", ".join(failed) + (f" and {more} more" if more else "")
        raise OperationFailed(f"{len(failed) + more} product(s) failed: {listed}")


# -- schedule ------------------------------------------------------------------------------


async def _schedule(settings: Settings) -> tuple[str, str]:
    client = await connect()
    async with temporal_call(f"create or update the Schedule {SCHEDULE_ID}", TIMEOUT):
        outcome = await ensure_catalog_schedule(client, settings)
    return outcome, client.namespace


@catalog_app.command("schedule")
def schedule(
    as_json: JsonFlag = False,
    every: Annotated[
        int | None,
        typer.Option(
            "--every",
            min=60,
            metavar="SECONDS",
            help="Seconds between runs (default: Q2C_CATALOG_SYNC_INTERVAL_SECONDS).",
        ),
    ] = None,
) -> None:
    """Create the Temporal Schedule `catalog-sync`, or update it to the settings."""
    settings = get_settings()
    if every is not None:
        settings = settings.model_copy(update={"catalog_sync_interval_seconds": every})
    with operation_errors("catalog schedule"):
        outcome, namespace = asyncio.run(_schedule(settings))
    link = f"{ui_base(settings)}/namespaces/{namespace}/schedules/{SCHEDULE_ID}"
    seconds = settings.catalog_sync_interval_seconds
    if as_json:
        body = {
            "schedule_id": SCHEDULE_ID,
            "outcome": outcome,
            "every_seconds": seconds,
            "task_queue": settings.task_queue,
            "web_ui": link,
        }
        typer.echo(json.dumps(body, indent=2))
        return
    console.print(
        f"Schedule {SCHEDULE_ID} {outcome}: a catalog sync every {seconds} s "
        f"on task queue {settings.task_queue!r} (overlapping runs skipped)",
        highlight=False,
    )
    console.print(f"Web UI: {link}", highlight=False)
