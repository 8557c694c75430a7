"""`q2c webhook` as a user runs it: it listens, answers, waits out a Temporal that is down, and
stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from starter.webhooks.signature import sign
from tests.fixtures.console import start_q2c
from tests.starter.conftest import Stack


def _start(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[str], str]:
    proc, banner = start_q2c(
        "webhook",
        tmp_path,
        "Webhooks: ",
        Q2C_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db",
        Q2C_WEBHOOK_PORT="0",
        **extra,
    )
    return proc, banner.split()[1].removesuffix("/webhooks/salesforce,")


def _stop(proc: subprocess.Popen[str]) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    return proc.wait(timeout=30)


@pytest.mark.slow
def test_webhook_command_serves_until_ctrl_c(stack: Stack, tmp_path: Path) -> None:
    address = stack.client.service_client.config.target_host
    proc, url = _start(tmp_path, TEMPORAL_ADDRESS=address, Q2C_TASK_QUEUE=stack.settings.task_queue)
    try:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        event = {
            "id": "e-cmd",
            "type": "contract.amended",
            "opportunity_id": "006NOTSTARTED00000",
            "amendment_id": "a0X1",
        }
        body = json.dumps(event).encode()
        headers = {"X-Q2C-Signature": sign(body, stack.settings.salesforce_webhook_secret)}
        answer = httpx.post(f"{url}/webhooks/salesforce", content=body, headers=headers)
        assert answer.status_code == 404  # it reached Temporal, which has no such contract
    finally:
        assert _stop(proc) == 0


@pytest.mark.slow
def test_webhook_command_starts_while_temporal_is_down(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, TEMPORAL_ADDRESS="127.0.0.1:1")
    try:
        body = b'{"id": "e1", "type": "opportunity.closed_won", "opportunity_id": "006A"}'
        headers = {"X-Q2C-Signature": sign(body, "q2c-sandbox-webhook-secret")}
        answer = httpx.post(f"{url}/webhooks/salesforce", content=body, headers=headers)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
    finally:
        assert _stop(proc) == 0
