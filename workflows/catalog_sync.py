"""CatalogSyncWorkflow: Salesforce's products and price books mapped to billing and the ERP.

One run reads the active `Product2` records and their active standard price-book entries,
makes (or updates) each product's billing product, one active billing price per currency and
its ERP item, and writes the ids back onto Salesforce (`Product2.Q2C_Billing_Price_Id__c` and
`Q2C_ERP_Item_Id__c`, which ContractWorkflow checks at activation). Products that cannot be
mapped are listed with the reason and get no ids written back. Then the contracts parked for
`missing_product_mapping` whose products are all mapped now get their `retry` signal.

Since patch `catalog-sync-paged` a run reads the catalog a page at a time (`page_size` products
by `Product2.Id`, keyset; duplicate codes found by asking Salesforce for the page's codes over
the whole catalog), then retires the products deactivated in Salesforce that still carry a
mapping (billing prices and product archived, ERP item inactive). After `pages_per_run` pages,
or sooner when Temporal suggests it, it continues as new with its cursor and running totals
(`CatalogSyncState`), so a catalog of any size is synced with bounded history per run; the
parked contracts are retried once, at the very end. The result keeps the counts of every
product and the details of at most `detail_limit` (those that need attention first).

Workflow id: `catalog-sync` for runs on demand (`q2c catalog sync`, which attaches to a sync
already running, on demand or scheduled, instead of starting a second one), and the Schedule
`catalog-sync` for the periodic runs (`catalog-sync-<time>`, overlaps skipped). Everything it
does is idempotent, so two runs at once (a scheduled one starting during one on demand) still
agree; they only do the work twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.catalog import CatalogActivities, RetryParked
    from activities.catalog_io import (
        CatalogPage,
        CatalogProduct,
        CatalogSyncInput,
        CatalogSyncResult,
        CatalogSyncState,
        Outcome,
        ProductSync,
        ReadCatalog,
        ReadPage,
        RetriedContract,
        duplicate_codes,
        unmappable_reason,
    )
    from workflows import search_attributes as sa
    from workflows.contract import workflow_id_for

WORKFLOW_ID = "catalog-sync"
# Patch ids: every change of behaviour after the first release, so runs in flight replay.
PAGED = "catalog-sync-paged"  # pages + continue-as-new + retiring inactive products
CONCURRENCY = 4  # products synced at once
PARKED_QUERY = (
    'WorkflowType = "Contract" '
    'AND ExecutionStatus = "Running" '
    f'AND {sa.CONTRACT_STAGE.name} = "NeedsAttention" '
    f'AND {sa.ATTENTION_REASON.name} = "missing_product_mapping"'
)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
ACTIVITY_TIMEOUT = timedelta(minutes=2)


def _failure(err: ActivityError) -> str:
    cause = err.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)


@workflow.defn(name="CatalogSync")
class CatalogSyncWorkflow:
    def __init__(self) -> None:
        self._done = 0
        self._total = 0
        # A vendor down longer than this fails the step (the product; the next run retries).
        self._window = timedelta(minutes=10)

    @workflow.run
    async def run(self, input: CatalogSyncInput) -> CatalogSyncResult:
        self._window = timedelta(seconds=input.vendor_window_seconds)
        if workflow.patched(PAGED):
            return await self._paged(input)
        return await self._whole(input)

    async def _paged(self, input: CatalogSyncInput) -> CatalogSyncResult:
        state = input.state or CatalogSyncState()
        self._done = self._total = sum(state.totals.values())
        pages = 0
        while state.phase != "done":
            page: CatalogPage = await workflow.execute_activity_method(
                CatalogActivities.read_page,
                ReadPage(
                    phase="retire" if state.phase == "retire" else "active",
                    after=state.after,
                    limit=input.page_size,
                    product_ids=input.product_ids,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=self._window,
                retry_policy=RETRY,
                summary=f"read a page of Product2 ({state.phase}) ← salesforce",
            )
            self._total += len(page.products)
            for start in range(0, len(page.products), CONCURRENCY):
                batch = page.products[start : start + CONCURRENCY]
                results = await asyncio.gather(
                    *(
                        self._sync(product, page.duplicates.get(product.id))
                        if state.phase == "active"
                        else self._retire(product, page.in_use.get(product.id))
                        for product in batch
                    )
                )
                for result in results:
                    state.add(result, input.detail_limit)
            pages += 1
            if page.next_after is not None:
                state.after = page.next_after
            else:
                whole = input.product_ids is None
                state.phase = "retire" if state.phase == "active" and whole else "done"
                state.after = None
            if state.phase != "done" and (
                pages >= input.pages_per_run or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                state.runs += 1
                workflow.continue_as_new(input.model_copy(update={"state": state}))
        contracts = await self._retry_parked() if input.retry_parked else []
        return CatalogSyncResult(
            products=sorted(state.products, key=lambda p: (p.code or "", p.product_id)),
            contracts=contracts,
            totals=state.totals,
            not_listed=state.not_listed,
            runs=state.runs,
        )

    async def _retry_parked(self) -> list[RetriedContract]:
        return await workflow.execute_activity_method(
            CatalogActivities.retry_parked_contracts,
            RetryParked(query=PARKED_QUERY, workflow_id_prefix=workflow_id_for(""), signal="retry"),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            schedule_to_close_timeout=self._window,
            retry_policy=RETRY,
            summary="retry contracts parked for missing_product_mapping",
        )

    async def _retire(self, product: CatalogProduct, in_use: str | None) -> ProductSync:
        return await self._step(
            product,
            CatalogActivities.retire_product,
            f"retire {product.code} (inactive) → billing, erp",
            skipped=None if in_use is None else ("unchanged", in_use),
        )

    async def _step(
        self,
        product: CatalogProduct,
        activity: Callable[[CatalogActivities, CatalogProduct], Awaitable[ProductSync]],
        summary: str,
        *,
        skipped: tuple[Outcome, str] | None,
    ) -> ProductSync:
        """One product's activity (or the outcome it gets without one); a failure is the
        product's outcome, not the run's."""
        try:
            if skipped is not None:
                outcome, reason = skipped
                return ProductSync(
                    product_id=product.id,
                    code=product.code,
                    name=product.name,
                    outcome=outcome,
                    reason=reason,
                )
            try:
                return await workflow.execute_activity_method(
                    activity,
                    product,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    schedule_to_close_timeout=self._window,
                    retry_policy=RETRY,
                    summary=summary,
                )
            except ActivityError as err:
                return ProductSync(
                    product_id=product.id,
                    code=product.code,
                    name=product.name,
                    outcome="failed",
                    reason=_failure(err),
                )
        finally:
            self._done += 1

    async def _whole(self, input: CatalogSyncInput) -> CatalogSyncResult:
        """Before `catalog-sync-paged`: the whole catalog in one read (runs in flight replay)."""
        catalog = await workflow.execute_activity_method(
            CatalogActivities.read_catalog,
            ReadCatalog(product_ids=input.product_ids),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            schedule_to_close_timeout=self._window,
            retry_policy=RETRY,
            summary="read Product2 + PricebookEntry ← salesforce",
        )
        duplicates = duplicate_codes(catalog.products)
        self._total = len(catalog.products)
        results: list[ProductSync] = []
        for start in range(0, len(catalog.products), CONCURRENCY):
            batch = catalog.products[start : start + CONCURRENCY]
            results += await asyncio.gather(
                *(self._sync(product, duplicates.get(product.id)) for product in batch)
            )
        contracts = await self._retry_parked() if input.retry_parked else []
        return CatalogSyncResult(products=results, contracts=contracts)

    async def _sync(self, product: CatalogProduct, duplicate: str | None) -> ProductSync:
        reason = duplicate or unmappable_reason(product)
        return await self._step(
            product,
            CatalogActivities.sync_product,
            f"sync {product.code} → billing, erp, salesforce",
            skipped=None if reason is None else ("unmappable", reason),
        )

    @workflow.query
    def progress(self) -> tuple[int, int]:
        """(products done, products read so far), over every run of the chain."""
        return self._done, self._total
