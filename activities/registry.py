"""Every activity the worker registers, built around the adapters the settings describe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.health import HealthActivities
from adapters.database import make_engine
from adapters.settings import Settings


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    health = HealthActivities(make_engine(settings.database_url))
    return [health.check_ledger]
