"""`q2c dev` as a user runs it: server, UI, worker, search attributes, and a clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from adapters import temporal_client
from workflows import search_attributes

Q2C = str(Path(sys.executable).parent / "q2c")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Q2C_", "TEMPORAL_"))}
    env.update(Q2C_STATE_DIR=str(tmp_path / "state"), Q2C_DATABASE_URL=f"sqlite:///{tmp_path}/l.db")
    env.update(extra)
    return env


@pytest.fixture
def dev_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    port, ui_port = _free_port(), _free_port()
    env = _env(
        tmp_path,
        Q2C_DEV_TEMPORAL_PORT=str(port),
        Q2C_DEV_UI_PORT=str(ui_port),
        Q2C_SANDBOX_SALESFORCE_PORT="0",
        Q2C_SANDBOX_BILLING_PORT="0",
        Q2C_SANDBOX_ERP_PORT="0",
        Q2C_SANDBOX_DATABASE_URL="sqlite://",
        Q2C_WEBHOOK_PORT="0",
    )
    proc = subprocess.Popen(
        [Q2C, "dev"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if "Ctrl-C stops everything" in line:
            break
        if not line and proc.poll() is not None:
            pytest.fail("q2c dev exited early:\n" + "".join(seen))
    else:
        proc.kill()
        pytest.fail("q2c dev did not come up:\n" + "".join(seen))
    output = "".join(seen)
    assert f"http://127.0.0.1:{ui_port}" in output
    for system in ("salesforce", "billing", "erp"):
        assert f"{system}: http://127.0.0.1:" in output, output
    assert "/webhooks/salesforce" in output, output
    try:
        yield proc, port, ui_port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.devserver
@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
async def test_dev_brings_up_server_ui_worker_and_stops_clean(
    dev_process: tuple[subprocess.Popen[str], int, int], tmp_path: Path, how: str
) -> None:
    proc, port, ui_port = dev_process
    client = await temporal_client.connect(target_host=f"127.0.0.1:{port}", namespace="default")
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert {key.name for key in search_attributes.ALL} <= set(response.custom_attributes)

    with socket.create_connection(("127.0.0.1", ui_port), timeout=5):
        pass  # the Web UI listens

    doctor = await asyncio.to_thread(
        subprocess.run,
        [Q2C, "doctor", "--timeout", "30"],
        env=_env(tmp_path, TEMPORAL_ADDRESS=f"127.0.0.1:{port}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "reached the sqlite ledger" in doctor.stdout

    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the dev server should be a child of q2c dev"
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    else:
        proc.send_signal(signal.SIGTERM)  # only the parent: it must stop its children
    assert proc.wait(timeout=30) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert (tmp_path / "state" / "temporal.db").exists()


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([Q2C, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "extra", "needle"),
    [
        (["doctor"], {"TEMPORAL_ADDRESS": "127.0.0.1:1"}, "TEMPORAL_ADDRESS"),
        (["worker"], {"Q2C_DATABASE_URL": "nonsense"}, "Q2C_DATABASE_URL"),
        (["worker"], {"Q2C_DATABASE_URL": "postgresql://x@127.0.0.1:1/db"}, "Q2C_DATABASE_URL"),
        (["dev"], {"Q2C_DEV_UI_PORT": "eighty"}, "Q2C_DEV_UI_PORT"),
    ],
)
def test_bad_setting_is_one_line_naming_it(
    tmp_path: Path, args: list[str], extra: dict[str, str], needle: str
) -> None:
    result = _run(args, _env(tmp_path, **extra))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
