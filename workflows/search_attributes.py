"""The typed search attributes of DESIGN.md §3, shared by workflows, the CLI and `q2c dev`."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

CONTRACT_ID = SearchAttributeKey.for_keyword("ContractId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CONTRACT_STAGE = SearchAttributeKey.for_keyword("ContractStage")
ATTENTION_REASON = SearchAttributeKey.for_keyword("AttentionReason")
LEGAL_ENTITY = SearchAttributeKey.for_keyword("LegalEntity")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
NEXT_BILLING_DATE = SearchAttributeKey.for_datetime("NextBillingDate")
ARR = SearchAttributeKey.for_float("ARR")
RECON_STATUS = SearchAttributeKey.for_keyword("ReconStatus")  # Clean | Mismatch (reconciliation)

ALL: tuple[SearchAttributeKey[Any], ...] = (
    CONTRACT_ID,
    CUSTOMER_ID,
    CONTRACT_STAGE,
    ATTENTION_REASON,
    LEGAL_ENTITY,
    CURRENCY,
    NEXT_BILLING_DATE,
    ARR,
    RECON_STATUS,
)
