"""Every setting q2c reads, from the environment and `.env`, with the defaults of `.env.example`.

Temporal's own connection settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_TLS*, TEMPORAL_PROFILE) are read by `temporalio.envconfig`, not here, so that q2c
connects exactly like the Temporal CLI does.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dotenv import load_dotenv
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing, malformed or points at something unreachable; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="Q2C_", env_file=".env", extra="ignore")

    state_dir: Path = Field(Path(".q2c"), description="Local state: dev-server history, ledger.")
    database_url: str = Field(
        "sqlite:///.q2c/ledger.db", description="Ledger database (SQLite or PostgreSQL URL)."
    )
    task_queue: str = Field("q2c-contracts", description="Task queue of the contract worker.")
    dev_temporal_port: int = Field(7233, ge=1, le=65535, description="`q2c dev` gRPC port.")
    dev_ui_port: int = Field(8233, ge=1, le=65535, description="`q2c dev` Web UI port.")


def load_environment() -> None:
    """Load `.env` into the process environment (never overriding what is set) for envconfig."""
    load_dotenv(Path.cwd() / ".env", override=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    load_environment()
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "Q2C_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(f"{name}: {first['msg']} (got {first.get('input')!r})") from None
