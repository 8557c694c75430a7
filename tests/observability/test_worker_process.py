"""`python worker.py` as deployed: its /metrics endpoint, JSON log lines on stderr, and a second
worker on the same host (metrics port taken) that warns and keeps working."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter.binaries import temporal_cli
from tests.observability.conftest import _free_port
from workflows import search_attributes

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk_test_OBSV-worker-process-3Zr8"


@pytest.fixture
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    async with env:
        yield env


def _start(env: dict[str, str], cwd: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = cwd / f"{name}.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py")],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    return process, log


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not logged: {log.read_text()[-2000:]}")


async def test_the_worker_process_serves_metrics_and_logs_json(
    temporal: WorkflowEnvironment, tmp_path: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "Q2C_", "OTEL_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=temporal.client.namespace,
        Q2C_TASK_QUEUE=f"process-{uuid.uuid4().hex[:8]}",
        Q2C_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
        Q2C_METRICS_BIND=f"127.0.0.1:{port}",
        Q2C_METRICS_REFRESH_SECONDS="0.5",
        Q2C_BILLING_API_KEY=SECRET,
    )
    first, first_log = _start(env, tmp_path, "first")
    second = None
    try:
        _wait_for(first_log, "worker polling task queue", first)
        async with httpx.AsyncClient(timeout=5) as http:
            page = ""
            deadline = time.monotonic() + 30
            while "q2c_amendment_backlog" not in page and time.monotonic() < deadline:
                page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                await asyncio.sleep(0.2)
        assert "q2c_amendment_backlog" in page
        assert "temporal_worker_task_slots_available" in page  # the SDK's, same page

        second, second_log = _start(env, tmp_path, "second")  # same host, same port
        _wait_for(second_log, "worker polling task queue", second)
        assert "runs without a metrics endpoint" in second_log.read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=40) for p in (first, second) if p is not None]
    assert codes == [0, 0]
    for log in (first_log, second_log):
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]  # every line is JSON
        assert {r["service"] for r in records} == {"q2c-worker"}
        assert records[-1]["message"] == "worker stopped"
        assert SECRET not in log.read_text()
