"""q2c's own ledger: effect records keyed by idempotency key, and an append-only audit trail.

Layer 2 of DESIGN.md §4: an activity looks its key up before calling an outside system and
records the response after. Concurrent writers are made safe by the database, not by
read-then-write: the insert is `INSERT … ON CONFLICT DO NOTHING` on the primary key, and a
loser reads the winner's row. The audit trail has no update or delete API, and both PostgreSQL
and SQLite refuse UPDATE and DELETE on it with triggers (PostgreSQL also refuses TRUNCATE);
only dropping the table, or a superuser disabling triggers, gets past that.

The API is synchronous (SQLAlchemy sessions): call it from sync activities, which Temporal runs
on the worker's thread pool, or from async code through `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, Column, DateTime, Engine, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.database import create_schema, serial_id
from adapters.errors import IdempotencyConflictError

SYSTEM = "ledger"
JsonObject = dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every datetime the ledger returns is aware UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EffectRecord(SQLModel, table=True):
    """One outside effect, done once: what was asked (its hash) and what came back."""

    __tablename__ = "q2c_effect"

    key: str = Field(sa_column=Column(String(512), primary_key=True))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))
    response: JsonObject = Field(sa_column=Column(JSON, nullable=False))
    system: str = Field(sa_column=Column(String(64), nullable=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    contract_id: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class AuditEvent(SQLModel, table=True):
    """One line of a contract's audit trail; never changed once written."""

    __tablename__ = "q2c_audit_event"

    id: int | None = serial_id()
    contract_id: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    event: str = Field(sa_column=Column(String(128), nullable=False))
    detail: JsonObject = Field(sa_column=Column(JSON, nullable=False))
    recorded_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


EFFECTS = _table(EffectRecord)
AUDIT = _table(AuditEvent)

_PG_GUARD = [
    """
    CREATE OR REPLACE FUNCTION q2c_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'q2c_audit_event is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    "DROP TRIGGER IF EXISTS q2c_audit_no_change ON q2c_audit_event",
    """
    CREATE TRIGGER q2c_audit_no_change BEFORE UPDATE OR DELETE ON q2c_audit_event
    FOR EACH ROW EXECUTE FUNCTION q2c_audit_append_only()
    """,
    "DROP TRIGGER IF EXISTS q2c_audit_no_truncate ON q2c_audit_event",
    """
    CREATE TRIGGER q2c_audit_no_truncate BEFORE TRUNCATE ON q2c_audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION q2c_audit_append_only()
    """,
]
_SQLITE_GUARD = [
    f"""
    CREATE TRIGGER IF NOT EXISTS q2c_audit_no_{op.lower()} BEFORE {op} ON q2c_audit_event
    BEGIN SELECT RAISE(ABORT, 'q2c_audit_event is append-only ({op} refused)'); END
    """
    for op in ("UPDATE", "DELETE")
]


def request_hash(payload: Any) -> str:
    """SHA-256 of the payload's canonical JSON (sorted keys, no spaces), stable across runs.

    Decimals, dates and pydantic models are made JSON-able the way pydantic does (Decimal as
    its string, so `Decimal("1.0")` and `Decimal("1.00")` hash differently, as they should for
    money sent to a vendor).
    """
    canonical = json.dumps(
        to_jsonable_python(payload),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class Ledger:
    """Effect records and audit trail on one SQLAlchemy engine (see `adapters.database`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"ledger: unsupported database {self._dialect!r}")

    def create_tables(self) -> None:
        """Create the tables and the append-only guards; safe to call again, also by several
        workers starting at once (`adapters.database.create_schema`)."""
        guard = _PG_GUARD if self._dialect == "postgresql" else _SQLITE_GUARD
        create_schema(self.engine, [EFFECTS, AUDIT], guard)

    # effects

    def lookup(self, key: str) -> EffectRecord | None:
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.get(EffectRecord, key)
            return _fix_effect(found) if found is not None else None

    def record(
        self,
        key: str,
        request_hash: str,
        response_json: Mapping[str, Any],
        system: str,
        kind: str,
        contract_id: str,
    ) -> EffectRecord:
        """Record an effect once. A concurrent or earlier record of the same key wins: with the
        same request hash its record is returned (whatever this caller's response was), with
        another hash `IdempotencyConflictError` is raised."""
        row = EffectRecord(
            key=key,
            request_hash=request_hash,
            response=to_jsonable_python(dict(response_json)),
            system=system,
            kind=kind,
            contract_id=contract_id,
        )
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        values = {column.name: getattr(row, column.name) for column in EFFECTS.columns}
        # RETURNING says whether this insert made the row: an INSERT's rowcount is not kept by
        # SQLAlchemy on PostgreSQL (-1), which made every record read its own row back.
        statement = (
            insert(EFFECTS)
            .values(values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(EFFECTS.c.key)
        )
        with self.engine.begin() as conn:
            inserted = conn.execute(statement).first() is not None
        if inserted:
            return row
        existing = self.lookup(key)
        if existing is None:  # pragma: no cover - only if someone deleted it in between
            raise RuntimeError(f"ledger: effect {key!r} conflicted but is gone")
        if existing.request_hash != request_hash:
            raise IdempotencyConflictError(
                SYSTEM,
                f"key {key!r} was recorded for another request "
                f"({existing.request_hash[:12]}…, now {request_hash[:12]}…)",
                code="idempotency_conflict",
            )
        return existing

    def effects_for(self, contract_id: str) -> list[EffectRecord]:
        """Every effect recorded for the contract, oldest first."""
        query = (
            select(EffectRecord)
            .where(EffectRecord.contract_id == contract_id)
            .order_by(col(EffectRecord.created_at), col(EffectRecord.key))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return [_fix_effect(r) for r in session.exec(query).all()]

    # audit trail

    def audit(
        self, contract_id: str, event: str, detail: Mapping[str, Any] | None = None
    ) -> AuditEvent:
        """Append one event to the contract's trail (there is no way to change it after)."""
        row = AuditEvent(
            contract_id=contract_id,
            event=event,
            detail=to_jsonable_python(dict(detail or {})),
        )
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
        return _fix_audit(row)

    def audit_trail(self, contract_id: str) -> Sequence[AuditEvent]:
        """The contract's trail in the order it was written."""
        query = (
            select(AuditEvent)
            .where(AuditEvent.contract_id == contract_id)
            .order_by(col(AuditEvent.id))
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return [_fix_audit(r) for r in session.exec(query).all()]


def _fix_effect(row: EffectRecord) -> EffectRecord:
    row.created_at = _utc(row.created_at)
    return row


def _fix_audit(row: AuditEvent) -> AuditEvent:
    row.recorded_at = _utc(row.recorded_at)
    return row
