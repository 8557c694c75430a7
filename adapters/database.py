"""The ledger's SQL engine: SQLite by default, PostgreSQL in production and in the test suite."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from adapters.settings import ConfigError

SETTING = "Q2C_DATABASE_URL"


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
