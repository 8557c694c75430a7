"""Activities of the system check: prove a worker polls the queue and reaches its ledger."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from adapters.database import check_database


class HealthActivities:
    def __init__(self, ledger_engine: Engine) -> None:
        self._ledger_engine = ledger_engine

    @activity.defn(name="check_ledger")
    def check_ledger(self) -> str:
        """Blocking database round-trip, so a sync activity (runs on the worker's thread pool)."""
        return check_database(self._ledger_engine)
