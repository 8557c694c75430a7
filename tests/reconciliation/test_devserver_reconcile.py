"""Reconciliation on the dev server: `ReconStatus` in visibility, the CLI, the Schedule.

A contract runs on a worker against the sandbox (`contract_rig`, business clock pinned at
2026-03-15). `q2c reconcile` (in-process, through the console script's error boundary) prints
it clean as JSON and CSV and the contract becomes visible under `ReconStatus = "Clean"`; after
an invoice is voided directly in billing, the table names the check and the invoice and the
contract moves to `ReconStatus = "Mismatch"`. An unknown contract is exit 2. `q2c reconcile
schedule` creates, then updates, the `reconciliation-daily` Schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RPCError

from activities.reconciliation import listed_contracts
from adapters.settings import Settings
from tests.reconciliation.conftest import cli_env
from tests.starter.conftest import Ran, run_cli
from tests.workflows.conftest import BUSINESS_TODAY, ContractRig, contract_scenario, seats
from workflows.reconciliation import SCHEDULE_ID

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


@pytest.fixture
def q2c(contract_rig: ContractRig, ledger_engine: Engine) -> Callable[..., Awaitable[Ran]]:
    """`q2c ARGS` in-process, with the environment of the rig's worker and ledger."""
    url = ledger_engine.url.render_as_string(hide_password=False)
    env = cli_env(contract_rig.client, contract_rig.settings, url)

    async def run(*args: str) -> Ran:
        return await asyncio.to_thread(run_cli, list(args), env)

    return run


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def void(settings: Settings, invoice_id: str) -> None:
    async with httpx.AsyncClient(base_url=settings.billing_url, timeout=30) as http:
        response = await http.post(
            f"/v1/invoices/{invoice_id}/void",
            headers={"Authorization": f"Bearer {settings.billing_api_key}"},
        )
        assert response.status_code == 200, response.text


async def test_recon_status_cli_and_schedule(
    contract_rig: ContractRig, q2c: Callable[..., Awaitable[Ran]], tmp_path: Path
) -> None:
    rig = contract_rig
    raw = contract_scenario(
        start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31), lines=[seats(10, "1200.00")]
    )
    booked = await rig.book(raw)
    handle = await rig.start(booked)
    await rig.settled(handle)
    listed = await listed_contracts(rig.client)
    assert listed is not None and booked.workflow_id in listed

    as_of = BUSINESS_TODAY.isoformat()
    out_csv = tmp_path / "recon.csv"
    ran = await q2c(
        "reconcile", "--contract", booked.contract_id, "--as-of", as_of, "--json",
        "--csv", str(out_csv),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    body = json.loads(ran.out)
    assert body["mismatches"] == 0 and body["as_of"] == as_of
    (result,) = body["contracts"]
    assert (result["workflow_id"], result["status"]) == (booked.workflow_id, "Clean")
    assert result["figures"]["billed"] == "3000.00"  # Jan, Feb, Mar at 1000.00
    (row,) = read_csv(out_csv)
    assert (row["contract_id"], row["status"], row["check"]) == (booked.contract_id, "Clean", "")
    await rig.wait_visible('ReconStatus = "Clean"', booked.workflow_id)

    invoices = await rig.invoices(booked)
    await void(rig.settings, invoices[-1].id)
    ran = await q2c("reconcile", "--contract", booked.opportunity_id, "--as-of", as_of)
    assert ran.code == 0, ran.err
    assert "billing_vs_ar" in ran.out and "deferred" in ran.out
    assert invoices[-1].id in ran.out
    assert "2 mismatches (billing_vs_ar 1, deferred 1)" in ran.out
    await rig.wait_visible('ReconStatus = "Mismatch"', booked.workflow_id)

    ran = await q2c("reconcile", "history", "--json")
    assert ran.code == 0, ran.err
    runs = json.loads(ran.out)
    assert [r["mismatches"] for r in runs[:2]] == [2, 0]

    for args, needle in (
        (["--contract", "NO-SUCH-CONTRACT"], "NO-SUCH-CONTRACT"),
        (["--as-of", "2026-02-30"], "--as-of '2026-02-30' is not a date"),
    ):
        ran = await q2c("reconcile", *args)
        assert ran.code == 2, ran
        assert "Traceback" not in ran.out + ran.err
        (line,) = ran.err.strip().splitlines()  # one line naming what is wrong
        assert needle in line

    await schedule_is_created_then_updated(rig.client, q2c)

    # A closed contract stays in the daily run for a while, then drops out of it.
    await handle.terminate(reason="test: closed")
    await rig.wait_visible('ExecutionStatus = "Terminated"', booked.workflow_id)
    listed = await listed_contracts(rig.client)
    assert listed is not None and booked.workflow_id in listed
    listed = await listed_contracts(rig.client, closed_within=dt.timedelta(0))
    assert listed is not None and booked.workflow_id not in listed


async def schedule_is_created_then_updated(
    client: Client, q2c: Callable[..., Awaitable[Ran]]
) -> None:
    handle = client.get_schedule_handle(SCHEDULE_ID)
    with contextlib.suppress(RPCError):  # none yet on this server
        await handle.delete()
    try:
        ran = await q2c("reconcile", "schedule", "--json")
        assert ran.code == 0, ran.err
        assert json.loads(ran.out)["outcome"] == "created"
        await handle.pause(note="month-end close")
        ran = await q2c("reconcile", "schedule", "--every", "6h", "--json")
        assert ran.code == 0, ran.err
        assert json.loads(ran.out)["outcome"] == "updated"
        description = await handle.describe()
        assert [i.every for i in description.schedule.spec.intervals] == [dt.timedelta(hours=6)]
        assert description.schedule.state.paused  # the operator's pause stays
        assert description.schedule.state.note == "month-end close"
        ran = await q2c("reconcile", "schedule", "--every", "sometimes")
        assert ran.code == 2 and "sometimes" in ran.err
    finally:
        await handle.delete()
