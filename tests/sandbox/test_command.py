"""`q2c sandbox`: prints one line per system once listening, serves, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox.server import SandboxServer, SandboxStartError, run_in_thread
from tests.fixtures.sandbox import sandbox_settings

REPO = Path(__file__).resolve().parents[2]


def test_q2c_sandbox_serves_until_interrupted(tmp_path: Path) -> None:
    faults = '{"erp": [{"route": "/services/rest/record/v1/*", "error_rate": 1}]}'
    command = [
        sys.executable,
        "-c",
        "from starter.cli import console; console()",
        "sandbox",
        "--salesforce-port",
        "0",
        "--billing-port",
        "0",
        "--erp-port",
        "0",
        "--database-url",
        f"sqlite:///{tmp_path / 'sandbox.db'}",
        "--faults",
        faults,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        urls = dict(line.split(": ", 1) for line in lines)
        assert list(urls) == ["salesforce", "billing", "erp"]
        for url in urls.values():
            if url.startswith("http"):
                assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        erp = urls["erp"]
        assert httpx.get(f"{erp}/services/rest/record/v1/customer").status_code == 500
        assert httpx.get(f"{erp}/_sandbox/state").status_code == 200
        assert (tmp_path / "sandbox.db").exists()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Stopped." in out and "Traceback" not in err


def test_bad_fault_json_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-c",
        "from starter.cli import console; console()",
        "sandbox",
        "--faults",
        '{"erp": [{"error_rate": 5}]}',
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--faults: erp[0.error_rate]" in result.stderr and "Traceback" not in result.stderr


def test_a_taken_port_is_reported_with_the_setting_to_change() -> None:
    with run_in_thread(SandboxServer(sandbox_settings())) as running:
        port = int(running.urls["salesforce"].rsplit(":", 1)[1])
        started = time.monotonic()
        with (
            pytest.raises(SandboxStartError, match="Q2C_SANDBOX_SALESFORCE_PORT"),
            run_in_thread(SandboxServer(sandbox_settings(sandbox_salesforce_port=port))),
        ):
            pass
        assert time.monotonic() - started < 10
