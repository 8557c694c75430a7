"""`q2c_reconciliation_mismatches{kind}` is the last run recorded in the ledger, on every worker.

Two workers' gauges (two runtimes, two Prometheus endpoints, one ledger), neither of which ran
the reconciliation (the runs are recorded in the ledger as `record_run` does): after a refresh
both report the newest run's differences by check, 0 for the other checks; after a later clean
run, 0 on both; before any run, no series at all. The counts by kind are read with SQL on
SQLite and PostgreSQL. Refreshes are called directly (no waiting on the interval).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.database import make_engine
from adapters.observability import metrics
from adapters.reconciliation_store import ReconciliationStore
from adapters.settings import Settings
from domain.reconciliation import (
    KINDS,
    ContractReconciliation,
    Difference,
    ReconciliationReport,
    ReconKind,
)
from starter.binaries import temporal_cli
from tests.observability.conftest import _free_port
from worker import contract_gauges
from workflows import search_attributes

AS_OF = dt.date(2026, 6, 15)
T0 = dt.datetime(2026, 6, 15, 2, 0, tzinfo=dt.UTC)


def _report(run_id: str, started: dt.datetime, kinds: list[ReconKind]) -> ReconciliationReport:
    """A run over two contracts: the first has one difference per entry of `kinds`."""
    differences = [
        Difference(
            kind=kind,
            amount=Decimal("10.00"),
            expected=Decimal("100.00"),
            actual=Decimal("110.00"),
            records=[f"record {i}"],
        )
        for i, kind in enumerate(kinds)
    ]
    contracts = [
        ContractReconciliation(
            workflow_id=f"contract-006{n}",
            opportunity_id=f"006{n}",
            contract_id=f"OPP-{n}",
            currency="EUR",
            as_of=AS_OF,
            status="Mismatch" if n == "A" and kinds else "Clean",
            differences=differences if n == "A" else [],
        )
        for n in ("A", "B")
    ]
    return ReconciliationReport(run_id=run_id, as_of=AS_OF, started=started, contracts=contracts)


@pytest.fixture
def store(ledger_url: str) -> Iterator[ReconciliationStore]:
    engine = make_engine(ledger_url)
    store = ReconciliationStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


def test_differences_by_kind_counts_one_run_only(store: ReconciliationStore) -> None:
    store.record_run(_report("r-1", T0, ["revenue", "revenue", "deferred"]), T0)
    store.record_run(_report("r-2", T0 + dt.timedelta(days=1), ["bookings"]), T0)
    assert store.differences_by_kind("r-1") == {"revenue": 2, "deferred": 1}
    assert store.differences_by_kind("r-2") == {"bookings": 1}
    assert store.differences_by_kind("no-such-run") == {}


# -- two workers' endpoints ------------------------------------------------------------------


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[Client]:
    """Visibility for the gauges' parked-contract count (nothing is parked here)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    async with env:
        yield env.client


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    ReconciliationStore(engine).create_tables()  # as the worker does at start
    yield engine
    engine.dispose()


async def _gauge(bind: str) -> dict[str, float]:
    """`kind → value` of q2c_reconciliation_mismatches on one worker's endpoint."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"http://{bind}/metrics")
        response.raise_for_status()
    found: dict[str, float] = {}
    for line in response.text.splitlines():
        match = re.match(rf"^{metrics.RECONCILIATION_MISMATCHES}\{{([^}}]*)\}} (\S+)$", line)
        if match:
            kind = re.search(r'kind="([^"]+)"', match.group(1))
            assert kind is not None, line
            assert kind.group(1) not in found, f"two series for one kind: {line}"
            found[kind.group(1)] = float(match.group(2))
    return found


@pytest.mark.devserver
async def test_every_worker_reports_the_last_recorded_run(temporal: Client, ledger: Engine) -> None:
    settings = Settings(_env_file=None, metrics_refresh_seconds=3600)
    binds = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    workers = []
    for bind in binds:
        runtime = metrics.metrics_runtime(bind)
        assert runtime is not None
        workers.append(contract_gauges(temporal, settings, runtime.metric_meter, ledger))

    # No run recorded yet: the gauge has no series (no false zero, no false alarm).
    for worker in workers:
        assert worker.reconciliation is not None
        assert await worker.reconciliation.refresh() is None
        await worker.refresh()
    for bind in binds:
        assert await _gauge(bind) == {}

    # A run that found drift, recorded (by a worker neither of these is): both report it.
    store = ReconciliationStore(ledger)
    store.record_run(_report("recon-1", T0, ["billing_vs_ar", "deferred", "deferred"]), T0)
    drift = {**dict.fromkeys(KINDS, 0.0), "billing_vs_ar": 1.0, "deferred": 2.0}
    for worker in workers:
        await worker.refresh()
    for bind in binds:
        assert await _gauge(bind) == drift

    # An older run recorded late changes nothing: the newest run is the one reported.
    store.record_run(_report("recon-0", T0 - dt.timedelta(days=1), ["revenue"]), T0)
    for worker in workers:
        await worker.refresh()
    for bind in binds:
        assert await _gauge(bind) == drift

    # The next run is clean: every check drops to 0 on both workers after their refresh.
    store.record_run(_report("recon-2", T0 + dt.timedelta(days=1), []), T0)
    for worker in workers:
        await worker.refresh()
    for bind in binds:
        assert await _gauge(bind) == dict.fromkeys(KINDS, 0.0)


@pytest.mark.devserver
async def test_a_ledger_that_cannot_be_read_is_logged_once_and_the_rest_refreshes(
    temporal: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No reconciliation table (a ledger not migrated): the parked-contract count goes on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    try:
        runtime = metrics.metrics_runtime(f"127.0.0.1:{_free_port()}")
        assert runtime is not None
        settings = Settings(_env_file=None, metrics_refresh_seconds=3600)
        gauges = contract_gauges(temporal, settings, runtime.metric_meter, engine)
        with pytest.raises(Exception, match="q2c_recon_run"):
            await gauges.refresh()
        assert await gauges.refresh_attention() == {}
        assert gauges.reconciliation is not None
        for _ in range(2):
            await gauges._guarded(
                "cannot read the last reconciliation run", gauges.reconciliation.refresh
            )
        warned = [r for r in caplog.records if "last reconciliation run" in r.getMessage()]
        assert len(warned) == 1, warned
        assert "q2c_recon_run" in warned[0].getMessage()
    finally:
        engine.dispose()
