"""Catalog sync from the outside: run it now, keep its Schedule, and map the demo's products.

- `run_catalog_sync` starts `CatalogSyncWorkflow` as `catalog-sync` (or attaches to the run
  already going) and waits for its result: what `q2c catalog sync` prints.
- `ensure_catalog_schedule` creates the Temporal Schedule `catalog-sync` (every
  `Q2C_CATALOG_SYNC_INTERVAL_SECONDS`, overlaps skipped) or updates it to the settings; called
  by `q2c catalog schedule` and `q2c dev`.
- `map_products` is what `q2c demo` and the CLI tests use to map a few products at once
  without Temporal: it sets each product's name and kind on `Product2` (the demo plays the
  catalog admin) and then runs the catalog sync's own steps for just those products.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from activities.catalog import CatalogActivities
from activities.catalog_io import CatalogSyncInput, CatalogSyncResult
from adapters.billing import BillingAdapter
from adapters.erp import ErpClient
from adapters.http import make_http_client
from adapters.salesforce import SalesforceClient
from adapters.settings import Settings
from starter.control import started_by
from workflows.catalog_sync import WORKFLOW_ID, CatalogSyncWorkflow
from workflows.schedules import ScheduleOutcome, ensure_schedule

SCHEDULE_ID = "catalog-sync"
RUNNING_QUERY = 'WorkflowType = "CatalogSync" AND ExecutionStatus = "Running"'


@dataclass(frozen=True)
class Product:
    """A product of the catalog with its list price (= SSP) in each currency it is sold in."""

    code: str
    name: str
    kind: str  # subscription, one_time, usage
    prices: Mapping[str, Decimal]

    def price(self, currency: str) -> Decimal:
        return self.prices[currency]


class MappingFailed(Exception):
    """A product that `map_products` was asked to map could not be (the reason says why)."""


async def map_products(
    settings: Settings, products: Sequence[Product], product_ids: Mapping[str, str]
) -> None:
    """Map each product (by code → Salesforce Product2 Id) to billing and the ERP."""
    async with BillingAdapter(settings) as billing, make_http_client(settings) as http:
        salesforce = SalesforceClient(settings, http)
        sync = CatalogActivities(salesforce, billing, ErpClient(settings, http))
        for product in products:
            await salesforce.update(
                "Product2",
                product_ids[product.code],
                {"Name": product.name, "Q2C_Kind__c": product.kind, "IsActive": True},
            )
        catalog = await sync.read([product_ids[p.code] for p in products])
        for found in catalog.products:
            result = await sync.sync(found)
            if result.outcome in ("unmappable", "failed"):
                raise MappingFailed(f"{found.code}: {result.reason}")


# -- on demand -----------------------------------------------------------------------------


async def start_catalog_sync(
    client: Client, settings: Settings, request: CatalogSyncInput
) -> tuple[WorkflowHandle[CatalogSyncWorkflow, CatalogSyncResult], bool]:
    """The `catalog-sync` run: a new one, or the one already going (False: attached to it),
    whether started on demand or by the Schedule (`catalog-sync-<time>`, found through
    visibility)."""
    async for running in client.list_workflows(RUNNING_QUERY, limit=1):
        # Annotated: mypy's inference of the handle's type depends on module order otherwise.
        found: WorkflowHandle[CatalogSyncWorkflow, CatalogSyncResult] = (
            client.get_workflow_handle_for(
                CatalogSyncWorkflow.run, running.id, run_id=running.run_id
            )
        )
        return found, False
    handle = await client.start_workflow(
        CatalogSyncWorkflow.run,
        request,
        id=WORKFLOW_ID,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary="Catalog sync: Salesforce products → billing and ERP",
    )
    return handle, started_by(handle)


async def run_catalog_sync(
    client: Client, settings: Settings, request: CatalogSyncInput | None = None
) -> tuple[CatalogSyncResult, bool]:
    """Run a catalog sync (or join the one running) and wait for its result."""
    handle, started = await start_catalog_sync(client, settings, request or CatalogSyncInput())
    return await handle.result(), started


# -- the Schedule --------------------------------------------------------------------------


def catalog_schedule(settings: Settings) -> Schedule:
    """Every `catalog_sync_interval_seconds`; a run still going when the next is due is enough."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            CatalogSyncWorkflow.run,
            CatalogSyncInput(),
            id=WORKFLOW_ID,  # each run: catalog-sync-<scheduled time>
            task_queue=settings.task_queue,
            static_summary="Scheduled catalog sync: Salesforce products → billing and ERP",
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(
                    every=timedelta(seconds=settings.catalog_sync_interval_seconds)
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def _shape(schedule: Schedule) -> tuple[Any, ...]:
    """What `ensure_catalog_schedule` keeps in line with the settings."""
    action = schedule.action
    workflow = getattr(action, "workflow", None)
    return (
        [i.every for i in schedule.spec.intervals],
        getattr(action, "task_queue", None),
        workflow if isinstance(workflow, str) else "CatalogSync",
        schedule.policy.overlap,
    )


async def ensure_catalog_schedule(client: Client, settings: Settings) -> ScheduleOutcome:
    """Create the `catalog-sync` Schedule, or bring an existing one in line with the settings
    (its paused/running state and notes are left as the operator set them)."""
    return await ensure_schedule(
        client, SCHEDULE_ID, catalog_schedule(settings), lambda a, b: _shape(a) == _shape(b)
    )
