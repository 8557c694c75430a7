"""Real workflows on both Temporal servers: the time-skipping one and the dev server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker as q2c_worker
from adapters.settings import Settings
from tests.foundation.timer_workflow import SleepsAMonth
from workflows import search_attributes
from workflows.system_check import SystemCheckWorkflow


def _settings(database_url: str) -> Settings:
    return Settings(task_queue=f"tq-{uuid.uuid4()}", database_url=database_url)


async def _run_system_check(client: Client, settings: Settings) -> str:
    async with q2c_worker.running_worker(client, settings, q2c_worker.open_ledger(settings)):
        result = await client.execute_workflow(
            SystemCheckWorkflow.run,
            id=f"system-check-{uuid.uuid4()}",
            task_queue=settings.task_queue,
        )
    assert result.task_queue == settings.task_queue
    return result.ledger_backend


async def test_system_check_on_time_skipping_server(
    time_skipping_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    backend = await _run_system_check(time_skipping_env.client, _settings(sqlite_url))
    assert backend == "sqlite"


async def test_timers_are_skipped_on_time_skipping_server(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    client = time_skipping_env.client
    async with Worker(client, task_queue="sleepy", workflows=[SleepsAMonth]):
        days = await client.execute_workflow(
            SleepsAMonth.run, id=str(uuid.uuid4()), task_queue="sleepy"
        )
    assert days == "31"


async def test_system_check_on_dev_server_with_postgres_ledger(
    dev_env: WorkflowEnvironment, postgres_url: str
) -> None:
    backend = await _run_system_check(dev_env.client, _settings(postgres_url))
    assert backend == "postgresql"


async def test_dev_server_has_q2c_search_attributes(dev_env: WorkflowEnvironment) -> None:
    response = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=dev_env.client.namespace)
    )
    expected = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
    }
    registered = {name: response.custom_attributes.get(name) for name in expected}
    assert registered == expected


async def test_visibility_query_finds_workflow_by_stage(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    stage = f"Stage{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        SleepsAMonth.run,
        id=f"contract-{uuid.uuid4()}",
        task_queue="nobody-polls-this",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(search_attributes.CONTRACT_STAGE, stage),
                SearchAttributePair(search_attributes.ARR, 120000.0),
                SearchAttributePair(
                    search_attributes.NEXT_BILLING_DATE, datetime(2026, 3, 1, tzinfo=UTC)
                ),
            ]
        ),
    )
    try:
        found: list[str] = []
        for _ in range(50):
            found = [
                wf.id
                async for wf in client.list_workflows(f'ContractStage = "{stage}" AND ARR > 1000')
            ]
            if found:
                break
            await asyncio.sleep(0.1)
        assert found == [handle.id]
    finally:
        await handle.terminate()


@pytest.mark.parametrize("bad", ["not a url", "mysql://x@localhost/db"])
def test_bad_database_url_is_one_clear_error(bad: str) -> None:
    from adapters.database import make_engine
    from adapters.settings import ConfigError

    with pytest.raises(ConfigError, match="Q2C_DATABASE_URL"):
        make_engine(bad)
