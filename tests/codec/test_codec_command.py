"""`q2c codec-server` as a user runs it: it listens on the port it prints, decrypts with the
key of the environment, refuses without the token, and stops cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

Q2C = str(Path(sys.executable).parent / "q2c")
KEY = "k7:" + base64.b64encode(bytes(range(7, 39))).decode()
TOKEN = "cmd-token-5d1e"


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Q2C_", "TEMPORAL_"))}
    env.update(Q2C_ENCRYPTION_KEY=KEY, Q2C_CODEC_SERVER_TOKEN=TOKEN, Q2C_CODEC_SERVER_PORT="0")
    proc = subprocess.Popen(
        [Q2C, "codec-server"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith("Codec server: "):
            return proc, line.split()[2]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("q2c codec-server did not come up:\n" + "".join(seen))


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_codec_server_command(tmp_path: Path, stop_with: signal.Signals) -> None:
    proc, url = _start(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:")
        encoded = httpx.post(
            f"{url}/encode",
            json={"payloads": [{"data": base64.b64encode(b"Acme").decode()}]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert encoded.status_code == 200
        payloads = encoded.json()["payloads"]
        assert base64.b64decode(payloads[0]["metadata"]["encryption-key-id"]) == b"k7"
        refused = httpx.post(f"{url}/decode", json={"payloads": payloads})
        assert refused.status_code == 401
        decoded = httpx.post(
            f"{url}/default/decode",
            json={"payloads": payloads},
            headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"},
        )
        assert decoded.json() == {"payloads": [{"data": base64.b64encode(b"Acme").decode()}]}
    finally:
        os.killpg(proc.pid, stop_with)
        code = proc.wait(timeout=30)
        output = proc.stdout.read() if proc.stdout else ""
    assert code == 0, output
    assert KEY.split(":")[1] not in output and TOKEN not in output
