"""Every activity the worker registers, built around one set of adapters per worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Engine

from activities.catalog import CatalogActivities
from activities.contract import ContractActivities
from activities.health import HealthActivities
from activities.reconciliation import ReconciliationActivities
from adapters.billing import BillingAdapter
from adapters.erp import ErpClient
from adapters.http import make_http_client
from adapters.ledger import Ledger
from adapters.reconciliation_store import ReconciliationStore
from adapters.salesforce import SalesforceClient
from adapters.settings import Settings


@contextlib.asynccontextmanager
async def worker_activities(
    settings: Settings, ledger_engine: Engine
) -> AsyncIterator[list[Callable[..., Any]]]:
    """The activities, with their pooled HTTP clients open for as long as the worker runs."""
    ledger = Ledger(ledger_engine)
    await asyncio.to_thread(ledger.create_tables)
    http = make_http_client(settings)
    billing = BillingAdapter(settings)
    contract = ContractActivities(
        ledger=ledger,
        salesforce=SalesforceClient(settings, http),
        billing=billing,
        erp=ErpClient(settings, http),
    )
    catalog = CatalogActivities(
        salesforce=SalesforceClient(settings, http), billing=billing, erp=ErpClient(settings, http)
    )
    store = ReconciliationStore(ledger_engine)
    await asyncio.to_thread(store.create_tables)
    reconciliation = ReconciliationActivities(
        store=store,
        salesforce=SalesforceClient(settings, http),
        billing=billing,
        erp=ErpClient(settings, http),
    )
    health = HealthActivities(ledger_engine)
    try:
        yield [health.check_ledger, *contract.all(), *reconciliation.all(), *catalog.all()]
    finally:
        await billing.aclose()
        await http.aclose()
