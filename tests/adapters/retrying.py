"""Retry the way Temporal does for an activity: call again on TransientError, give up on others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from adapters.errors import TransientError

T = TypeVar("T")


@dataclass
class Retrier:
    """Counts the transient failures seen, so a test can prove the faults really happened."""

    attempts: int = 30
    failures: list[TransientError] = field(default_factory=list)

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        for _ in range(self.attempts - 1):
            try:
                return await call()
            except TransientError as exc:
                self.failures.append(exc)
        return await call()
