"""What every sandbox app factory receives: storage, clock, faults and settings, shared."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from adapters.settings import Settings
from sandbox.clock import SandboxClock
from sandbox.db import make_sandbox_engine
from sandbox.faults import FaultInjector, injector_from_json


@dataclass
class SandboxContext:
    """One per sandbox process; the three apps share it (one clock moves all three)."""

    settings: Settings
    engine: Engine
    clock: SandboxClock = field(default_factory=SandboxClock)
    injector: FaultInjector = field(default_factory=FaultInjector)

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxContext:
        """Engine from `sandbox_database_url`, fault rules from `sandbox_faults`."""
        return cls(
            settings=settings,
            engine=make_sandbox_engine(settings.sandbox_database_url),
            injector=injector_from_json(settings.sandbox_faults),
        )
