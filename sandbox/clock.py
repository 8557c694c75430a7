"""The sandbox's clock: real time plus an offset that tests and the demo move forward.

Token expiry, idempotency-key retention (24 hours in billing) and the daily API limit all read
this clock, so a test can make a day pass without waiting for it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current sandbox time, timezone-aware UTC."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward (never backward: time in a system of record does not rewind)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def reset(self) -> None:
        """Back to real time (between tests)."""
        with self._lock:
            self._offset = timedelta()
