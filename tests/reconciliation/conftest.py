"""Fixtures of the reconciliation tests: the workflow tests' contract rig on the dev server, and
the environment the CLI runs with against it."""

from __future__ import annotations

from temporalio.client import Client

from adapters.settings import Settings
from tests.workflows.conftest import contract_rig, ledger_engine

__all__ = ["cli_env", "contract_rig", "ledger_engine"]


def cli_env(client: Client, settings: Settings, database_url: str) -> dict[str, str]:
    """TEMPORAL_* and Q2C_* pointing at the rig (its worker's ledger at `database_url`)."""
    env = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "COLUMNS": "200",
    }
    for name in ("task_queue", "salesforce_url", "billing_url", "erp_url"):
        env[f"Q2C_{name.upper()}"] = str(getattr(settings, name))
    env["Q2C_DATABASE_URL"] = database_url
    return env
