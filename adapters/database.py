"""The ledger's SQL engine: SQLite by default, PostgreSQL in production and in the test suite."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Table, create_engine, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import Field, SQLModel

from adapters.settings import ConfigError

SETTING = "Q2C_DATABASE_URL"
SCHEMA_LOCK = 0x71326300  # "q2c\0": the advisory lock of ledger schema changes


def parse_database_url(url: str) -> URL:
    """Accept `sqlite:///path` and `postgresql://…` (driven by psycopg 3); refuse anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{SETTING}: not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ConfigError(f"{SETTING}: unsupported database {backend!r} (use sqlite or postgresql)")


def make_engine(url: str) -> Engine:
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)


def check_database(engine: Engine) -> str:
    """Round-trip to the database; a failure becomes one line naming the setting."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0]
        safe = engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"{SETTING}: cannot reach {safe}: {reason}") from None
    return engine.url.get_backend_name()


def create_schema(engine: Engine, tables: Sequence[Table], then: Sequence[str] = ()) -> None:
    """Create `tables` if they are missing, then run the DDL statements `then`, in one
    transaction. Safe to call again, also by several workers starting at once: on PostgreSQL
    they take turns on the advisory lock `SCHEMA_LOCK`; SQLite, which has none, looks again
    after losing the race. A SQLite file is put in WAL mode (persistent in the file): readers
    no longer wait for the writer, and writers queue on the busy timeout `make_engine` sets."""
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
                else:
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                SQLModel.metadata.create_all(conn, tables=list(tables))
                for statement in then:
                    conn.execute(text(statement))
            return
        except OperationalError as exc:
            if "already exists" not in str(exc) or attempt == 2:
                raise


def serial_id() -> Any:
    """An autoincrement primary key for a SQLModel table: BIGINT on PostgreSQL, INTEGER on
    SQLite (the only type SQLite autoincrements, as its rowid)."""
    return Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(sqlite.INTEGER(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
    )
