"""The end-to-end benchmarks run at a tiny size on one local stack and return their figures.

No figure is judged here (speed is the benchmarks' business, not the tests'); what is checked
is that each benchmark drives the whole stack to the end and reports every key, and that the
burst found exactly one invoice and one journal per contract.
"""

from __future__ import annotations

import pytest

from benchmarks import activation, burst, latency
from benchmarks.stack import local_stack

pytestmark = [pytest.mark.slow, pytest.mark.devserver]

KEYS = {
    "activation": {"q2c_contracts_per_s", "bare_contracts_per_s", "ratio", "activation_shape"},
    "latency": {"latency_p50_s", "latency_p99_s", "contracts"},
    "burst": {"burst_seconds", "invoices_per_s", "exactly_once", "invoices_missing"},
}


async def test_each_benchmark_runs_and_returns_its_figures() -> None:
    async with local_stack(ledger="sqlite", webhooks=True, bare=True) as stack:
        figures = {
            "activation": await activation.run(stack, contracts=2, rounds=1),
            "latency": await latency.run(stack, rate=2.0, seconds=1.0),
            "burst": await burst.run(stack, contracts=2, lead=4.0),
        }
    for name, keys in KEYS.items():
        assert keys <= set(figures[name]), f"{name}: missing {keys - set(figures[name])}"
    assert figures["activation"]["activation_shape"] == "1+1+1+1+1+1+1", figures["activation"]
    assert figures["latency"]["contracts"] == 2
    burst_figures = figures["burst"]
    assert burst_figures["exactly_once"] == "yes", burst_figures
    assert burst_figures["activated_late"] == 0, burst_figures
