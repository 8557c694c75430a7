"""The run history in the ledger, on SQLite and PostgreSQL: a run and its differences recorded
once (a retried activity writes nothing twice), read back exactly (amounts as the same
Decimals, records in order), newest run first; and the contracts the ledger knows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from adapters.database import make_engine
from adapters.ledger import Ledger
from adapters.reconciliation_store import ReconciliationStore
from domain.reconciliation import ContractReconciliation, Difference, ReconciliationReport

AS_OF = dt.date(2026, 6, 15)


@pytest.fixture
def engine(ledger_url: str) -> Iterator[Engine]:
    engine = make_engine(ledger_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> ReconciliationStore:
    store = ReconciliationStore(engine)
    store.create_tables()
    store.create_tables()  # again: nothing to do
    return store


def report(run_id: str, started: dt.datetime, *, drift: bool) -> ReconciliationReport:
    differences = [
        Difference(
            kind="billing_vs_ar",
            amount=Decimal("1000.00"),
            expected=Decimal("29000.00"),
            actual=Decimal("30000.00"),
            records=["invoice in_1 (void)", "journal 17"],
            detail="billing holds 29000.00",
        ),
        Difference(
            kind="bookings",
            amount=Decimal("-0.001"),
            expected=Decimal("12.345"),
            actual=Decimal("12.344"),
            records=["opportunity 006A", "line L1"],
        ),
    ]
    contracts = [
        ContractReconciliation(
            workflow_id="contract-006A",
            opportunity_id="006A",
            contract_id="OPP-1",
            currency="KWD",
            as_of=AS_OF,
            status="Mismatch" if drift else "Clean",
            differences=differences if drift else [],
        ),
        ContractReconciliation(
            workflow_id="contract-006B",
            opportunity_id="006B",
            contract_id="OPP-2",
            currency="EUR",
            as_of=AS_OF,
            status="Clean",
        ),
    ]
    return ReconciliationReport(run_id=run_id, as_of=AS_OF, started=started, contracts=contracts)


def test_runs_and_differences_are_recorded_once(store: ReconciliationStore) -> None:
    first = dt.datetime(2026, 6, 15, 2, tzinfo=dt.UTC)
    second = first + dt.timedelta(days=1)
    assert store.record_run(report("reconciliation-daily/r1", first, drift=False), first)
    drifted = report("reconciliation-daily/r2", second, drift=True)
    finished = second + dt.timedelta(seconds=42)
    assert store.record_run(drifted, finished)
    assert not store.record_run(drifted, finished)  # a retried activity: nothing twice

    runs = store.runs()
    assert [r.run_id for r in runs] == ["reconciliation-daily/r2", "reconciliation-daily/r1"]
    latest = runs[0]
    assert (latest.as_of, latest.contracts, latest.mismatches) == (AS_OF, 2, 2)
    assert latest.mismatched_contracts == 1
    assert latest.started == second and latest.finished == finished
    assert latest.started.tzinfo is not None

    rows = store.differences("reconciliation-daily/r2")
    assert [(r.kind, r.amount_decimal, r.currency) for r in rows] == [
        ("billing_vs_ar", Decimal("1000.00"), "KWD"),
        ("bookings", Decimal("-0.001"), "KWD"),
    ]
    assert rows[0].records == ["invoice in_1 (void)", "journal 17"]
    assert (rows[1].expected, rows[1].actual) == ("12.345", "12.344")
    assert store.differences("reconciliation-daily/r1") == []
    assert store.run("nope") is None


def test_contracts_the_ledger_knows(engine: Engine, store: ReconciliationStore) -> None:
    ledger = Ledger(engine)
    ledger.create_tables()
    for key, contract in (
        ("contract-006A:invoice:2026-01-15", "OPP-1"),
        ("contract-006A:journal:invoice:2026-01-15", "OPP-1"),
        ("contract-006B:term-2:invoice:2027-01-15", "OPP-2"),
        ("customer:ACC-1:billing", "OPP-1"),
    ):
        ledger.record(
            key, "0" * 64, {"id": "x"}, system="billing", kind="invoice", contract_id=contract
        )
    assert store.contract_workflows() == ["contract-006A", "contract-006B"]
