"""Every workflow the worker registers."""

from __future__ import annotations

from workflows.catalog_sync import CatalogSyncWorkflow
from workflows.contract import ContractWorkflow
from workflows.late_payment import LatePaymentWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.system_check import SystemCheckWorkflow

WORKFLOWS: list[type] = [
    ContractWorkflow,
    ReconciliationWorkflow,
    SystemCheckWorkflow,
    CatalogSyncWorkflow,
    LatePaymentWorkflow,
]
