"""Found by the chaos run: a back-dated cancellation that arrives on a period's first day, after
that day's invoice went out, must not leave the invoice issued outside the contract's schedule.

Received that day, the domain applies the cancellation before the day's billing (DESIGN.md §5),
so the schedule had no invoice for the period while billing held one that nothing would ever
credit: the customer was billed for a month after the cancellation. The workflow now takes
such a message the next day, as received then (`workflow.patched`): today's invoice stays in
the schedule and the cancellation's credit note covers it with the days not served before it.
(That credit is larger than either invoice: it is issued in billing over both,
test_devserver_credit_split.py.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from domain.models import Amendment
from domain.schedule import build_schedule
from tests.workflows.conftest import BUSINESS_TODAY, ContractRig, contract_scenario, seats
from workflows.contract import ContractWorkflow
from workflows.contract_models import CancelRequest

pytestmark = [pytest.mark.devserver]


async def test_a_cancellation_after_todays_invoice_leaves_nothing_outside_the_schedule(
    contract_rig: ContractRig,
) -> None:
    rig = contract_rig
    assert dt.date(2026, 3, 15) == BUSINESS_TODAY
    raw = contract_scenario(
        start=dt.date(2026, 1, 15), end=dt.date(2027, 1, 14), lines=[seats(10, "1200.00")]
    )
    booked = await rig.book(raw)
    handle = await rig.start(booked)
    await rig.settled(handle)
    issued = sorted((i.key or "").split(":", 1)[1] for i in await rig.invoices(booked))
    assert issued == ["invoice:2026-01-15", "invoice:2026-02-15", "invoice:2026-03-15"]

    cancel = CancelRequest(request_id="late", effective_date=dt.date(2026, 3, 10))
    await handle.signal(ContractWorkflow.cancel, cancel)
    await asyncio.sleep(0.5)
    status = await rig.settled(handle)

    # Everything billing holds is in the contract's schedule, and the other way round.
    report = await handle.query(ContractWorkflow.report)
    scheduled = sorted((d.kind, d.date, Decimal(d.total)) for d in report.invoices)
    in_billing = sorted(
        [("invoice", i.document_date, i.total) for i in await rig.invoices(booked)]
        + [("credit_note", n.document_date, n.total) for n in await rig.credit_notes(booked)]
    )
    assert in_billing == scheduled
    assert ("invoice", dt.date(2026, 3, 15), Decimal("1000.00")) in scheduled
    # The cancellation is taken tomorrow: its credit (Mar 10 - Apr 14: 5 days of February's
    # period and all of March's) comes then, and the contract is cancelled then.
    assert status.stage == "Active" and status.next_due == dt.date(2026, 3, 16)

    # What it was: received the same day, the cancellation leaves March's invoice (issued)
    # out of the schedule, so nothing would ever credit it.
    same_day = Amendment(
        id="CANCEL-late",
        effective_date=cancel.effective_date,
        received_on=BUSINESS_TODAY,
        cancel=True,
    )
    kept = {d.key for d in build_schedule(booked.scenario.contract, [same_day]).documents()}
    assert "invoice:2026-03-15" not in kept
