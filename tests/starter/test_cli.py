"""Every contract command of `q2c`, against the dev server: output, exit codes, one-line errors."""

from __future__ import annotations

import asyncio
import json

import pytest

from starter.catalog import map_products
from tests.starter.conftest import (
    CATALOG,
    Ran,
    Stack,
    days,
    last_month_end,
    run_cli,
    seat_line,
)
from workflows.contract import ContractWorkflow

pytestmark = [pytest.mark.devserver]

COMMANDS = ["start", "amend", "cancel", "retry", "status", "stuck", "report", "webhook", "demo"]


def one_line_error(ran: Ran, code: int, needle: str) -> None:
    """A user's mistake: one line on stderr naming what is wrong, never a traceback."""
    assert ran.code == code, ran
    assert "Traceback" not in ran.out + ran.err
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert needle in lines[0], ran.err


@pytest.mark.parametrize("command", COMMANDS)
async def test_every_command_has_help(stack: Stack, command: str) -> None:
    ran = await stack.q2c(command, "--help")
    assert ran.code == 0, ran
    assert f"q2c {command} [OPTIONS]" in " ".join(ran.out.split())


async def test_start_is_safe_to_repeat(stack: Stack) -> None:
    booked = await stack.book(start=days(-10), end=days(355))
    first = await stack.q2c("start", booked.opportunity_id)
    assert first.code == 0, first
    assert first.out.strip() == f"started {booked.workflow_id}"
    again = await stack.q2c("start", booked.number)  # by contract number, same contract
    assert again.code == 0, again
    assert "already running; nothing started" in again.out
    await stack.active(booked)
    assert await stack.signals(booked, "booked") == 2


async def test_start_refusals_and_mistakes(stack: Stack) -> None:
    lost = await stack.book(start=days(-10), end=days(355), won=False)
    one_line_error(await stack.q2c("start", lost.opportunity_id), 1, "not Closed Won")
    one_line_error(await stack.q2c("start", "NOPE-123"), 2, "no opportunity 'NOPE-123'")
    one_line_error(await stack.q2c("start"), 2, "either OPP-ID or --from-salesforce")
    both = await stack.q2c("start", "X", "--from-salesforce", "IsWon = true")
    one_line_error(both, 2, "either OPP-ID or --from-salesforce")
    malformed = await stack.q2c("start", "--from-salesforce", "IsWon = = true")
    one_line_error(malformed, 2, "Salesforce refused the query")
    one_line_error(await stack.q2c("start", "--from-salesforce", "  "), 2, "WHERE clause is empty")
    ended = await stack.book(start=last_month_end().replace(day=1), end=last_month_end())
    assert (await stack.q2c("start", ended.opportunity_id)).code == 0
    await stack.wait(ended, lambda s: s.finished, "finished")
    await stack.handle(ended).result()
    one_line_error(await stack.q2c("start", ended.number), 1, "already run to its end")


async def test_start_from_salesforce_migrates_a_book(stack: Stack) -> None:
    running = await stack.book(start=days(-10), end=days(355))
    fresh = [await stack.book(start=days(-5), end=days(360)) for _ in range(3)]
    lost = await stack.book(start=days(-10), end=days(355), won=False)
    assert (await stack.q2c("start", running.opportunity_id)).code == 0
    numbers = ", ".join(f"'{b.number}'" for b in [running, *fresh, lost])

    ran = await stack.q2c(
        "start", "--from-salesforce", f"Q2C_External_Id__c IN ({numbers})", "--concurrency", "2"
    )

    assert ran.code == 1, ran  # one refused
    assert "5/5" in ran.out  # the progress bar ran to the end
    cells = [line.split("│")[1:3] for line in ran.out.splitlines() if line.count("│") == 3]
    rows = {name.strip(): count.strip() for name, count in cells}
    assert rows == {"started": "3", "already running": "1", "refused": "1"}, ran.out
    assert f"refused {lost.opportunity_id} ({lost.number}): stage is 'Prospecting'" in ran.out
    assert "1 of the contracts were refused" in ran.err
    for booked in fresh:
        await stack.active(booked)
    again = await stack.q2c(
        "start", "--from-salesforce", f"Q2C_External_Id__c IN ({numbers}) AND IsWon = true"
    )
    assert again.code == 0, again
    assert "│ already running │         4 │" in again.out


async def test_status_and_report_of_a_live_contract(stack: Stack) -> None:
    booked = await stack.book(start=days(-10), end=days(355))
    assert (await stack.q2c("start", booked.opportunity_id)).code == 0
    live = await stack.active(booked)

    as_json = json.loads((await stack.q2c("status", booked.opportunity_id, "--json")).out)
    assert as_json["stage"] == "Active"
    assert as_json["contract_number"] == booked.number
    assert as_json["billed_to_date"] == str(live.billed_to_date)
    next_billing = as_json["next_billing_date"]  # the NextBillingDate search attribute
    assert next_billing > days(0).isoformat()
    text = await stack.q2c("status", booked.number)
    assert text.code == 0, text
    for needle in (
        f"{booked.workflow_id} ({booked.number})",
        "Stage               Active",
        f"Billed to date      {live.billed_to_date} EUR",
        f"Deferred revenue    {live.deferred_revenue} EUR",
        f"Next billing date   {next_billing}",
        f"http://127.0.0.1:8233/namespaces/default/workflows/{booked.workflow_id}",
    ):
        assert needle in text.out, (needle, text.out)

    report = await stack.q2c("report", booked.workflow_id, "--json")
    assert report.code == 0, report
    expected = await stack.handle(booked).query(ContractWorkflow.report)
    assert json.loads(report.out) == expected.to_json()
    readable = await stack.q2c("report", booked.number)
    assert "Transaction price" in readable.out and "Revenue by month" in readable.out

    one_line_error(await stack.q2c("status", "NOPE-9"), 2, "no contract 'NOPE-9'")
    one_line_error(await stack.q2c("report", "bad id!"), 2, "is not a contract")


async def test_amend_applies_or_refuses(stack: Stack) -> None:
    upsell = {
        "id": "AMD-1",
        "effective_date": days(-2).isoformat(),
        "changes": [{"line_id": "L1", "quantity": 20}],
    }
    too_late = {
        "id": "AMD-2",
        "effective_date": days(400).isoformat(),
        "changes": [{"line_id": "L1", "quantity": 30}],
    }
    booked = await stack.book(start=days(-10), end=days(355), amendments=[upsell, too_late])
    assert (await stack.q2c("start", booked.opportunity_id)).code == 0
    await stack.active(booked)

    applied = await stack.q2c("amend", booked.number, "AMD-1")
    assert applied.code == 0, applied
    assert applied.out.strip() == f"AMD-1 applied to {booked.workflow_id} (separate)"
    by_id = await stack.q2c("amend", booked.number, booked.amendment_ids["AMD-1"])
    assert by_id.code == 0, by_id  # the same amendment again: the same answer, applied once
    assert await stack.signals(booked, "amendment") == 0  # an update, not a signal

    one_line_error(await stack.q2c("amend", booked.number, "AMD-2"), 1, "refused AMD-2")
    one_line_error(
        await stack.q2c("amend", booked.number, "AMD-9"), 2, "'AMD-9' is not an amendment"
    )
    one_line_error(await stack.q2c("amend", "NOPE-1", "AMD-1"), 2, "no contract 'NOPE-1'")


async def test_cancel(stack: Stack) -> None:
    booked = await stack.book(start=days(-10), end=days(355))
    assert (await stack.q2c("start", booked.opportunity_id)).code == 0
    await stack.active(booked)
    one_line_error(
        await stack.q2c("cancel", booked.number, "--effective", "soon"), 2, "--effective"
    )
    missing = await stack.q2c("cancel", booked.number)
    assert missing.code == 2 and "--effective" in missing.err

    ran = await stack.q2c("cancel", booked.number, "--effective", days(-1).isoformat())
    assert ran.code == 0, ran
    assert f"cancellation effective {days(-1)}" in ran.out
    status = await stack.wait(booked, lambda s: s.stage == "Cancelled", "cancelled")
    assert status.billed_to_date == status.recognized_to_date
    one_line_error(
        await stack.q2c("cancel", booked.number, "--effective", days(1).isoformat()),
        1,
        "already Cancelled",
    )


async def test_stuck_and_retry(stack: Stack) -> None:
    fine = await stack.book(start=days(-10), end=days(355))
    parked = await stack.book(
        start=days(-10),
        end=days(355),
        lines=[seat_line(), {**seat_line(), "id": "L2", "product_code": "SUPPORT"}],
        mapped=False,
    )
    for booked in (fine, parked):
        assert (await stack.q2c("start", booked.opportunity_id)).code == 0
    await stack.wait(parked, lambda s: s.stage == "NeedsAttention", "parked")

    stuck = await stack.q2c("stuck", "--json")
    assert stuck.code == 0, stuck
    listed = {row["workflow_id"]: row for row in json.loads(stuck.out)["contracts"]}
    assert fine.workflow_id not in listed
    row = listed[parked.workflow_id]
    assert row["reason"] == "missing_product_mapping"
    assert "SUPPORT: no billing price" in row["detail"]
    assert row["web_ui"].endswith(f"/namespaces/default/workflows/{parked.workflow_id}")
    text = await stack.q2c("stuck")
    assert parked.workflow_id in text.out and "missing_product_mapping" in text.out
    assert "workflows?query=ContractStage%20%3D%20%22NeedsAttention%22" in text.out

    nothing = await stack.q2c("retry", fine.number)
    assert nothing.code == 0 and "nothing to retry" in nothing.out
    one_line_error(await stack.q2c("retry", parked.opportunity_id), 1, "parked again")

    products = await stack.seed({"scenario": _mapping_scenario()})
    await map_products(stack.settings, list(CATALOG.values()), products["product_ids"])
    resumed = await stack.q2c("retry", parked.number)  # named by number: found in Salesforce
    assert resumed.code == 0, resumed
    assert "resumed (missing_product_mapping resolved); now Active" in resumed.out


def _mapping_scenario() -> dict[str, object]:
    """A booking that carries every test product, to get their Product2 ids from the seed."""
    return {
        "contract": {
            "id": "T-CATALOG",
            "customer": {"id": "ACC-CATALOG", "name": "Catalog"},
            "currency": "EUR",
            "legal_entity": "EU-DE",
            "start_date": days(30).isoformat(),
            "end_date": days(395).isoformat(),
            "billing_frequency": "monthly",
            "lines": [seat_line(), {**seat_line(), "id": "L2", "product_code": "SUPPORT"}],
        },
        "amendments": [],
    }


async def test_an_unreachable_temporal_is_one_line(stack: Stack) -> None:
    env = {**stack.env, "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    ran = await asyncio.to_thread(run_cli, ["stuck"], env)
    one_line_error(ran, 2, "TEMPORAL_ADDRESS")
