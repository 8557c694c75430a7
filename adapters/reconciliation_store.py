"""The history of reconciliation runs in q2c's ledger (SQLite or PostgreSQL, like the ledger).

One row per run (`q2c_recon_run`: run id, as-of date, when it started and finished, how many
contracts it compared and how many mismatches it found) and one row per difference found
(`q2c_recon_difference`: contract, check, amount, expected and actual, the records involved).
Recording a run is idempotent: a run id already recorded is left as it is, so a retried
activity never writes a run twice. Synchronous, like the ledger: call it through
`asyncio.to_thread` from async code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    func,
    literal,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.database import create_schema, serial_id
from adapters.ledger import EffectRecord
from domain.reconciliation import ReconciliationReport


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class ReconciliationRun(SQLModel, table=True):
    """One reconciliation run."""

    __tablename__ = "q2c_recon_run"

    run_id: str = Field(sa_column=Column(String(200), primary_key=True))
    as_of: dt.date = Field(sa_column=Column(Date, nullable=False))
    started: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    contracts: int = Field(sa_column=Column(Integer, nullable=False))
    mismatches: int = Field(sa_column=Column(Integer, nullable=False))
    mismatched_contracts: int = Field(sa_column=Column(Integer, nullable=False))


class ReconciliationDifference(SQLModel, table=True):
    """One difference a run found (amounts as exact decimal strings in minor units)."""

    __tablename__ = "q2c_recon_difference"

    id: int | None = serial_id()
    run_id: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    workflow_id: str = Field(sa_column=Column(String(255), nullable=False, index=True))
    contract_id: str = Field(sa_column=Column(String(128), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    amount: str = Field(sa_column=Column(String(64), nullable=False))
    expected: str = Field(sa_column=Column(String(64), nullable=False))
    actual: str = Field(sa_column=Column(String(64), nullable=False))
    records: list[str] = Field(sa_column=Column(JSON, nullable=False))
    detail: str = Field(sa_column=Column(Text, nullable=False))

    @property
    def amount_decimal(self) -> Decimal:
        return Decimal(self.amount)


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


RUNS = _table(ReconciliationRun)
DIFFERENCES = _table(ReconciliationDifference)
EFFECTS = _table(EffectRecord)


class ReconciliationStore:
    """Runs and differences on the ledger's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def create_tables(self) -> None:
        """Create the two tables if missing (several workers at once: see create_schema)."""
        create_schema(self.engine, [RUNS, DIFFERENCES])

    def record_run(self, report: ReconciliationReport, finished: dt.datetime) -> bool:
        """Store a run and its differences once; False when the run id was recorded before."""
        row: dict[str, Any] = {
            "run_id": report.run_id,
            "as_of": report.as_of,
            "started": report.started,
            "finished": finished,
            "contracts": report.compared,
            "mismatches": report.mismatches,
            "mismatched_contracts": sum(1 for c in report.contracts if c.differences),
        }
        insert = (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(RUNS)
        with self.engine.begin() as conn:
            made = conn.execute(
                insert.values(**row)
                .on_conflict_do_nothing(index_elements=["run_id"])
                .returning(RUNS.c.run_id)
            ).first()
            if made is None:  # recorded before (a retried activity)
                return False
            rows = [
                {
                    "run_id": report.run_id,
                    "workflow_id": contract.workflow_id,
                    "contract_id": contract.contract_id,
                    "kind": difference.kind,
                    "currency": contract.currency,
                    "amount": str(difference.amount),
                    "expected": str(difference.expected),
                    "actual": str(difference.actual),
                    "records": list(difference.records),
                    "detail": difference.detail,
                }
                for contract, difference in report.differences
            ]
            if rows:
                conn.execute(DIFFERENCES.insert(), rows)
        return True

    def runs(self, limit: int = 20) -> Sequence[ReconciliationRun]:
        """The latest runs, newest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.exec(
                select(ReconciliationRun)
                .order_by(col(ReconciliationRun.started).desc(), col(ReconciliationRun.run_id))
                .limit(limit)
            ).all()
            for run in found:
                run.started = _utc(run.started)
                run.finished = _utc(run.finished)
            return found

    def run(self, run_id: str) -> ReconciliationRun | None:
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.get(ReconciliationRun, run_id)
            if found is not None:
                found.started = _utc(found.started)
                found.finished = _utc(found.finished)
            return found

    def differences(self, run_id: str) -> Sequence[ReconciliationDifference]:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.exec(
                select(ReconciliationDifference)
                .where(col(ReconciliationDifference.run_id) == run_id)
                .order_by(col(ReconciliationDifference.id))
            ).all()

    def differences_by_kind(self, run_id: str) -> dict[str, int]:
        """How many differences a run found, by check (kinds with none are left out)."""
        kind = col(ReconciliationDifference.kind)
        with Session(self.engine) as session:
            found = session.exec(
                select(kind, func.count())
                .where(col(ReconciliationDifference.run_id) == run_id)
                .group_by(kind)
            ).all()
        return {str(name): int(count) for name, count in found}

    def contract_workflows(self) -> list[str]:
        """Workflow ids of every contract with an effect in the ledger (`contract-<opp>`)."""
        key = col(EffectRecord.key)
        if self._dialect == "postgresql":
            head = func.split_part(key, literal(":"), literal(1))
        else:
            head = func.substr(key, 1, func.instr(key, ":") - 1)
        with Session(self.engine) as session:
            found = session.exec(select(head).where(key.like("contract-%:%")).distinct()).all()
        return sorted(str(value) for value in found if value)
