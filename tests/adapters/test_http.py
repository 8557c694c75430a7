"""The shared HTTP layer: error mapping, Retry-After, and the token cache (no network)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from adapters.errors import BusinessError, NotFoundError, TransientError
from adapters.http import (
    TokenCache,
    VendorApi,
    VendorFault,
    make_http_client,
    parse_retry_after,
    status_error,
)
from adapters.settings import Settings

SETTINGS = Settings(_env_file=None)


def _fault(response: httpx.Response) -> VendorFault:
    body = response.json() if response.content else {}
    return VendorFault(body.get("code"), body.get("message", "?"))


def _response(status: int, body: dict[str, str] | None = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", "http://vendor.test/things")
    return httpx.Response(status, json=body or {}, headers=headers, request=request)


def test_retry_after_seconds_and_date() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(days=1), usegmt=True), now=now) == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (429, TransientError, "RATE"),
        (500, TransientError, "BOOM"),
        (503, TransientError, "BOOM"),
        (408, TransientError, "SLOW"),
        (400, BusinessError, "INVALID"),
        (403, BusinessError, "NO"),
        (404, NotFoundError, "NOT_FOUND"),
    ],
)
def test_status_mapping(status: int, kind: type[Exception], code: str) -> None:
    error = status_error("erp", _response(status, {"code": code, "message": "m"}), _fault)
    assert type(error) is kind
    assert error.code == code and error.system == "erp"
    assert "m (" in error.message and f"{status} on POST /things" in error.message


def test_429_carries_retry_after() -> None:
    error = status_error(
        "erp", _response(429, {"message": "slow down"}, **{"Retry-After": "12"}), _fault
    )
    assert isinstance(error, TransientError)
    assert error.retry_after == 12.0 and error.code == "http_429"


def test_vendor_transient_codes() -> None:
    response = _response(403, {"code": "REQUEST_LIMIT_EXCEEDED", "message": "quota"})
    error = status_error(
        "sf", response, _fault, transient_codes=frozenset({"REQUEST_LIMIT_EXCEEDED"})
    )
    assert isinstance(error, TransientError)


class _Vendor:
    """A fake vendor: tokens numbered from 1; `expired` tokens get a 401."""

    def __init__(self) -> None:
        self.issued = 0
        self.expired: set[str] = set()
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assert b"grant_type=client_credentials" in request.content
            self.issued += 1
            return httpx.Response(200, json={"access_token": f"t{self.issued}"})
        token = request.headers["Authorization"].removeprefix("Bearer ")
        self.calls.append(token)
        if token in self.expired:
            return httpx.Response(401, json={"code": "EXPIRED", "message": "expired"})
        return httpx.Response(200, json={"ok": token})


def _api(vendor: _Vendor, **kwargs: object) -> VendorApi:
    http = httpx.AsyncClient(transport=httpx.MockTransport(vendor))
    tokens = TokenCache("v", "http://vendor.test/token", "id", "secret", _fault)
    return VendorApi(
        system="v",
        base_url="http://vendor.test",
        tokens=tokens,
        parse_error=_fault,
        http=http,
        settings=SETTINGS,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_token_cached_and_refreshed_once_on_401() -> None:
    vendor = _Vendor()
    api = _api(vendor)
    assert (await api.request("GET", "/a")).json() == {"ok": "t1"}
    assert (await api.request("GET", "/a")).json() == {"ok": "t1"}
    vendor.expired.add("t1")
    assert (await api.request("GET", "/a")).json() == {"ok": "t2"}
    assert vendor.issued == 2 and api.tokens.fetches == 2
    await api.http.aclose()


async def test_concurrent_401s_fetch_one_new_token() -> None:
    vendor = _Vendor()
    api = _api(vendor)
    await api.request("GET", "/a")
    vendor.expired.add("t1")
    answers = await asyncio.gather(*(api.request("GET", "/a") for _ in range(20)))
    assert {a.json()["ok"] for a in answers} == {"t2"}
    assert vendor.issued == 2
    await api.http.aclose()


async def test_second_401_is_a_business_error() -> None:
    vendor = _Vendor()
    api = _api(vendor)
    vendor.expired.update({"t1", "t2", "t3"})
    with pytest.raises(BusinessError) as info:
        await api.request("GET", "/a")
    assert info.value.code == "EXPIRED"
    assert vendor.issued == 2  # one refresh, not a loop
    await api.http.aclose()


async def test_401_with_other_code_is_not_retried_when_codes_given() -> None:
    vendor = _Vendor()
    api = _api(vendor, auth_retry_codes=frozenset({"INVALID_SESSION_ID"}))
    vendor.expired.add("t1")
    with pytest.raises(BusinessError):
        await api.request("GET", "/a")
    assert vendor.issued == 1
    await api.http.aclose()


async def test_token_endpoint_refusal_is_business_and_outage_transient() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_client", "error_description": "bad"})

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    cases: list[tuple[object, type[BusinessError | TransientError], str]] = [
        (refuse, BusinessError, "invalid_client"),
        (down, TransientError, "connection_error"),
    ]
    for handler, kind, code in cases:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
        cache = TokenCache("v", "http://vendor.test/token", "id", "s", _fault)
        with pytest.raises(kind) as info:
            await cache.get(http)
        assert info.value.code == code
        await http.aclose()


async def test_token_lifetime_is_honoured() -> None:
    issued = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal issued
        issued += 1
        return httpx.Response(200, json={"access_token": f"t{issued}", "expires_in": 0})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    cache = TokenCache("v", "http://vendor.test/token", "id", "s", _fault)
    assert await cache.get(http) == "t1"
    assert await cache.get(http) == "t2"  # expired at once
    await http.aclose()


async def test_timeouts_and_connection_errors_are_transient() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t"})
        raise httpx.ReadTimeout("read timed out", request=request)

    vendor_api = _api(_Vendor())
    vendor_api.http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    with pytest.raises(TransientError) as info:
        await vendor_api.request("POST", "/x", json={})
    assert info.value.code == "timeout" and "POST http://vendor.test/x" in info.value.message
    await vendor_api.http.aclose()


def test_client_factory_uses_settings() -> None:
    client = make_http_client(SETTINGS.model_copy(update={"http_timeout_seconds": 2.5}))
    assert client.timeout.read == 2.5 and client.timeout.connect == 2.5
    assert client.headers["Accept"] == "application/json"
