"""`q2c codec-server` over httpx's ASGI transport: the protocol, CORS, the token, bad input."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload

from adapters.codec import EncryptionCodec, EncryptionKey
from adapters.settings import ConfigError, Settings
from starter.codec_server import (
    app_from_settings,
    create_app,
    parse_origins,
    start_local_codec_server,
)
from starter.devserver import dev_server_command
from tests.starter.conftest import run_cli

UI = "http://localhost:8233"
TOKEN = "codec-test-token-7f3a"
K1 = EncryptionKey.from_bytes("k1", bytes(range(32)))
K2 = EncryptionKey.from_bytes("k2", bytes(range(1, 33)))
PLAIN = {
    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
    "data": base64.b64encode(b'{"customer":"Acme GmbH","total":"1234.56"}').decode(),
}


def client_for(token: str = "", codec: EncryptionCodec | None = None) -> httpx.AsyncClient:
    app = create_app(codec or EncryptionCodec(K2, [K1]), origins=[UI], token=token)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


@pytest.fixture
async def codec_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for() as client:
        yield client


def metadata_of(payload: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in payload["metadata"].items()}


async def test_encode_then_decode_round_trip(codec_client: httpx.AsyncClient) -> None:
    encoded = await codec_client.post(
        "/encode", json={"payloads": [PLAIN, PLAIN]}, headers={"X-Namespace": "default"}
    )
    assert encoded.status_code == 200, encoded.text
    sealed = encoded.json()["payloads"]
    assert [metadata_of(p)["encryption-key-id"] for p in sealed] == [b"k2", b"k2"]
    assert "Acme" not in encoded.text and b"Acme" not in base64.b64decode(sealed[0]["data"])
    # As the UI calls it (X-Namespace) and as the CLI's templated endpoint does.
    for path in ("/decode", "/default/decode"):
        decoded = await codec_client.post(
            path, json={"payloads": sealed}, headers={"X-Namespace": "default"}
        )
        assert decoded.status_code == 200, decoded.text
        assert decoded.json() == {"payloads": [PLAIN, PLAIN]}
        assert decoded.headers["cache-control"] == "no-store"


async def test_decodes_payloads_of_the_previous_key() -> None:
    sealed = (await EncryptionCodec(K1).encode([Payload(metadata={"a": b"1"}, data=b"x")]))[0]
    wire = {
        "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
        "data": base64.b64encode(sealed.data).decode(),
    }
    async with client_for() as client:
        answer = await client.post("/decode", json={"payloads": [wire, PLAIN]})
    assert answer.status_code == 200
    assert answer.json()["payloads"] == [{"metadata": {"a": "MQ=="}, "data": "eA=="}, PLAIN]
    async with client_for(codec=EncryptionCodec(K2)) as client:
        refused = await client.post("/decode", json={"payloads": [wire]})
    assert refused.status_code == 400
    assert "key id 'k1', which is not configured" in refused.json()["detail"]


async def test_cors_preflight_only_for_the_ui_origin(codec_client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    allowed = await codec_client.options("/decode", headers={"Origin": UI, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "x-namespace" in allowed.headers["access-control-allow-headers"].lower()

    other = await codec_client.options(
        "/decode", headers={"Origin": "http://evil.example", **preflight}
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers

    # The real request: the UI's origin gets the header; another origin is refused outright.
    ok = await codec_client.post("/decode", json={"payloads": [PLAIN]}, headers={"Origin": UI})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == UI
    refused = await codec_client.post(
        "/decode", json={"payloads": [PLAIN]}, headers={"Origin": "http://evil.example"}
    )
    assert refused.status_code == 403 and "Acme" not in refused.text


async def test_bearer_token_is_enforced_when_set() -> None:
    body = {"payloads": [PLAIN]}
    async with client_for(token=TOKEN) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            answer = await client.post("/decode", json=body, headers={"Origin": UI, **headers})
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in answer.text
            # The UI can read the refusal (CORS headers on the 401 too).
            assert answer.headers["access-control-allow-origin"] == UI
        good = await client.post("/decode", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200 and good.json() == body
        # A browser's preflight carries no credentials: it must pass without the token.
        preflight = await client.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"payloads": "nope"}',
        b'{"payloads": [{"data": "***not base64***"}]}',
        b'{"payloads": [{"metadata": {"encoding": 7}}]}',
        b"null",
        b"[" * 100_000,
    ],
)
async def test_bad_json_is_400_not_500(codec_client: httpx.AsyncClient, body: bytes) -> None:
    answer = await codec_client.post(
        "/decode", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert "payloads" in answer.json()["detail"]


async def test_wrong_method_and_path(codec_client: httpx.AsyncClient) -> None:
    assert (await codec_client.get("/decode")).status_code == 405
    assert (await codec_client.post("/nowhere", json={})).status_code == 404


def test_origins_setting() -> None:
    assert parse_origins(f"{UI}, https://temporal.example.com:8443") == [
        UI,
        "https://temporal.example.com:8443",
    ]
    for bad in ("*", "localhost:8233", f"{UI}/", f"{UI}/ui", "https://*.example.com", "", " , "):
        with pytest.raises(ConfigError, match="Q2C_CODEC_SERVER_ORIGINS"):
            parse_origins(bad)


def test_the_server_needs_a_key() -> None:
    settings = Settings(_env_file=None, encryption_key=SecretStr(""))
    with pytest.raises(ConfigError, match="Q2C_ENCRYPTION_KEY is not set"):
        app_from_settings(settings, None)


def test_cli_codec_key_and_codec_server_errors() -> None:
    key = run_cli(["codec-key", "--id", "2026-11"], {})
    assert key.code == 0 and key.out.startswith("2026-11:"), key
    assert len(base64.b64decode(key.out.strip().split(":")[1])) == 32
    bad_id = run_cli(["codec-key", "--id", "no spaces"], {})
    assert bad_id.code == 2 and "Traceback" not in bad_id.err
    secret = base64.b64encode(bytes(16)).decode()
    short = run_cli(["codec-server"], {"Q2C_ENCRYPTION_KEY": f"k1:{secret}"})
    assert short.code == 2 and "Q2C_ENCRYPTION_KEY: the key must decode to 32 bytes" in short.err
    assert secret not in short.err + short.out and "Traceback" not in short.err
    missing = run_cli(
        ["codec-server"], {"Q2C_ENCRYPTION_KEY": "", "Q2C_ENCRYPTION_KEYS_PREVIOUS": ""}
    )
    assert missing.code == 2 and "Q2C_ENCRYPTION_KEY is not set" in missing.err


async def test_q2c_dev_runs_the_codec_server_for_its_ui_when_a_key_is_set() -> None:
    ui = "http://127.0.0.1:18999"
    plain = Settings(_env_file=None, encryption_key=SecretStr(""), codec_server_port=0)
    assert await start_local_codec_server(plain, ui) is None
    keyed = plain.model_copy(
        update={"encryption_key": SecretStr("k1:" + base64.b64encode(bytes(32)).decode())}
    )
    server = await start_local_codec_server(keyed, ui)
    assert server is not None
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for origin in (ui, "http://localhost:18999", "http://localhost:8233"):
                answer = await http.options(
                    "/decode",
                    headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                )
                assert answer.headers.get("access-control-allow-origin") == origin, origin
            assert (await http.post("/decode", json={"payloads": [PLAIN]})).status_code == 200
    finally:
        await server.stop()
    assert server.stopped
    command = dev_server_command(Path("/tmp/x"), 7233, 8233, server.url)
    assert command[-2:] == ["--ui-codec-endpoint", server.url]
    assert "--ui-codec-endpoint" not in dev_server_command(Path("/tmp/x"), 7233, 8233)
