"""What an operator sees in the Web UI, on the dev server (the one that honours search attributes).

Search attributes to find a contract by (and keep current as it changes), the current details
that say what it is doing, and a summary on every activity and timer of its history. Parked
contracts and their details are covered where they park (activation, outages).
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from temporalio.api.enums.v1 import EventType

from tests.workflows.conftest import ContractHandle, ContractRig, contract_scenario, seats
from tests.workflows.test_devserver_activation import current_details
from workflows import search_attributes as sa
from workflows.contract import ContractWorkflow
from workflows.contract_models import AmendmentRequest

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


async def summaries(
    rig: ContractRig, handle: ContractHandle, kind: EventType.ValueType
) -> list[str]:
    """The user-metadata summaries of the history's events of one kind, in order."""
    converter = rig.client.data_converter.payload_converter
    found: list[str] = []
    async for event in rig.client.get_workflow_handle(handle.id).fetch_history_events():
        if event.event_type == kind:
            assert event.user_metadata.HasField("summary"), event
            found.append(str(converter.from_payload(event.user_metadata.summary, str)))
    return found


async def test_search_attributes_details_and_summaries(contract_rig: ContractRig) -> None:
    rig = contract_rig
    raw = contract_scenario(
        start=dt.date(2026, 1, 1),
        end=dt.date(2026, 12, 31),
        lines=[seats(10, "1200.00")],
        currency="USD",
        legal_entity="US",
        amendments=[
            {
                "id": "AMD-1",
                "effective_date": "2026-03-10",
                "changes": [{"line_id": "L1", "quantity": 15}],
            }
        ],
    )
    booked = await rig.book(raw)
    contract = booked.scenario.contract
    handle = await rig.start(booked)
    await rig.settled(handle)

    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.CONTRACT_ID) == contract.id
    assert attributes.get(sa.CUSTOMER_ID) == contract.customer.id
    assert attributes.get(sa.CONTRACT_STAGE) == "Active"
    assert attributes.get(sa.ATTENTION_REASON) is None
    assert attributes.get(sa.CURRENCY) == "USD"
    assert attributes.get(sa.LEGAL_ENTITY) == "US"
    assert attributes.get(sa.NEXT_BILLING_DATE) == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert attributes.get(sa.ARR) == 12000.0
    await rig.wait_visible(
        f'ContractId = "{contract.id}" AND CustomerId = "{contract.customer.id}" '
        'AND ContractStage = "Active" AND Currency = "USD" AND LegalEntity = "US" '
        "AND ARR = 12000 AND NextBillingDate >= '2026-04-01T00:00:00Z' "
        "AND NextBillingDate < '2026-04-02T00:00:00Z'",  # dates by range, as the UI does
        handle.id,
    )
    details = await current_details(handle)
    assert details.startswith("**Active** · term 1 · business date 2026-03-15")
    assert f"{contract.start_date} → {contract.end_date} · monthly" in details
    assert "next due: 2026-04-01" in details

    # Five more seats from the 10th: ARR follows at once.
    amd = booked.amendment_ids["AMD-1"]
    outcome = await asyncio.wait_for(
        handle.execute_update(ContractWorkflow.amend, AmendmentRequest(amendment_id=amd)), 20
    )
    assert outcome.accepted
    status = await rig.settled(handle)
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.ARR) == 18000.0
    assert attributes.get(sa.CONTRACT_STAGE) == "Active"
    await rig.wait_visible(f'ContractId = "{contract.id}" AND ARR = 18000', handle.id)
    details = await current_details(handle)
    assert f"posted: {status.documents_posted} documents, {status.journals_posted} journals" in (
        details
    )

    activities = await summaries(rig, handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    for expected in (
        f"read booking {booked.opportunity_id} ← salesforce",
        f"customer {contract.customer.id} → billing",
        f"customer {contract.customer.id} → erp",
        "revenue schedule v1 → erp",
        "invoice invoice:2026-01-01 → billing",
        "journal:invoice:2026-01-01 → erp",
        "journal:revenue:2026-02 → erp",
        "status Active → salesforce",
        f"read amendment {amd} ← salesforce",
        "invoice amendment:AMD-1 → billing",
        "revenue schedule v2 → erp",
    ):
        assert expected in activities, (expected, activities)
    timers = await summaries(rig, handle, EventType.EVENT_TYPE_TIMER_STARTED)
    assert timers and timers[-1] == "next due 2026-04-01"
