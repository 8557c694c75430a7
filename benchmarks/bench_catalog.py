"""What a catalog sync costs: wall time per product, first run and steady state, and history.

`--products` (default 200) active products, each with a standard price-book entry in EUR and
USD, are seeded in an in-memory sandbox; the real worker runs `CatalogSyncWorkflow` on a
Temporal dev server twice: the first run creates every billing product, price and ERP item and
writes the ids back, the second finds everything in place and changes nothing. Printed: each
sync's outcome counts, wall time and milliseconds per product, and the workflow history of the
first sync: each run of its chain (the sync reads `--page-size` products a page and continues
as new after 5 pages), events and bytes.

    .venv/bin/python -m benchmarks.bench_catalog [--products 200] [--page-size 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from typing import Any

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.catalog_io import CatalogSyncInput
from adapters.database import make_engine
from adapters.settings import Settings
from sandbox.server import SandboxServer, run_in_thread
from starter.binaries import temporal_cli
from starter.catalog import start_catalog_sync
from worker import running_worker
from workflows import search_attributes


def catalog(products: int) -> dict[str, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for i in range(products):
        ref = f"p{i}"
        records.append(
            {
                "attributes": {"referenceId": ref},
                "Name": f"Product {i}",
                "ProductCode": f"P-{i:05d}",
                "IsActive": True,
                "Q2C_Kind__c": "subscription",
            }
        )
        for currency, price in (("EUR", 100 + i), ("USD", 110 + i)):
            entries.append(
                {
                    "Pricebook2Id": "@standardPricebook",
                    "Product2Id": f"@{ref}",
                    "UnitPrice": price,
                    "CurrencyIsoCode": currency,
                    "IsActive": True,
                }
            )
    return {"Product2": records, "PricebookEntry": entries}


async def measure(settings: Settings, products: int, page_size: int, ledger_url: str) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    async with env, running_worker(env.client, settings, make_engine(ledger_url)):
        first_run = ""
        for label in ("first run", "steady state"):
            started = time.monotonic()
            handle, _ = await start_catalog_sync(
                env.client, settings, CatalogSyncInput(page_size=page_size)
            )
            result = await handle.result()
            elapsed = time.monotonic() - started
            counts = ", ".join(f"{n} {k}" for k, n in result.counts().items() if n)
            print(
                f"{label}: {counts}; {elapsed:.1f} s, {elapsed / products * 1000:.0f} ms/product, "
                f"{result.runs} run(s)"
            )
            first_run = first_run or handle.result_run_id or ""
        run_id: str | None = first_run
        while run_id:  # the first sync's chain of runs (continue-as-new)
            events = 0
            size = 0
            following = None
            handle = env.client.get_workflow_handle("catalog-sync", run_id=run_id)
            async for event in handle.fetch_history_events():
                events += 1
                size += event.ByteSize()
                if event.HasField("workflow_execution_continued_as_new_event_attributes"):
                    attributes = event.workflow_execution_continued_as_new_event_attributes
                    following = attributes.new_execution_run_id
            print(f"first sync, run {run_id[:8]}: {events} events, {size / 1024:.0f} KB of history")
            run_id = following


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=200)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as state:
        settings = Settings(
            _env_file=None,
            task_queue=f"bench-catalog-{uuid.uuid4().hex[:6]}",
            sandbox_host="127.0.0.1",
            sandbox_salesforce_port=0,
            sandbox_billing_port=0,
            sandbox_erp_port=0,
            sandbox_database_url="sqlite://",
        )
        with run_in_thread(SandboxServer(settings)) as server:
            settings = settings.model_copy(
                update={f"{name}_url": url for name, url in server.urls.items()}
            )
            seeded = httpx.post(
                f"{server.urls['salesforce']}/_sandbox/seed",
                json=catalog(args.products),
                timeout=300,
            )
            seeded.raise_for_status()
            asyncio.run(
                measure(settings, args.products, args.page_size, f"sqlite:///{state}/ledger.db")
            )


if __name__ == "__main__":
    main()
