"""A vendor's error names its system once: `failed: salesforce: …`, never
`failed: Salesforce: salesforce: …` (an `AdapterError` already starts with its system, and
`operation_errors("Salesforce")` used to put the name in front of it again)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.errors import AdapterError, BusinessError, NotFoundError, TransientError
from starter.app import OperationFailed
from starter.commands.common import operation_errors
from tests.starter.conftest import run_cli


def _named(system: str, text: str) -> int:
    """How many times `text` names `system` as a prefix (`salesforce:`, any case)."""
    return len(re.findall(rf"\b{system}:", text, flags=re.IGNORECASE))


@pytest.mark.parametrize(
    ("what", "error"),
    [
        ("Salesforce", BusinessError("salesforce", "boom", code="UNKNOWN_EXCEPTION")),
        ("salesforce", NotFoundError("salesforce", "Opportunity 006X does not exist")),
        ("billing", BusinessError("billing", "No such customer", code="resource_missing")),
        ("Billing", TransientError("billing", "GET /v1/invoices: timed out", code="timeout")),
        ("ERP", BusinessError("erp", "period is closed", code="INVALID_PERIOD")),
        ("erp", TransientError("erp", "503 on GET /record/v1/customer", code="http_503")),
    ],
)
def test_an_error_of_the_system_named_says_the_system_once(what: str, error: AdapterError) -> None:
    with pytest.raises(OperationFailed) as raised, operation_errors(what):
        raise error
    message = str(raised.value)
    assert _named(error.system, message) == 1, message
    assert message.startswith(f"{error.system}: ")
    assert error.message in message
    assert message.endswith("(is it reachable?)") == isinstance(error, TransientError)


def test_another_prefix_still_says_what_failed() -> None:
    with pytest.raises(OperationFailed) as raised, operation_errors("catalog sync"):
        raise BusinessError("billing", "No such price", code="resource_missing")
    assert str(raised.value) == "catalog sync: billing: resource_missing: No such price"


# -- `q2c start` against a Salesforce that answers an error ---------------------------------


class _Salesforce(BaseHTTPRequestHandler):
    """A token for anyone; every query answered `status` with a Salesforce error body."""

    status = 400

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # the OAuth token endpoint
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, {"access_token": "token", "expires_in": 3600})

    def do_GET(self) -> None:
        error = {"message": "something broke", "errorCode": "UNKNOWN_EXCEPTION"}
        self._send(self.server.status, [error])  # type: ignore[attr-defined]

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def salesforce() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Salesforce)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [400, 503])
def test_q2c_start_names_salesforce_once(salesforce: ThreadingHTTPServer, status: int) -> None:
    salesforce.status = status  # type: ignore[attr-defined]
    env = {
        "Q2C_SALESFORCE_URL": f"http://127.0.0.1:{salesforce.server_address[1]}",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # not reached: Salesforce fails first
    }
    ran = run_cli(["start", "006000000000001AAA"], env)
    assert ran.code == 1, ran
    line = " ".join(ran.err.split())
    assert line.startswith("failed: salesforce: UNKNOWN_EXCEPTION: something broke"), line
    assert f"({status} on GET /services/data/" in line
    assert _named("salesforce", line) == 1, line
    assert line.endswith("(is it reachable?)") == (status == 503)
