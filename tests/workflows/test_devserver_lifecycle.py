"""The end of a term on the dev server: renewal (continue-as-new), expiry, cancellation.

A three-month term from November 2025 to January 2026, with the business clock pinned in mid
March 2026: the term is over and its books are closed, so the contract catches up on it at once
and reaches its end of term within the test. With `Q2C_Auto_Renew__c` checked on the
Opportunity it renews into February–April 2026 and catches up on that too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from adapters.erp import external_id_for
from tests.workflows.conftest import (
    ContractRig,
    contract_scenario,
    journal_keys,
    keys_of,
    seats,
)
from workflows import search_attributes as sa
from workflows.contract import ContractWorkflow
from workflows.contract_models import AmendmentRequest, CancelRequest, ContractOutcome

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

RESULT_SECONDS = 20.0
LIVE_SECONDS = 10.0  # business time left before midnight when a live test starts
MONTH_FEE = Decimal("1000.00")


def short_term() -> dict[str, Any]:
    return contract_scenario(
        start=dt.date(2025, 11, 1), end=dt.date(2026, 1, 31), lines=[seats(10, "1200.00")]
    )


def term_one(workflow_id: str) -> list[str]:
    return [f"{workflow_id}:invoice:{month}-01" for month in ("2025-11", "2025-12", "2026-01")]


async def test_auto_renew_continues_as_new_into_term_two(contract_rig: ContractRig) -> None:
    rig = contract_rig
    booked = await rig.book(short_term(), auto_renew=True)
    assert (await rig.opportunity(booked))["Q2C_Auto_Renew__c"] is True
    handle = await rig.start(booked)
    status = await rig.settled(handle, term=2)
    assert status.stage == "Active" and status.processed_through == dt.date(2026, 3, 15)

    first = rig.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    latest = await rig.client.get_workflow_handle(handle.id).describe()
    assert latest.status == WorkflowExecutionStatus.RUNNING
    assert latest.run_id != handle.result_run_id

    invoices = await rig.invoices(booked)
    term_two = [f"{handle.id}:term-2:invoice:2026-02-01", f"{handle.id}:term-2:invoice:2026-03-01"]
    assert keys_of(invoices) == sorted(term_one(handle.id) + term_two)
    assert all(invoice.total == MONTH_FEE for invoice in invoices)
    journals = journal_keys(await rig.journals(booked))
    assert f"{handle.id}:journal:revenue:2026-01" in journals
    assert f"{handle.id}:term-2:journal:revenue:2026-02" in journals
    assert f"{handle.id}:term-2:journal:invoice:2026-03-01" in journals
    assert not any("term-2:journal:revenue:2026-03" in key for key in journals)  # still open
    schedule = await rig.erp.get_revenue_schedule(
        external_id_for(f"{handle.id}:term-2:revenue-schedule")
    )
    assert (schedule.start_date, schedule.end_date) == (dt.date(2026, 2, 1), dt.date(2026, 4, 30))
    assert schedule.total == 3 * MONTH_FEE

    attributes = latest.typed_search_attributes
    assert attributes.get(sa.CONTRACT_STAGE) == "Active"
    assert attributes.get(sa.CONTRACT_ID) == booked.contract_id
    assert attributes.get(sa.NEXT_BILLING_DATE) == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert attributes.get(sa.ARR) == 12000.0
    assert (await rig.opportunity(booked))["Q2C_Status__c"] == "Active"


async def test_without_auto_renew_the_contract_expires(contract_rig: ContractRig) -> None:
    rig = contract_rig
    booked = await rig.book(short_term())
    handle = await rig.start(booked)
    outcome = await asyncio.wait_for(handle.result(), RESULT_SECONDS)
    assert outcome == ContractOutcome(
        contract_id=booked.opportunity_id, final_stage="Expired", terms_served=1
    )
    assert keys_of(await rig.invoices(booked)) == term_one(handle.id)
    assert (await rig.opportunity(booked))["Q2C_Status__c"] == "Expired"
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.CONTRACT_STAGE) == "Expired"
    assert attributes.get(sa.ARR) == 0.0


async def test_a_cancelled_contract_ends_cancelled(contract_rig: ContractRig) -> None:
    rig = contract_rig
    raw = contract_scenario(
        start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31), lines=[seats(10, "1200.00")]
    )
    booked = await rig.book(raw, auto_renew=True)  # a cancellation wins over auto-renew
    handle = await rig.start(booked)
    await rig.settled(handle)
    await handle.signal(
        ContractWorkflow.cancel,
        CancelRequest(request_id="C-1", effective_date=dt.date(2026, 3, 1)),
    )
    outcome = await asyncio.wait_for(handle.result(), RESULT_SECONDS)
    assert (outcome.final_stage, outcome.terms_served) == ("Cancelled", 1)
    notes = await rig.credit_notes(booked)
    assert keys_of(notes) == [f"{handle.id}:amendment:CANCEL-C-1"]
    assert notes[0].total == MONTH_FEE  # March was billed and not served
    assert (await rig.opportunity(booked))["Q2C_Status__c"] == "Cancelled"
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.CONTRACT_STAGE) == "Cancelled"


async def test_term_ends_live_and_a_repeated_amend_is_answered_after_renewal(
    contract_rig: ContractRig,
) -> None:
    """The term's last day runs out on a durable timer while the test watches (the business
    clock starts seconds before midnight); an amendment applied in term 1 and sent again in
    term 2 gets its answer, not a wait that never ends."""
    rig = contract_rig
    raw = short_term()
    raw["amendments"] = [
        {
            "id": "AMD-1",
            "effective_date": "2026-01-10",
            "changes": [{"line_id": "L1", "quantity": 15}],
        }
    ]
    booked = await rig.book(raw, auto_renew=True)
    midnight = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    handle = await rig.start(booked, business_now=midnight - dt.timedelta(seconds=LIVE_SECONDS))
    status = await rig.settled(handle)
    assert status.business_date == dt.date(2026, 1, 31) and status.next_due == midnight.date()
    amd = AmendmentRequest(amendment_id=booked.amendment_ids["AMD-1"])
    first = await asyncio.wait_for(handle.execute_update(ContractWorkflow.amend, amd), 10)
    assert first.accepted and first.treatment == "separate"

    status = await rig.settled(handle, term=2, timeout=LIVE_SECONDS + RESULT_SECONDS)
    assert status.business_date == dt.date(2026, 2, 1)
    again = await asyncio.wait_for(handle.execute_update(ContractWorkflow.amend, amd), 10)
    assert again == first
    invoices = keys_of(await rig.invoices(booked))
    assert f"{handle.id}:amendment:AMD-1" in invoices
    assert f"{handle.id}:term-2:invoice:2026-02-01" in invoices
    renewed = [i for i in await rig.invoices(booked) if i.key and "term-2:" in i.key]
    assert [i.total for i in renewed] == [Decimal("1500.00")]  # 15 seats carried into term 2
