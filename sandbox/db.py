"""The sandbox's SQL storage: one SQLModel metadata shared by every sandbox app.

The sandbox tables live in a registry of their own, so creating them never touches the ledger's
tables (which use SQLModel's default metadata) and vice versa.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, insert, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel

SETTING = "Q2C_SANDBOX_DATABASE_URL"


class SandboxModel(SQLModel, registry=registry()):
    """Base of every sandbox table (`class Foo(SandboxModel, table=True)`)."""


class SandboxSequence(SandboxModel, table=True):
    """Counters behind the ids the sandboxes hand out, so ids are deterministic after a reset."""

    __tablename__ = "sandbox_sequence"

    name: str = Field(primary_key=True)
    value: int = 0


def next_value(session: Session, name: str) -> int:
    """The next value of a named counter (1, 2, ...), inside the caller's transaction.

    Core statements on the session's connection: no ORM flush per id handed out.
    """
    conn = session.connection()
    table = SandboxSequence.__table__  # type: ignore[attr-defined]
    bumped = conn.execute(
        update(table)
        .where(table.c.name == name)
        .values(value=table.c.value + 1)
        .returning(table.c.value)
    ).scalar()
    if bumped is None:
        conn.execute(insert(table).values(name=name, value=1))
        return 1
    return int(bumped)


def clear_sequences(engine: Engine, prefix: str) -> None:
    """Restart the counters whose name starts with `prefix` (an app's reset)."""
    with engine.begin() as conn:
        table = SandboxSequence.__table__  # type: ignore[attr-defined]
        conn.execute(delete(table).where(table.c.name.startswith(prefix)))


def make_sandbox_engine(url: str) -> Engine:
    """An engine for `sqlite://` (in memory, shared by all threads), a SQLite file, or any URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if not parsed.database or parsed.database == ":memory:":
        # "In memory" is a throwaway file: one shared in-memory connection would let one app's
        # commit or rollback act on another app's open transaction under concurrent requests.
        folder = Path(tempfile.mkdtemp(prefix="q2c-sandbox-"))
        atexit.register(shutil.rmtree, folder, True)
        parsed = parsed.set(database=str(folder / "sandbox.db"))
    Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    return engine


def create_all(engine: Engine) -> None:
    """Create every sandbox table that does not exist yet (all apps' models must be imported)."""
    SandboxModel.metadata.create_all(engine)


def clear_tables(engine: Engine, *models: type[SandboxModel]) -> None:
    """Delete every row of the given tables, in one transaction (the apps' `reset`)."""
    with engine.begin() as conn:
        for model in models:
            conn.execute(delete(model.__table__))  # type: ignore[attr-defined]
