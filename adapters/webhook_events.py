"""Webhook event ids the receiver has accepted, so a redelivered event is answered 200, not redone.

An id is recorded only after its signal is durably in Temporal, so a crash in between leads to
a redelivery that signals again; the workflow ignores a message it has seen (amendment, payment
and cancellation ids), so nothing happens twice either way. The table lives in the ledger
database (`Q2C_DATABASE_URL`), which q2c owns; the insert is `ON CONFLICT DO NOTHING`, so two
concurrent deliveries of one event record it once.

Synchronous (SQLAlchemy); call it from async code through `asyncio.to_thread`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel


class WebhookEvent(SQLModel, table=True):
    """One accepted webhook event: who sent it, what it was and which contract it reached."""

    __tablename__ = "q2c_webhook_event"

    source: str = Field(sa_column=Column(String(32), primary_key=True))
    event_id: str = Field(sa_column=Column(String(255), primary_key=True))
    event_type: str = Field(sa_column=Column(String(64), nullable=False))
    workflow_id: str = Field(sa_column=Column(String(255), nullable=False))
    accepted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


EVENTS: Table = WebhookEvent.__table__  # type: ignore[attr-defined]


class WebhookEvents:
    """The accepted-event table on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def create_tables(self) -> None:
        """Create the table if it is missing; safe to call again."""
        SQLModel.metadata.create_all(self.engine, tables=[EVENTS])

    def seen(self, source: str, event_id: str) -> bool:
        query = select(EVENTS.c.event_id).where(
            EVENTS.c.source == source, EVENTS.c.event_id == event_id
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def record(self, source: str, event_id: str, event_type: str, workflow_id: str) -> bool:
        """Record an accepted event; False when it was already recorded (a concurrent twin)."""
        statement = (
            self._insert(EVENTS)
            .values(
                source=source,
                event_id=event_id,
                event_type=event_type,
                workflow_id=workflow_id,
                accepted_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(EVENTS.c.event_id)  # rowcount of an INSERT is -1 on PostgreSQL
        )
        with self.engine.begin() as conn:
            return conn.execute(statement).first() is not None
