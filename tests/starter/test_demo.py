"""The demo's book tells the story it claims, and the demo runs it end to end through webhooks."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest

from domain.inputs import load_scenario
from domain.report import build_report
from domain.schedule import build_schedule
from starter.commands.dev import LocalStack
from starter.demo import run_demo
from starter.demo_book import BOOK, UNMAPPED, changes, scenario
from tests.starter.conftest import Stack
from workflows.contract import workflow_id_for

TODAY = dt.date(2026, 11, 27)


@pytest.mark.parametrize("today", [TODAY, dt.date(2027, 1, 3), dt.date(2026, 3, 31)])
def test_the_book_is_realistic_and_its_amendments_are_what_the_summary_says(
    today: dt.date,
) -> None:
    assert len(BOOK) == 20
    assert set(Counter(d.currency for d in BOOK)) == {"USD", "EUR", "GBP"}
    assert sum(d.months_ago >= 3 for d in BOOK) >= 8  # several catch up on months at once
    assert [d.number for d in BOOK if UNMAPPED.code in {c for c, _, _ in d.lines}] == ["Q2C-3005"]
    wanted = {c.number: c for c in changes(today)}
    treatments = {}
    statuses: Counter[str] = Counter()
    for deal in BOOK:
        raw = scenario(deal, today)
        if deal.number in wanted:
            raw["amendments"] = [wanted[deal.number].amendment]
        parsed = load_scenario(json.dumps(raw), source=deal.number)
        schedule = build_schedule(parsed.contract, parsed.amendments, parsed.usage)
        assert not schedule.attention, deal.number
        statuses[build_report(schedule, today).status] += 1
        if deal.number in wanted:
            treatments[deal.number] = [a.kind for a in schedule.amendments]
    assert treatments == {
        "Q2C-1001": ["separate"],
        "Q2C-2001": ["prospective"],
        "Q2C-1006": ["prospective"],
        "Q2C-3006": ["cancellation"],
    }
    assert statuses["Cancelled"] == 1 and statuses["Expired"] == 1


@pytest.mark.devserver
async def test_the_demo_runs_a_book_through_the_webhooks(stack: Stack) -> None:
    deals = [d for d in BOOK if d.number in ("Q2C-1005", "Q2C-1006", "Q2C-3005", "Q2C-3006")]
    local = LocalStack(stack.client, stack.settings, "http://127.0.0.1:8233", stack.webhook_url)
    endpoints = f"{stack.settings.billing_url}/_sandbox/webhook_endpoints"
    try:
        statuses = await run_demo(local, deals)
    finally:
        for endpoint in (await stack.http.get(endpoints)).json()["data"]:
            await stack.http.delete(f"{endpoints}/{endpoint['id']}")

    assert {n: s.stage for n, s in statuses.items()} == {
        "Q2C-1005": "Active",
        "Q2C-1006": "Active",
        "Q2C-3005": "NeedsAttention",
        "Q2C-3006": "Cancelled",
    }
    assert statuses["Q2C-3005"].attention_reason == "missing_product_mapping"
    paid = stack.client.get_workflow_handle(workflow_id_for(statuses["Q2C-1005"].contract_id))
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in paid.fetch_history_events()
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert signals == ["booked", "payment"]  # closed-won, then invoice.paid from billing
