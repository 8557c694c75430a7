"""`q2c catalog sync` and `q2c catalog schedule` as a user runs them, the `catalog-sync`
Schedule, and a second sync attaching to the one already running.

The commands run in-process through the console script's error boundary (exit codes, one-line
errors), against the dev server and the sandbox of `contract_rig`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleHandle,
    ScheduleIntervalSpec,
)
from temporalio.service import RPCError

from activities.catalog_io import CatalogSyncInput
from starter.catalog import (
    RUNNING_QUERY,
    SCHEDULE_ID,
    ensure_catalog_schedule,
    start_catalog_sync,
)
from tests.catalog.conftest import Catalog, product
from tests.starter.conftest import Ran, _cli_env, run_cli
from tests.workflows.conftest import ContractRig
from workflows.catalog_sync import CatalogSyncWorkflow

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


async def q2c(rig: ContractRig, *args: str, **env: str) -> Ran:
    return await asyncio.to_thread(
        run_cli, list(args), {**_cli_env(rig.client, rig.settings), **env}
    )


async def test_catalog_sync_command_table_json_and_bad_input(catalog: Catalog) -> None:
    rig = catalog.rig
    ids = await catalog.seed(
        product("SEAT-PRO", "Seat (Pro)", prices={"EUR": "1100"}),
        product("NO-PRICE", "Retired support"),
        product("OLD", "Switched off", prices={"EUR": "1"}),
    )
    await rig.salesforce.update("Product2", ids["OLD"], {"IsActive": False})

    ran = await q2c(rig, "catalog", "sync")
    assert ran.code == 0, ran
    assert "SEAT-PRO" in ran.out and "created" in ran.out
    assert "NO-PRICE" in ran.out and "unmappable" in ran.out
    assert "no active price-book entry" in ran.out
    assert "1 created · 0 updated · 0 unchanged · 1 unmappable · 0 failed" in ran.out

    ran = await q2c(rig, "catalog", "sync", "--json", "--no-retry")
    assert ran.code == 0, ran
    body = json.loads(ran.out)
    assert body["counts"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "unmappable": 1,
        "failed": 0,
        "retired": 0,
    }
    assert body["workflow_id"] == "catalog-sync" and body["attached"] is False
    assert body["contracts"] == []
    reasons = {p["code"]: p["reason"] for p in body["products"]}
    assert reasons == {
        "SEAT-PRO": None,
        "NO-PRICE": "no active price-book entry (standard price book)",
    }

    ran = await q2c(rig, "catalog", "sync", "--json", "--product", "SEAT-PRO")
    assert ran.code == 0, ran
    assert [p["code"] for p in json.loads(ran.out)["products"]] == ["SEAT-PRO"]

    for args, needle in (
        (
            ("catalog", "sync", "--product", "NOPE"),
            "no Product2 in Salesforce with ProductCode NOPE",
        ),
        (("catalog", "sync", "--product", " "), "--product needs a ProductCode"),
        (("catalog", "sync", "--product", "OLD"), "Product2 OLD is inactive in Salesforce"),
        (("catalog", "sync", "--wait", "0"), "--wait"),
        (("catalog", "schedule", "--every", "10"), "--every"),
    ):
        ran = await q2c(rig, *args)
        assert ran.code == 2, (args, ran)
        assert needle in ran.err, (args, ran)
        assert "Traceback" not in ran.err and ran.out == "", (args, ran)

    ran = await q2c(rig, "catalog", "sync", Q2C_TASK_QUEUE="nobody-polls-this")
    assert ran.code == 1, ran
    assert "no worker polls task queue 'nobody-polls-this'" in ran.err

    ran = await q2c(rig, "catalog", "sync", TEMPORAL_ADDRESS="127.0.0.1:1")
    assert ran.code == 2, ran
    assert "TEMPORAL_ADDRESS" in ran.err and len(ran.err.strip().splitlines()) == 1


async def running_only(rig: ContractRig, workflow_id: str) -> None:
    """Wait until visibility lists exactly this catalog sync as running (it lags a little)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while [w.id async for w in rig.client.list_workflows(RUNNING_QUERY)] != [workflow_id]:
        assert loop.time() < deadline, f"visibility never listed only {workflow_id} as running"
        await asyncio.sleep(0.2)


async def test_a_second_sync_attaches_to_the_one_running(contract_rig: ContractRig) -> None:
    # No worker polls this queue, so the first run stays open while the second asks.
    idle = contract_rig.settings.model_copy(update={"task_queue": f"idle-{uuid.uuid4().hex[:8]}"})
    first, started = await start_catalog_sync(contract_rig.client, idle, CatalogSyncInput())
    try:
        assert started is True
        second, again = await start_catalog_sync(contract_rig.client, idle, CatalogSyncInput())
        assert again is False
        assert second.id == first.id == "catalog-sync"
        assert second.result_run_id == first.result_run_id
        # A run the Schedule started (catalog-sync-<time>) is joined the same way.
        await first.terminate(reason="next case")
        scheduled = await contract_rig.client.start_workflow(
            CatalogSyncWorkflow.run,
            CatalogSyncInput(),
            id=f"catalog-sync-{uuid.uuid4().hex[:8]}",
            task_queue=idle.task_queue,
        )
        try:
            await running_only(contract_rig, scheduled.id)
            joined, again = await start_catalog_sync(contract_rig.client, idle, CatalogSyncInput())
            assert again is False
            assert (joined.id, joined.run_id) == (scheduled.id, scheduled.result_run_id)
        finally:
            await scheduled.terminate(reason="test finished")
    finally:
        with contextlib.suppress(RPCError):
            await first.terminate(reason="test finished")


@pytest.fixture
async def schedule(contract_rig: ContractRig) -> AsyncIterator[ScheduleHandle]:
    handle = contract_rig.client.get_schedule_handle(SCHEDULE_ID)
    try:
        yield handle
    finally:
        with contextlib.suppress(RPCError):
            await handle.delete()


async def test_schedule_is_created_once_updated_on_change_and_runs_the_sync(
    catalog: Catalog, schedule: ScheduleHandle
) -> None:
    rig = catalog.rig
    assert await ensure_catalog_schedule(rig.client, rig.settings) == "created"
    described = (await schedule.describe()).schedule
    assert described.spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=1))]
    assert getattr(described.action, "task_queue", None) == rig.settings.task_queue
    assert getattr(described.action, "workflow", None) == "CatalogSync"

    assert await ensure_catalog_schedule(rig.client, rig.settings) == "unchanged"
    await schedule.pause(note="paused by an operator")
    ran = await q2c(rig, "catalog", "schedule", "--json", "--every", "900")
    assert ran.code == 0, ran
    assert json.loads(ran.out)["outcome"] == "updated"
    described = (await schedule.describe()).schedule
    assert described.spec.intervals == [ScheduleIntervalSpec(every=timedelta(minutes=15))]
    assert described.state.paused is True  # the operator's pause survives the update
    ran = await q2c(rig, "catalog", "schedule", Q2C_CATALOG_SYNC_INTERVAL_SECONDS="900")
    assert ran.code == 0, ran
    assert "Schedule catalog-sync unchanged" in ran.out
    ids = [s.id async for s in await rig.client.list_schedules()]
    assert ids.count(SCHEDULE_ID) <= 1  # visibility may lag; never two

    # What it starts is a real sync: trigger one now and wait for its result.
    await catalog.seed(product("SEAT-PRO", "Seat (Pro)", prices={"EUR": "1100"}))
    await schedule.trigger()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not (actions := (await schedule.describe()).info.recent_actions):
        assert loop.time() < deadline, "the schedule started nothing"
        await asyncio.sleep(0.1)
    started = actions[0].action
    assert isinstance(started, ScheduleActionExecutionStartWorkflow)
    run = rig.client.get_workflow_handle(started.workflow_id, run_id=started.first_execution_run_id)
    assert started.workflow_id.startswith("catalog-sync-")
    result = await asyncio.wait_for(run.result(), 20)
    assert [p["outcome"] for p in result["products"]] == ["created"]
