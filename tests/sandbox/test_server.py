"""The sandbox process: one line per system, free ports, admin routes on every app."""

from __future__ import annotations

import httpx

from tests.fixtures.sandbox import SandboxHandle


def test_every_app_answers_its_admin_routes(sandbox: SandboxHandle) -> None:
    assert set(sandbox.urls) >= {"salesforce", "erp"}
    for system, url in sandbox.urls.items():
        assert url.startswith("http://127.0.0.1:")
        faults = httpx.get(f"{url}/_sandbox/faults").json()
        assert faults["system"] == system and faults["rules"] == []
    lines = sandbox.server.lines()
    assert lines[0].startswith("salesforce: http://127.0.0.1:")
    assert lines[-1].startswith("erp: http://127.0.0.1:")


def test_the_clock_is_shared_and_only_moves_forward(sandbox: SandboxHandle) -> None:
    before = sandbox.ctx.clock.now()
    answer = httpx.post(f"{sandbox.erp_url}/_sandbox/clock", json={"advance_seconds": 86400})
    assert answer.status_code == 200 and answer.json()["offset_seconds"] == 86400
    assert (sandbox.ctx.clock.now() - before).total_seconds() >= 86400
    refused = httpx.post(f"{sandbox.salesforce_url}/_sandbox/clock", json={"advance_seconds": -1})
    assert refused.status_code == 400 and "error" in refused.json()
