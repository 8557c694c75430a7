"""The receiver's body-size limit (Q2C_WEBHOOK_MAX_BODY_BYTES): a body over it is answered 413
before it is read whole, and reaches neither Temporal nor the event table.

In-process (the app `q2c webhook` serves, over a `RecordingClient` and an event table of the
test's own), then through `q2c webhook` itself, whose uvicorn has no body limit of its own.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.requests import Request
from temporalio.client import Client

from adapters.billing import BillingAdapter
from adapters.database import make_engine
from adapters.settings import Settings
from adapters.webhook_events import WebhookEvents
from starter.webhooks import signature
from starter.webhooks.app import STRIPE_SIGNATURE, BodyTooLarge, create_app, read_body
from starter.webhooks.receiver import Receiver
from tests.fixtures.console import start_q2c
from tests.fuzz.conftest import RecordingClient, stripe_signature

MIB = 1024 * 1024
MARKER = "do-not-log-this-body"


@dataclass
class Rig:
    settings: Settings
    client: RecordingClient
    events: WebhookEvents
    app: FastAPI
    engine: Engine


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'events.db'}",
        salesforce_webhook_secret="limit-secret",
        billing_webhook_secret="whsec_limit",
    )
    assert settings.webhook_max_body_bytes == MIB  # the default
    engine = make_engine(settings.database_url)
    events = WebhookEvents(engine)
    events.create_tables()
    client = RecordingClient()
    receiver = Receiver(settings, cast(Client, client), events, BillingAdapter(settings))
    yield Rig(settings, client, events, create_app(receiver), engine)
    engine.dispose()


def padded(event: dict[str, Any], size: int) -> bytes:
    """`event` as JSON of exactly `size` bytes (spaces before the closing brace)."""
    raw = json.dumps(event).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def closed_won(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": "opportunity.closed_won", "opportunity_id": "006LIMIT"}


def invoice_paid(event_id: str) -> dict[str, Any]:
    invoice = {
        "object": "invoice",
        "id": f"in_{event_id}",
        "metadata": {"q2c_key": "contract-006LIMIT:invoice:1", "q2c_contract_id": "C-1"},
        "note": MARKER,
    }
    return {
        "id": event_id,
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {"object": invoice},
    }


EVENTS = {"salesforce": closed_won, "billing": invoice_paid}


def signed(rig: Rig, route: str, raw: bytes) -> dict[str, str]:
    if route == "billing":
        return {STRIPE_SIGNATURE: stripe_signature(raw, rig.settings.billing_webhook_secret)}
    return {signature.HEADER: signature.sign(raw, rig.settings.salesforce_webhook_secret)}


async def post(rig: Rig, route: str, content: Any, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=rig.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        return await http.post(f"/webhooks/{route}", content=content, headers=headers)


def assert_refused(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json() == {"detail": response.json()["detail"]}  # the problem shape
    assert f"over the limit of {limit} bytes" in response.json()["detail"]
    assert MARKER not in response.text


@pytest.mark.parametrize("route", ["salesforce", "billing"])
async def test_one_byte_over_the_limit_is_413_and_reaches_nothing(
    rig: Rig, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    event_id = f"evt_over_{route}"
    raw = padded(EVENTS[route](event_id), MIB + 1)
    with caplog.at_level(logging.WARNING, logger="q2c.webhooks"):
        response = await post(rig, route, raw, signed(rig, route, raw))
    assert_refused(response, MIB)
    assert f"body of {MIB + 1} bytes" in response.json()["detail"]  # from Content-Length
    assert rig.client.calls == []
    assert not rig.events.seen(route, event_id)
    logged = [r.getMessage() for r in caplog.records if r.name == "q2c.webhooks"]
    assert any("(413)" in line and "Q2C_WEBHOOK_MAX_BODY_BYTES" in line for line in logged)
    assert not any(MARKER in line or "006LIMIT" in line for line in logged)  # no body


@pytest.mark.parametrize("route", ["salesforce", "billing"])
async def test_exactly_the_limit_goes_on_to_the_usual_checks(rig: Rig, route: str) -> None:
    raw = padded(EVENTS[route](f"evt_exact_{route}"), MIB)
    assert len(raw) == MIB

    unsigned = await post(rig, route, raw, {})
    assert unsigned.status_code == 401, unsigned.text  # the signature check comes next
    accepted = await post(rig, route, raw, signed(rig, route, raw))
    assert accepted.status_code == 202, accepted.text
    assert [call.workflow_id for call in rig.client.calls] == ["contract-006LIMIT"]


async def _chunks(total: int, size: int, sent: list[int]) -> AsyncIterator[bytes]:
    """`total` bytes in chunks of `size`, counting what was taken."""
    while total > 0:
        chunk = b" " * min(size, total)
        sent.append(len(chunk))
        total -= len(chunk)
        yield chunk


async def _endless(size: int, sent: list[int]) -> AsyncIterator[bytes]:
    while True:
        sent.append(size)
        yield b" " * size


@pytest.mark.parametrize("route", ["salesforce", "billing"])
async def test_a_chunked_body_is_read_only_until_it_passes_the_limit(rig: Rig, route: str) -> None:
    sent: list[int] = []
    # Transfer-Encoding: chunked, no Content-Length; the signature is whatever (never checked).
    over = await post(rig, route, _chunks(MIB + 1, 64 * 1024, sent), {"X-Q2C-Signature": "t"})
    assert_refused(over, MIB)
    assert over.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in over.request.headers

    sent.clear()
    endless = await post(rig, route, _endless(64 * 1024, sent), {})
    assert_refused(endless, MIB)
    assert sum(sent) <= MIB + 64 * 1024  # it stopped reading at the first chunk over
    assert rig.client.calls == []


async def test_a_chunked_body_within_the_limit_is_accepted(rig: Rig) -> None:
    raw = padded(closed_won("evt_chunked"), MIB)
    pieces = [raw[i : i + 10_000] for i in range(0, len(raw), 10_000)]

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    response = await post(rig, "salesforce", body(), signed(rig, "salesforce", raw))
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 202, response.text
    assert len(rig.client.calls) == 1


def test_openapi_documents_413_on_both_routes(rig: Rig) -> None:
    schema = rig.app.openapi()
    for path in ("/webhooks/salesforce", "/webhooks/billing"):
        answer = schema["paths"][path]["post"]["responses"]["413"]
        assert "Q2C_WEBHOOK_MAX_BODY_BYTES" in answer["description"]
        content = answer["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/Problem"}


# -- read_body on its own --------------------------------------------------------------------


def _request(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[Request, list[int]]:
    received: list[int] = []
    queue = list(chunks)

    async def receive() -> dict[str, Any]:
        received.append(1)
        chunk = queue.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive), received


@pytest.mark.parametrize(
    "declared",
    [b"11", b"0011", b"9" * 19, b"9" * 5000],
    ids=["over", "leading-zeros", "19-digits", "5000-digits"],
)
async def test_a_content_length_over_the_limit_reads_nothing(declared: bytes) -> None:
    request, received = _request([(b"content-length", declared)], [b"x" * 11])
    with pytest.raises(BodyTooLarge, match="over the limit of 10 bytes"):
        await read_body(request, 10)
    assert received == []  # refused before a byte of the body was asked for


@pytest.mark.parametrize("declared", [b"abc", b"-5", b"\xb2", b"3"])
async def test_a_content_length_that_is_no_size_or_lies_is_counted(declared: bytes) -> None:
    """(h11 refuses such a request itself; in-process, the bytes read are what counts.)"""
    request, _ = _request([(b"content-length", declared)], [b"x" * 6, b"x" * 6])
    with pytest.raises(BodyTooLarge, match="body is over the limit of 10 bytes"):
        await read_body(request, 10)
    request, _ = _request([(b"content-length", declared)], [b"x" * 6, b"x" * 4])
    assert await read_body(request, 10) == b"x" * 10


# -- through `q2c webhook` (uvicorn) ---------------------------------------------------------

COMMAND_LIMIT = 200_000  # above uvicorn's 64 KiB read-ahead, so its flow control is crossed
SECRET = "q2c-sandbox-webhook-secret"


def _raw_exchange(port: int, head: bytes, body: bytes) -> bytes:
    """Send `head` and `body` on one connection and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _status_and_json(answer: bytes) -> tuple[int, dict[str, Any], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body), head.lower()


@pytest.mark.slow
def test_the_webhook_command_answers_413_through_uvicorn(tmp_path: Path) -> None:
    """uvicorn has no body-size limit (its `h11_max_incomplete_event_size`, 16 KiB by default,
    bounds the request line and headers only): the receiver's own limit is what holds, with
    the value of the environment."""
    proc, banner = start_q2c(
        "webhook",
        tmp_path,
        "Webhooks: ",
        Q2C_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db",
        Q2C_WEBHOOK_PORT="0",
        Q2C_WEBHOOK_MAX_BODY_BYTES=str(COMMAND_LIMIT),
        Q2C_WEBHOOK_TEMPORAL_TIMEOUT_SECONDS="1",
        TEMPORAL_ADDRESS="127.0.0.1:1",  # down: a body that passes every check gets 503
    )
    url = banner.split()[1].removesuffix("/webhooks/salesforce,")
    port = int(url.rsplit(":", 1)[1])
    try:
        request = b"POST /webhooks/salesforce HTTP/1.1\r\nHost: receiver\r\n"
        # Content-Length one over, and not a byte of the body sent: answered all the same.
        declared = f"Content-Length: {COMMAND_LIMIT + 1}\r\n\r\n".encode()
        status, answer, head = _status_and_json(_raw_exchange(port, request + declared, b""))
        assert status == 413, answer
        assert f"over the limit of {COMMAND_LIMIT} bytes" in answer["detail"]
        assert b"connection: close" in head

        # Chunked, one byte over (and no last chunk): read until it passed the limit.
        chunks = b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n"
            for part in (b" " * 50_000,) * 4 + (b" ",)
        )
        chunked = b"Transfer-Encoding: chunked\r\n\r\n"
        status, answer, _ = _status_and_json(_raw_exchange(port, request + chunked, chunks))
        assert status == 413, answer

        # Exactly the limit: on to the signature, the event, and a Temporal that is down.
        raw = padded(closed_won("evt_cmd_limit"), COMMAND_LIMIT)
        response = httpx.post(
            f"{url}/webhooks/salesforce",
            content=raw,
            headers={signature.HEADER: signature.sign(raw, SECRET)},
            timeout=30,
        )
        assert response.status_code == 503, response.text
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}  # still serving
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        log = proc.stdout.read()
        assert "refused (413)" in log
