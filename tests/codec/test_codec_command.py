"""`q2c codec-server` as a user runs it: it listens on the port it prints, decrypts with the
key of the environment, refuses without the token, and stops cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.fixtures.console import start_q2c

KEY = "k7:" + base64.b64encode(bytes(range(7, 39))).decode()
TOKEN = "cmd-token-5d1e"


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    proc, banner = start_q2c(
        "codec-server",
        tmp_path,
        "Codec server: ",
        Q2C_ENCRYPTION_KEY=KEY,
        Q2C_CODEC_SERVER_TOKEN=TOKEN,
        Q2C_CODEC_SERVER_PORT="0",
    )
    return proc, banner.split()[2]


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
