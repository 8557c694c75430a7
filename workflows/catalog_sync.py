"""CatalogSyncWorkflow: Salesforce's products and price books mapped to billing and the ERP.

One run reads the active `Product2` records and their active standard price-book entries,
makes (or updates) each product's billing product, one active billing price per currency and
its ERP item, and writes the ids back onto Salesforce (`Product2.Q2C_Billing_Price_Id__c` and
`Q2C_ERP_Item_Id__c`, which ContractWorkflow checks at activation). Products that cannot be
mapped are listed with the reason and get no ids written back. Then the contracts parked for
`missing_product_mapping` whose products are all mapped now get their `retry` signal.

Workflow id: `catalog-sync` for runs on demand (`q2c catalog sync`, which attaches to a sync
already running, on demand or scheduled, instead of starting a second one), and the Schedule
`catalog-sync` for the periodic runs (`catalog-sync-<time>`, overlaps skipped). Everything it
does is idempotent, so two runs at once (a scheduled one starting during one on demand) still
agree; they only do the work twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.catalog import CatalogActivities, RetryParked
    from activities.catalog_io import (
        CatalogProduct,
        CatalogSyncInput,
        CatalogSyncResult,
        ProductSync,
        ReadCatalog,
        RetriedContract,
        duplicate_codes,
        unmappable_reason,
    )
    from workflows import search_attributes as sa
    from workflows.contract import workflow_id_for

WORKFLOW_ID = "catalog-sync"
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
        contracts: list[RetriedContract] = []
        if input.retry_parked:
            contracts = await workflow.execute_activity_method(
                CatalogActivities.retry_parked_contracts,
                RetryParked(
                    query=PARKED_QUERY, workflow_id_prefix=workflow_id_for(""), signal="retry"
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=self._window,
                retry_policy=RETRY,
                summary="retry contracts parked for missing_product_mapping",
            )
        return CatalogSyncResult(products=results, contracts=contracts)

    async def _sync(self, product: CatalogProduct, duplicate: str | None) -> ProductSync:
        reason = duplicate or unmappable_reason(product)
        try:
            if reason is not None:
                return ProductSync(
                    product_id=product.id,
                    code=product.code,
                    name=product.name,
                    outcome="unmappable",
                    reason=reason,
                )
            try:
                return await workflow.execute_activity_method(
                    CatalogActivities.sync_product,
                    product,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    schedule_to_close_timeout=self._window,
                    retry_policy=RETRY,
                    summary=f"sync {product.code} → billing, erp, salesforce",
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

    @workflow.query
    def progress(self) -> tuple[int, int]:
        """(products done, products in the catalog)."""
        return self._done, self._total
