"""Every activity the worker registers, built around the adapters the settings describe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from activities.health import HealthActivities
from adapters.settings import Settings


def build_activities(settings: Settings, ledger_engine: Engine) -> list[Callable[..., Any]]:
    health = HealthActivities(ledger_engine)
    return [health.check_ledger]
