"""The fault layer: every failure a vendor produces, reproducible from a seed."""

from __future__ import annotations

import time

import httpx
import pytest

from adapters.settings import ConfigError
from sandbox.context import SandboxContext
from sandbox.faults import FaultInjector, FaultRule, parse_faults
from tests.fixtures.sandbox import SandboxHandle, sandbox_settings
from tests.sandbox.clients import ERP_RECORD, SF_DATA, erp_client, journal, sf_client


def _actions(injector: FaultInjector, n: int = 200) -> list[str]:
    return [injector.decide("erp", "POST", "/x").action for _ in range(n)]


def test_the_same_seed_gives_the_same_faults_and_rates_are_honoured() -> None:
    rule = FaultRule(error_rate=0.2, commit_then_fail_rate=0.3)
    first = _actions(FaultInjector({"erp": [rule]}, seed=7))
    assert first == _actions(FaultInjector({"erp": [rule]}, seed=7))
    assert first != _actions(FaultInjector({"erp": [rule]}, seed=8))
    errors, commits = first.count("error"), first.count("commit_then_fail")
    assert 25 <= errors <= 55  # 20% of 200
    assert 35 <= commits <= 85  # 30% of the 80% left


def test_rules_match_route_and_method_and_other_systems_are_untouched() -> None:
    injector = FaultInjector(
        {"erp": [FaultRule(route="*/journalEntry*", method="POST", error_rate=1)]}
    )
    assert injector.decide("erp", "POST", f"{ERP_RECORD}/journalEntry").action == "error"
    assert injector.decide("erp", "GET", f"{ERP_RECORD}/journalEntry").action == "pass"
    assert injector.decide("erp", "POST", f"{ERP_RECORD}/customer").action == "pass"
    assert injector.decide("salesforce", "POST", f"{ERP_RECORD}/journalEntry").action == "pass"


def test_fault_json_from_the_environment_setting_is_parsed_and_checked() -> None:
    text = '{"erp": [{"route": "*/journalEntry", "commit_then_fail_rate": 0.3}], "seed": 3}'
    ctx = SandboxContext.from_settings(sandbox_settings(sandbox_faults=text))
    assert ctx.injector.seed == 3
    assert ctx.injector.rules("erp")[0].commit_then_fail_rate == 0.3
    with pytest.raises(ConfigError, match="Q2C_SANDBOX_FAULTS: unknown system 'crm'"):
        parse_faults('{"crm": []}')
    with pytest.raises(ConfigError, match=r"erp\[0.error_rate\]"):
        parse_faults('{"erp": [{"error_rate": 2}]}')
    with pytest.raises(ConfigError, match="not JSON"):
        parse_faults("{erp")


def test_admin_route_sets_rules_and_is_never_faulted(sandbox: SandboxHandle) -> None:
    url = f"{sandbox.erp_url}/_sandbox/faults"
    answer = httpx.put(url, json={"rules": [{"error_rate": 1, "error_status": 503}], "seed": 1})
    assert answer.status_code == 200 and answer.json()["rules"][0]["error_rate"] == 1
    assert httpx.get(url).status_code == 200  # an admin route, not faulted
    assert httpx.get(f"{sandbox.erp_url}{ERP_RECORD}/customer").status_code == 503
    bad = httpx.put(url, json={"rules": [{"error_rate": "often"}]})
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]
    assert httpx.delete(url).json()["rules"] == []
    assert httpx.get(f"{sandbox.erp_url}{ERP_RECORD}/customer").status_code == 401


def test_injected_errors_and_429_speak_each_vendors_error_shape(sandbox: SandboxHandle) -> None:
    with sf_client(sandbox) as sf:
        sandbox.set_faults("salesforce", [{"error_rate": 1, "error_status": 503}])
        answer = sf.get("/limits")
    assert answer.status_code == 503
    assert answer.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sandbox.set_faults("erp", [{"rate_limit_rate": 1, "retry_after": 7}])
    answer = httpx.get(f"{sandbox.erp_url}{ERP_RECORD}/customer")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    body = answer.json()
    assert body["status"] == 429 and body["o:errorDetails"][0]["o:errorCode"]


def test_latency_is_added_and_hanging_requests_never_answer(sandbox: SandboxHandle) -> None:
    sandbox.set_faults("erp", [{"route": "*/customer", "latency_ms": 300}])
    started = time.monotonic()
    httpx.get(f"{sandbox.erp_url}{ERP_RECORD}/customer")
    assert time.monotonic() - started >= 0.3
    sandbox.set_faults("erp", [{"hang_rate": 1}])
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{sandbox.erp_url}{ERP_RECORD}/customer", timeout=0.5)


@pytest.mark.parametrize("mode", ["error", "drop"])
def test_commit_then_fail_applies_the_change_but_the_client_sees_a_failure(
    sandbox: SandboxHandle, mode: str
) -> None:
    with erp_client(sandbox) as erp:
        sandbox.set_faults("erp", [{"commit_then_fail_rate": 1, "commit_then_fail_mode": mode}])
        if mode == "error":
            failed = erp.post("/journalEntry", json=journal())
            assert failed.status_code == 500
            assert failed.json()["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
        else:
            with pytest.raises(httpx.RemoteProtocolError):
                erp.post("/journalEntry", json=journal())
        sandbox.clear_faults()
        listed = erp.get("/journalEntry").json()
    assert listed["totalResults"] == 1  # committed although the client saw a failure


def test_naive_retried_creates_duplicate_under_commit_then_fail(sandbox: SandboxHandle) -> None:
    """Why q2c never retries a plain create: the fault layer really does commit first."""
    with sf_client(sandbox) as sf:
        sandbox.set_faults("salesforce", [{"commit_then_fail_rate": 0.3}], seed=11)
        for n in range(20):
            body = {"Name": f"Deal {n}", "StageName": "Prospecting", "CloseDate": "2026-01-01"}
            while sf.post("/sobjects/Opportunity", json=body).status_code != 201:
                pass
        sandbox.clear_faults()
        total = sf.get("/query", params={"q": "SELECT COUNT() FROM Opportunity"}).json()
    assert total["totalSize"] > 20


def test_retried_upserts_by_external_id_leave_exactly_one_record_each(
    sandbox: SandboxHandle,
) -> None:
    """30% commit-then-fail (both modes): retrying until success never duplicates."""
    rules = [
        {"route": "*/sobjects/*", "commit_then_fail_rate": 0.15},
        {"route": "*/sobjects/*", "commit_then_fail_rate": 0.15, "commit_then_fail_mode": "drop"},
        {"route": "*/journalEntry/*", "commit_then_fail_rate": 0.3},
    ]
    contract = {"Account": {"Q2C_External_Id__c": "ACC-1"}, "StartDate": "2026-01-01"}
    entry = journal()
    failures = 0
    with sf_client(sandbox) as sf, erp_client(sandbox) as erp:
        sandbox.set_faults("salesforce", rules[:2], seed=5)
        sandbox.set_faults("erp", rules[2:], seed=5)
        for n in range(40):
            while True:
                try:
                    upsert = sf.patch(f"/sobjects/Contract/Q2C_External_Id__c/K-{n}", json=contract)
                except httpx.RemoteProtocolError:
                    failures += 1
                    continue
                if upsert.status_code in (200, 201):
                    break
                assert upsert.status_code == 500, upsert.text
                failures += 1
            while (posted := erp.put(f"/journalEntry/eid:K-{n}", json=entry)).status_code != 204:
                assert posted.status_code == 500, posted.text
                failures += 1
        sandbox.clear_faults()
        contracts = sf.get("/query", params={"q": "SELECT Q2C_External_Id__c FROM Contract"})
        journals = erp.get("/journalEntry").json()
    keys = [r["Q2C_External_Id__c"] for r in contracts.json()["records"]]
    assert sorted(keys) == sorted(f"K-{n}" for n in range(40))
    assert journals["totalResults"] == 40
    assert failures >= 20  # the faults really fired


@pytest.fixture(autouse=True)
def _account(request: pytest.FixtureRequest) -> None:
    if "sandbox" in request.fixturenames:
        handle: SandboxHandle = request.getfixturevalue("sandbox")
        handle.seed("salesforce", None)


def test_admin_routes_of_salesforce_are_not_faulted_either(sandbox: SandboxHandle) -> None:
    sandbox.set_faults("salesforce", [{"error_rate": 1}])
    assert httpx.get(f"{sandbox.salesforce_url}/_sandbox/state").status_code == 200
    assert httpx.get(f"{sandbox.salesforce_url}{SF_DATA}/limits").status_code == 500
