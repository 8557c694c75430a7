"""Every setting q2c reads, from the environment and `.env`, with the defaults of `.env.example`.

Temporal's own connection settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
TEMPORAL_TLS*, TEMPORAL_PROFILE) are read by `temporalio.envconfig`, not here, so that q2c
connects exactly like the Temporal CLI does.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from dotenv import load_dotenv
from pydantic import Field, SecretStr, ValidationError
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
    http_timeout_seconds: float = Field(10.0, gt=0, description="Per-request timeout to vendors.")
    reconciliation_schedule: str = Field(
        "0 2 * * *",
        description="When the `reconciliation-daily` Schedule runs: cron (UTC) or an interval "
        'such as 6h or 1d (docs/OPERATIONS.md "Reconciliation").',
    )

    # Worker tuning (`q2c worker`); defaults are the Temporal SDK's, see docs/DEPLOYMENT.md
    worker_max_concurrent_activities: int = Field(
        100, ge=1, description="Activity tasks one worker process runs at once."
    )
    worker_max_concurrent_workflow_tasks: int = Field(
        100, ge=2, description="Workflow tasks one worker process runs at once."
    )
    worker_sticky_cache_size: int = Field(
        500,
        ge=0,
        description="Workflows kept in memory (sticky cache); 0 disables it. ~0.16 MB each.",
    )
    worker_workflow_task_pollers: int = Field(
        5, ge=2, description="Concurrent long polls for workflow tasks."
    )
    worker_activity_task_pollers: int = Field(
        5, ge=1, description="Concurrent long polls for activity tasks."
    )

    # Salesforce (REST API, OAuth 2.0 client credentials)
    salesforce_url: str = Field("http://127.0.0.1:8701", description="Instance base address.")
    salesforce_api_version: str = Field("v62.0", description="REST API version segment.")
    salesforce_client_id: str = Field("q2c-sandbox-client", description="Connected app id.")
    salesforce_client_secret: str = Field("q2c-sandbox-secret", description="Connected app secret.")

    # Billing platform (Stripe API shape)
    billing_url: str = Field("http://127.0.0.1:8702", description="API base address.")
    billing_api_key: str = Field("sk_test_q2c_sandbox", description="Secret API key (sk_...).")
    billing_webhook_secret: str = Field("whsec_q2c_sandbox", description="Webhook signing secret.")

    # ERP (NetSuite REST shape, OAuth 2.0 client credentials)
    erp_url: str = Field("http://127.0.0.1:8703", description="Account base address.")
    erp_client_id: str = Field("q2c-sandbox-client", description="Integration client id.")
    erp_client_secret: str = Field("q2c-sandbox-secret", description="Integration secret.")
    erp_certificate_id: str = Field(
        "", description="Certificate ID of the client-credentials mapping (JWT `kid`)."
    )
    erp_private_key_path: str = Field(
        "", description="PEM private key signing the token request (PS256); empty: secret."
    )

    # Local sandbox of the three systems (`q2c sandbox`, `q2c dev`)
    sandbox_host: str = Field("127.0.0.1", description="Address the sandbox apps listen on.")
    sandbox_salesforce_port: int = Field(8701, ge=0, le=65535, description="0 picks a free port.")
    sandbox_billing_port: int = Field(8702, ge=0, le=65535, description="0 picks a free port.")
    sandbox_erp_port: int = Field(8703, ge=0, le=65535, description="0 picks a free port.")
    sandbox_database_url: str = Field(
        "sqlite:///.q2c/sandbox.db", description="Sandbox state (sqlite:// for in memory)."
    )
    sandbox_token_ttl_seconds: int = Field(3600, gt=0, description="Lifetime of sandbox tokens.")
    sandbox_faults: str = Field("", description="Fault rules as JSON (see sandbox/faults.py).")

    # Webhook receiver (`q2c webhook`, `q2c dev`)
    webhook_host: str = Field("127.0.0.1", description="Address the webhook receiver listens on.")
    webhook_port: int = Field(8704, ge=0, le=65535, description="0 picks a free port.")
    salesforce_webhook_secret: str = Field(
        "q2c-sandbox-webhook-secret", description="Signs X-Q2C-Signature (HMAC-SHA256)."
    )
    salesforce_webhook_secret_previous: str = Field(
        "", description="Also accepted while senders move to the new secret (rotation)."
    )
    webhook_tolerance_seconds: int = Field(
        300, gt=0, description="Oldest signature timestamp accepted (replay window)."
    )
    webhook_temporal_timeout_seconds: float = Field(
        5.0, gt=0, description="Wait for Temporal before answering 503 + Retry-After."
    )
    webhook_max_body_bytes: int = Field(
        1_048_576, gt=0, description="Largest webhook body read; a larger one is answered 413."
    )
    temporal_ui_url: str = Field(
        "", description="Web UI base for links (`q2c stuck`); empty: the `q2c dev` UI."
    )

    # Catalog sync (`q2c catalog`, docs/OPERATIONS.md "Catalog sync")
    catalog_sync_interval_seconds: int = Field(
        3600, ge=60, description="How often the `catalog-sync` Schedule runs the sync."
    )

    # Observability (docs/OPERATIONS.md "Metrics, traces and logs")
    metrics_bind: str = Field(
        "127.0.0.1:9464", description="Worker's Prometheus endpoint (host:port); empty: off."
    )
    metrics_refresh_seconds: float = Field(
        30.0, gt=0, description="How often the worker counts parked contracts for its gauges."
    )
    otlp_endpoint: str = Field(
        "", description="OTLP/HTTP collector base for traces; empty: OTEL_EXPORTER_OTLP_ENDPOINT."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="Worker and webhook receiver log lines: json or text."
    )

    # Payload encryption (adapters/codec.py) and its codec server (`q2c codec-server`)
    encryption_key: SecretStr = Field(
        SecretStr(""), description="<key id>:<base64 of 32 bytes>; empty: payloads unencrypted."
    )
    encryption_keys_previous: SecretStr = Field(
        SecretStr(""), description="Older <key id>:<base64> keys, comma-separated; decode only."
    )
    codec_server_host: str = Field("127.0.0.1", description="Address the codec server listens on.")
    codec_server_port: int = Field(8081, ge=0, le=65535, description="0 picks a free port.")
    codec_server_origins: str = Field(
        "http://localhost:8233,http://127.0.0.1:8233",
        description="Web UI origins allowed to call the codec server (CORS), comma-separated.",
    )
    codec_server_token: SecretStr = Field(
        SecretStr(""), description="If set, requests need `Authorization: Bearer <token>`."
    )


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
