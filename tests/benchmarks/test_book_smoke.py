"""The book benchmark at a tiny size: booked, started by `q2c start --from-salesforce
--wait-activated`, every contract activated and sleeping, figures reported.

No figure is judged (speed and memory are the benchmark's business, not the tests'); what is
checked is that the real command starts exactly the booked contracts, that each one is
activated (none parked), and that the worker's memory was read.
"""

from __future__ import annotations

import pytest

from benchmarks import book
from benchmarks.stack import free_port, local_stack

pytestmark = [pytest.mark.slow, pytest.mark.devserver]


async def test_book_of_five_is_started_activated_and_measured() -> None:
    async with local_stack(ledger="sqlite", metrics_bind=f"127.0.0.1:{free_port()}") as stack:
        figures = await book.run(
            stack, contracts=5, concurrency=2, timeout=60.0, settle_seconds=0.0
        )
    assert figures["command_exit_code"] == 0, figures["command_log_tail"]
    assert any("│ started         │         5 │" in line for line in figures["command_log_tail"])
    assert figures["activated"] == 5 and figures["complete"], figures["timeline"]
    assert figures["parked"] == 0
    assert 0 < figures["rss_idle_mb"] <= figures["rss_peak_mb"]
    assert figures["step_latencies"]["read_booking_ms"] > 0
