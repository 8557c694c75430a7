"""The stack the CLI and webhook tests drive: a dev server, a sandbox, a worker, the receiver.

Everything here is this package's own: a Temporal dev server (so the `contract-<opportunity>`
ids the sandbox hands out never meet another package's workflows), a sandbox that is never
reset (so ids never repeat between these tests; its state is a SQLite file in the test's
temporary directory), a worker on a task queue of its own, and the webhook receiver on a free
port. Contracts run on the real clock, dated around today.

`q2c(...)` runs a command in-process exactly as the console script does (`starter.cli.main`,
its error boundary included), in a thread so the worker keeps running, with the environment
pointing at this stack.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from adapters.database import make_engine
from adapters.salesforce import SalesforceClient
from adapters.settings import Settings, get_settings
from sandbox.server import SandboxServer, run_in_thread
from starter import cli
from starter.binaries import temporal_cli
from starter.catalog import Product, map_products
from starter.webhooks import signature
from starter.webhooks.server import WebhookServer
from worker import running_worker
from workflows import search_attributes
from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import ContractStatus

WAIT_SECONDS = 30.0


@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Booked:
    number: str
    opportunity_id: str
    amendment_ids: dict[str, str]

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.opportunity_id)


@dataclass
class Stack:
    client: Client
    settings: Settings
    webhook_url: str
    sandbox: SandboxServer
    http: httpx.AsyncClient
    env: dict[str, str]

    # -- Salesforce ---------------------------------------------------------------------

    async def seed(self, body: dict[str, Any]) -> Any:
        url = f"{self.settings.salesforce_url}/_sandbox/seed"
        response = await self.http.post(url, json=body)
        response.raise_for_status()
        return response.json()

    async def book(
        self,
        *,
        start: dt.date,
        end: dt.date,
        lines: list[dict[str, Any]] | None = None,
        amendments: list[dict[str, Any]] | None = None,
        mapped: bool = True,
        won: bool = True,
    ) -> Booked:
        """Book a contract (unique number) in Salesforce and map its products."""
        number = f"T-{uuid.uuid4().hex[:8].upper()}"
        contract_lines = lines or [seat_line()]
        raw: dict[str, Any] = {
            "contract": {
                "id": number,
                "customer": {"id": f"ACC-{number}", "name": f"Customer {number}"},
                "currency": "EUR",
                "legal_entity": "EU-DE",
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "billing_frequency": "monthly",
                "lines": contract_lines,
            },
            "amendments": amendments or [],
        }
        answer = await self.seed({"scenario": raw})
        if not won:
            await self.patch("Opportunity", answer["opportunity_id"], {"StageName": "Prospecting"})
        if mapped:
            codes = {line["product_code"] for line in contract_lines}
            products = [CATALOG[code] for code in sorted(codes)]
            await map_products(self.settings, products, answer["product_ids"])
        return Booked(number, answer["opportunity_id"], answer.get("amendment_ids", {}))

    async def patch(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        async with SalesforceClient(self.settings) as salesforce:
            await salesforce.update(sobject, record_id, fields)

    # -- Temporal -----------------------------------------------------------------------

    def handle(self, booked: Booked) -> WorkflowHandle[ContractWorkflow, Any]:
        return self.client.get_workflow_handle_for(ContractWorkflow.run, booked.workflow_id)

    async def wait(
        self,
        booked: Booked,
        condition: Callable[[ContractStatus], bool],
        what: str,
        timeout: float = WAIT_SECONDS,
    ) -> ContractStatus:
        """Poll the `status` query until `condition(status)` holds (bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status = None
        while loop.time() < deadline:
            status = await self.handle(booked).query(ContractWorkflow.status)
            if condition(status):
                return status
            await asyncio.sleep(0.1)
        raise AssertionError(f"{booked.number}: not {what} within {timeout}s; last {status}")

    async def active(self, booked: Booked) -> ContractStatus:
        return await self.wait(
            booked,
            lambda s: (
                s.stage == "Active"
                and s.pending_messages == 0
                and s.processed_through == s.business_date
            ),
            "active and caught up",
        )

    async def signals(self, booked: Booked, name: str) -> int:
        """How many `name` signals the contract's history holds."""
        count = 0
        async for event in self.handle(booked).fetch_history_events():
            if event.HasField("workflow_execution_signaled_event_attributes"):
                count += event.workflow_execution_signaled_event_attributes.signal_name == name
        return count

    # -- webhooks and the CLI -----------------------------------------------------------

    async def post_salesforce(
        self, event: dict[str, Any], *, secret: str | None = None, header: str | None = None
    ) -> httpx.Response:
        body = json.dumps(event).encode()
        signed = signature.sign(body, secret or self.settings.salesforce_webhook_secret)
        return await self.http.post(
            f"{self.webhook_url}/webhooks/salesforce",
            content=body,
            headers={signature.HEADER: header if header is not None else signed},
        )

    async def q2c(self, *args: str) -> Ran:
        return await asyncio.to_thread(run_cli, list(args), self.env)


CATALOG = {
    "SEAT-PRO": Product("SEAT-PRO", "Seat", "subscription", {"EUR": Decimal("1200")}),
    "SUPPORT": Product("SUPPORT", "Support", "subscription", {"EUR": Decimal("6000")}),
}


def seat_line(quantity: int = 10, unit_price: str = "1200.00") -> dict[str, Any]:
    return {
        "id": "L1",
        "product_code": "SEAT-PRO",
        "kind": "subscription",
        "quantity": quantity,
        "unit_price": unit_price,
        "ssp": "1200.00",
    }


def run_cli(args: list[str], env: dict[str, str]) -> Ran:
    """`q2c ARGS` in this process, through the console script's error boundary."""
    runner = CliRunner()
    argv = sys.argv
    get_settings.cache_clear()
    try:
        with runner.isolation(env=env) as (out, err, _):
            sys.argv = ["q2c", *args]
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            return Ran(code, out.getvalue().decode(), err.getvalue().decode())
    finally:
        sys.argv = argv
        get_settings.cache_clear()


@pytest.fixture(scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    state = tmp_path_factory.mktemp("starter")
    settings = Settings(
        _env_file=None,
        task_queue=f"starter-{uuid.uuid4().hex[:8]}",
        database_url=f"sqlite:///{state / 'ledger.db'}",
        sandbox_host="127.0.0.1",
        sandbox_salesforce_port=0,
        sandbox_billing_port=0,
        sandbox_erp_port=0,
        sandbox_database_url=f"sqlite:///{state / 'sandbox.db'}",
        webhook_port=0,
        webhook_temporal_timeout_seconds=2.0,
        dev_ui_port=8233,
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    async with env:
        with run_in_thread(SandboxServer(settings)) as sandbox:
            urls = sandbox.urls
            settings = settings.model_copy(
                update={
                    "salesforce_url": urls["salesforce"],
                    "billing_url": urls["billing"],
                    "erp_url": urls["erp"],
                }
            )
            engine = make_engine(settings.database_url)
            async with running_worker(env.client, settings, engine):
                server = WebhookServer(settings, env.client, engine)
                webhook_url = await server.start()
                try:
                    async with httpx.AsyncClient(timeout=30) as http:
                        yield Stack(
                            env.client,
                            settings,
                            webhook_url,
                            sandbox,
                            http,
                            _cli_env(env.client, settings),
                        )
                finally:
                    await server.stop()
            engine.dispose()


def _cli_env(client: Client, settings: Settings) -> dict[str, str]:
    """The environment a user of this stack would have: TEMPORAL_* and Q2C_* pointing at it."""
    env = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "COLUMNS": "200",
    }
    for name in (
        "task_queue",
        "database_url",
        "salesforce_url",
        "billing_url",
        "erp_url",
        "dev_ui_port",
    ):
        env[f"Q2C_{name.upper()}"] = str(getattr(settings, name))
    return env


def last_month_end() -> dt.date:
    """A contract that ended then has posted everything by today: its workflow completes."""
    return days(0).replace(day=1) - dt.timedelta(days=1)


def days(n: int) -> dt.date:
    """Today plus `n` days (negative: in the past), on the workflows' UTC clock."""
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=n)
