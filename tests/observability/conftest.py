"""One observed run of the demo: every log line captured, every span kept, the metrics scraped.

The stack is the production wiring in one process: a Temporal dev server with q2c's search
attributes, the sandbox, a worker whose client carries the metrics runtime (its Prometheus
endpoint on a free port) and the tracing interceptor, the webhook receiver (traced), and the
demo's story for four contracts of its book (one stuck on a missing mapping, one amended, one
cancelled, one paid) driven through the signed webhooks. 30% of the ERP's journal posts fail
once; then a reconciliation runs, and an amendment is left waiting on the stuck contract. Every
secret is a distinctive fake value, in the settings and in the environment, so the log scan can
look for each.

Logging goes through `configure_logging` (JSON, DEBUG, every library) into a buffer; spans into
an in-memory exporter. The fixture undoes both at the end (httpx is uninstrumented, the
interceptor no longer added), so later test packages run as before.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters import temporal_client
from adapters.codec import data_converter
from adapters.database import make_engine
from adapters.observability import metrics, tracing
from adapters.observability.logging import configure_logging, contract_context
from adapters.settings import Settings
from domain.reconciliation import ReconciliationReport
from sandbox.server import SandboxServer, run_in_thread
from starter.binaries import temporal_cli
from starter.commands.dev import LocalStack
from starter.demo import run_demo
from starter.demo_book import BOOK
from starter.webhooks.server import WebhookServer
from tests.starter.conftest import Ran, run_cli
from worker import running_worker
from workflows import metrics as workflow_metrics
from workflows import search_attributes
from workflows.contract import workflow_id_for
from workflows.contract_models import AmendmentRequest, ContractStatus
from workflows.reconciliation import reconcile_contracts

DEALS = ("Q2C-1005", "Q2C-1006", "Q2C-3005", "Q2C-3006")

# Distinctive fake secrets: any of them in a log line is a leak.
SECRETS = {
    "Q2C_SALESFORCE_CLIENT_SECRET": "sfcs-OBSV-7f3Kq9ZtW2",
    "Q2C_BILLING_API_KEY": "sk_test_OBSV4n8Rj2Lm6Xp0",
    "Q2C_BILLING_WEBHOOK_SECRET": "whsec_OBSV9Tq3Hv5Yb1",
    "Q2C_ERP_CLIENT_SECRET": "erpcs-OBSV-2Wn6Gd8Pk4",
    "Q2C_SALESFORCE_WEBHOOK_SECRET": "sfwh-OBSV-5Jc1Ns7Re3",
    "Q2C_ENCRYPTION_KEY": "obsv1:" + "T0JTVi1rZXktbm90LXJlYWwtMzItYnl0ZXMtbG9uZyE=",
}


@dataclass
class Observed:
    settings: Settings
    reconciled: ReconciliationReport
    statuses: dict[str, ContractStatus]
    metrics_url: str
    logs: str
    cli: list[Ran]
    spans: list[ReadableSpan]
    env: dict[str, str] = field(default_factory=dict)

    def log_lines(self) -> list[str]:
        return [line for line in self.logs.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="package")
def secret_environment() -> Iterator[dict[str, str]]:
    saved = {name: os.environ.get(name) for name in SECRETS}
    os.environ.update(SECRETS)
    try:
        yield dict(SECRETS)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="package")
async def observed(
    tmp_path_factory: pytest.TempPathFactory, secret_environment: dict[str, str]
) -> AsyncIterator[Observed]:
    state = tmp_path_factory.mktemp("observability")
    bind = f"127.0.0.1:{_free_port()}"
    settings = Settings(
        _env_file=None,
        task_queue=f"observed-{uuid.uuid4().hex[:8]}",
        database_url=f"sqlite:///{state / 'ledger.db'}",
        sandbox_host="127.0.0.1",
        sandbox_salesforce_port=0,
        sandbox_billing_port=0,
        sandbox_erp_port=0,
        sandbox_database_url=f"sqlite:///{state / 'sandbox.db'}",
        webhook_port=0,
        metrics_bind=bind,
        metrics_refresh_seconds=0.5,
        log_format="json",
        # Some ERP journal posts fail (a 500 before anything is stored): `retrying` outcomes.
        sandbox_faults=json.dumps(
            {"erp": [{"route": "*/journalEntry*", "method": "POST", "error_rate": 0.3}], "seed": 7}
        ),
    )
    assert settings.billing_api_key == SECRETS["Q2C_BILLING_API_KEY"]  # from the environment

    buffer = io.StringIO()
    handler = configure_logging(settings, "q2c-test", level=logging.DEBUG, stream=buffer)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_cli()),
            search_attributes=search_attributes.ALL,
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
        )
        async with env:
            runtime = metrics.metrics_runtime(bind)
            assert runtime is not None
            target = env.client.service_client.config.target_host
            client = await temporal_client.connect(
                target_host=target,
                namespace=env.client.namespace,
                runtime=runtime,
                data_converter=data_converter(settings),  # encrypted, with the fake key
            )
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
                async with running_worker(
                    client, settings, engine, metrics_meter=runtime.metric_meter
                ):
                    server = WebhookServer(settings, client, engine)
                    webhook_url = await server.start()
                    try:
                        local = LocalStack(client, settings, "http://127.0.0.1:8233", webhook_url)
                        deals = [d for d in BOOK if d.number in DEALS]
                        statuses = await run_demo(local, deals)
                        cli_env = {
                            **secret_environment,
                            "TEMPORAL_ADDRESS": target,
                            "TEMPORAL_NAMESPACE": env.client.namespace,
                            "Q2C_TASK_QUEUE": settings.task_queue,
                            "Q2C_DATABASE_URL": settings.database_url,
                            "Q2C_SALESFORCE_URL": settings.salesforce_url,
                            "Q2C_BILLING_URL": settings.billing_url,
                            "Q2C_ERP_URL": settings.erp_url,
                            "COLUMNS": "200",
                        }
                        stuck = statuses["Q2C-3005"].contract_id
                        ran = [
                            await asyncio.to_thread(run_cli, args, cli_env)
                            for args in (
                                ["stuck"],
                                ["status", stuck],
                                ["doctor", "--timeout", "20"],
                            )
                        ]
                        # The daily reconciliation, run now: its mismatch gauge joins the page.
                        reconciled = await reconcile_contracts(
                            client, task_queue=settings.task_queue
                        )
                        careless_lines(settings, statuses["Q2C-1005"].contract_id)
                        # An amendment for the contract parked at activation waits: backlog 1.
                        await client.get_workflow_handle(
                            workflow_id_for(statuses["Q2C-3005"].contract_id)
                        ).signal("amendment", AmendmentRequest(amendment_id="AMD-OBSV-WAITING"))
                        await _until(lambda: workflow_metrics.backlog_total() == 1)
                        # Two refreshes of the gauges after that.
                        await asyncio.sleep(2 * settings.metrics_refresh_seconds + 0.5)
                    finally:
                        await server.stop()
                engine.dispose()
    finally:
        logging.getLogger().removeHandler(handler)
        provider.force_flush()
        _uninstall_tracing()
    (state / "logs.jsonl").write_text(buffer.getvalue())  # to read when a test fails
    yield Observed(
        settings=settings,
        reconciled=reconciled,
        statuses=statuses,
        metrics_url=f"http://{bind}/metrics",
        logs=buffer.getvalue(),
        cli=ran,
        spans=list(exporter.get_finished_spans()),
    )


CARD, IBAN = "4242 4242 4242 4242", "DE89 3704 0044 0532 0130 00"  # test card, example IBAN


def careless_lines(settings: Settings, contract_id: str) -> None:
    """What careless code would log: the settings, request headers, a card, an exception that
    quotes a key, secret extras. The redaction must catch all of it (the scan reads these too)."""
    careless = logging.getLogger("q2c.careless")
    with contract_context(f"contract-{contract_id}"):
        careless.info("starting with %s", settings)
        careless.warning(
            "vendor call failed; request headers %s",
            {
                "Authorization": f"Bearer {SECRETS['Q2C_BILLING_API_KEY']}",
                "X-Q2C-Signature": "t=1,v1=" + "ab" * 32,
            },
        )
        careless.info("card on file %s, refunds to %s", CARD, IBAN)
        try:
            raise RuntimeError(f"token request refused for {SECRETS['Q2C_ERP_CLIENT_SECRET']}")
        except RuntimeError:
            careless.exception("ERP token")
        careless.info(
            "oauth form",
            extra={
                "client_secret": SECRETS["Q2C_SALESFORCE_CLIENT_SECRET"],
                "form": {"password": "hunter2-obsv"},
            },
        )


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait (bounded) until `condition()` holds: the worker handles the signal on its own time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def _uninstall_tracing() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    tracing._state.update(provider=None, httpx=False)


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.text
