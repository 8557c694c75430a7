"""Activation on the dev server: a contract whose product is not mapped parks, is found, is fixed.

The contract runs on the real clock (offset 0, as in production) and started two months ago, so
once activated it catches up at once; the documents and journals it must produce are what the
domain engine says for the business date the workflow reports, read back from billing and ERP.
"""

from __future__ import annotations

import datetime as dt

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

from domain.calendar import add_months
from domain.posting import posting_difference
from domain.schedule import build_schedule
from tests.workflows.conftest import (
    ContractHandle,
    ContractRig,
    contract_scenario,
    journal_keys,
    keys_of,
    seats,
)
from workflows import search_attributes as sa
from workflows.contract import ContractWorkflow

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

METADATA_QUERY = "__temporal_workflow_metadata"


async def current_details(handle: ContractHandle) -> str:
    """The Web UI's "current details": what the SDK answers to its built-in metadata query."""
    metadata: WorkflowMetadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def test_missing_mapping_parks_is_listed_and_retry_activates(
    contract_rig: ContractRig,
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    start = add_months(today.replace(day=1), -2)
    raw = contract_scenario(
        start=start,
        end=add_months(start, 12) - dt.timedelta(days=1),
        lines=[
            seats(10, "1200.00"),
            {
                "id": "L2",
                "product_code": "ONBOARD",
                "kind": "one_time",
                "quantity": 1,
                "unit_price": "500.00",
            },
        ],
    )
    booked = await contract_rig.book(raw, mapped=False)
    handle = await contract_rig.start(booked, business_now=None)

    status = await contract_rig.parked(handle, "missing_product_mapping")
    assert status.attention_detail is not None
    assert "SEAT-PRO: no billing price" in status.attention_detail
    assert "ONBOARD: no ERP item" in status.attention_detail
    details = await current_details(handle)
    assert "NeedsAttention" in details
    assert "missing_product_mapping" in details
    assert "Q2C_Billing_Price_Id__c" in details and "q2c retry" in details
    for query in (
        'ContractStage = "NeedsAttention"',
        'AttentionReason = "missing_product_mapping"',
    ):
        await contract_rig.wait_visible(f'{query} AND ExecutionStatus = "Running"', handle.id)
    # Nothing was created anywhere while the booking could not be read whole.
    assert await contract_rig.invoices(booked) == []
    assert await contract_rig.journals(booked) == []

    await contract_rig.map_products(booked)
    await handle.signal(ContractWorkflow.retry)
    status = await contract_rig.settled(handle)
    assert status.stage == "Active"
    assert status.attention_reason is None

    # Caught up at once: exactly the documents and journals due by the business date.
    expected = posting_difference(
        build_schedule(booked.scenario.contract), {}, {}, status.processed_through or today
    )
    invoices = await contract_rig.invoices(booked)
    assert len(invoices) >= 3  # the start's period (with onboarding) and two more
    assert keys_of(invoices) == sorted(f"{handle.id}:{d.key}" for d in expected.documents)
    by_key = {f"{handle.id}:{d.key}": d for d in expected.documents}
    for invoice in invoices:
        assert invoice.key is not None
        document = by_key[invoice.key]
        assert (invoice.total, invoice.document_date) == (document.total, document.date)
    journals = await contract_rig.journals(booked)
    assert journal_keys(journals) == sorted(f"{handle.id}:{j.key}" for j in expected.journals)
    assert any(":journal:revenue:" in key for key in journal_keys(journals))
    assert (await contract_rig.opportunity(booked))["Q2C_Status__c"] == "Active"

    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.CONTRACT_STAGE) == "Active"
    assert attributes.get(sa.ATTENTION_REASON) is None
    assert attributes.get(sa.CONTRACT_ID) == booked.contract_id
    details = await current_details(handle)
    assert details.startswith("**Active**") and "needs attention" not in details
