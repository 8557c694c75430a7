"""The sandbox counts the faults it injects, by kind, and says so on `GET /_sandbox/faults`."""

from __future__ import annotations

import httpx

from sandbox.faults import FaultInjector, FaultRule
from tests.fixtures.sandbox import SandboxHandle

ERP_RECORD = "/services/rest/record/v1"


def test_injected_faults_are_counted_by_kind() -> None:
    injector = FaultInjector(
        {"erp": [FaultRule(error_rate=0.2, rate_limit_rate=0.1, spike_rate=0.5, spike_ms=1)]},
        seed=3,
    )
    actions = [injector.decide("erp", "GET", "/x").action for _ in range(400)]
    counts = injector.injected("erp")
    assert counts["error"] == actions.count("error") > 0
    assert counts["rate_limit"] == actions.count("rate_limit") > 0
    assert counts["hang"] == counts["commit_then_fail"] == 0
    assert 150 < counts["latency_spike"] < 250
    injector.clear("erp")  # rules go, the counts stay for whoever reports them
    assert injector.injected("erp") == counts
    injector.reset_injected()
    assert set(injector.injected("erp").values()) == {0}


def test_spikes_do_not_change_the_sequence_of_rules_without_them() -> None:
    plain = FaultInjector({"erp": [FaultRule(error_rate=0.3)]}, seed=9)
    again = FaultInjector({"erp": [FaultRule(error_rate=0.3, spike_rate=0)]}, seed=9)
    first = [plain.decide("erp", "GET", "/x").action for _ in range(50)]
    assert first == [again.decide("erp", "GET", "/x").action for _ in range(50)]


def test_the_admin_route_reports_what_was_injected(sandbox: SandboxHandle) -> None:
    sandbox.ctx.injector.reset_injected()
    sandbox.set_faults("erp", [{"error_rate": 1, "error_status": 503}])
    for _ in range(3):
        assert httpx.get(f"{sandbox.erp_url}{ERP_RECORD}/customer").status_code == 503
    body = httpx.get(f"{sandbox.erp_url}/_sandbox/faults").json()
    assert body["injected"]["error"] == 3 and body["injected"]["rate_limit"] == 0
