"""The adapters parse the vendors' published examples (tests/fixtures/vendor/): query pages,
save results, tokens and error bodies, served over a mock transport exactly as documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.erp import ErpClient
from adapters.erp import parse_error as erp_error
from adapters.errors import BusinessError, NotFoundError
from adapters.http import TokenCache, status_error
from adapters.salesforce import SalesforceClient
from adapters.salesforce import parse_error as sf_error
from adapters.settings import Settings

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"
SETTINGS = Settings(_env_file=None, salesforce_url="https://example.my.salesforce.test",
                    erp_url="https://123.suitetalk.api.netsuite.test")  # fmt: skip


def example(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VENDOR / path).read_text())
    return data


def respond(path: str, **overrides: Any) -> httpx.Response:
    documented = example(path)["response"]
    body = overrides.pop("body", documented.get("body"))
    headers = overrides.pop("headers", documented.get("headers", {}))
    status = overrides.pop("status", documented["status"])
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def sf_token() -> httpx.Response:
    return respond("salesforce/oauth-client-credentials-token.json")


async def test_salesforce_query_pages_as_documented() -> None:
    first = example("salesforce/query.json")["response"]["body"]
    more = example("salesforce/query-next-records-url.json")["response"]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/services/oauth2/token":
            return sf_token()
        assert request.headers["Authorization"] == "Bearer your_access_token"
        if request.url.path.endswith("/query"):
            assert request.url.params["q"] == "SELECT name from Account"
            page = {**first, "done": False, "nextRecordsUrl": more["nextRecordsUrl"]}
            return httpx.Response(200, json=page)
        assert request.url.path == more["nextRecordsUrl"]
        last = {**more["body"], "records": [{"attributes": {"type": "Account"}, "Name": "Test 3"}]}
        return httpx.Response(200, json=last)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with SalesforceClient(SETTINGS, http) as client:
        records = await client.query("SELECT name from Account")
    assert [r["Name"] for r in records] == ["Test 1", "Test 2", "Test 3"]
    assert records[0]["attributes"]["type"] == "Account"
    assert seen[-1] == "/services/data/v63.0/query/01gD0000002HU6KIAW-2000"
    await http.aclose()


@pytest.mark.parametrize(
    ("path", "created"),
    [
        ("salesforce/upsert-new-record.json", True),
        ("salesforce/upsert-result-fields.json", False),
    ],
)
async def test_salesforce_upsert_results(path: str, created: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return sf_token()
        assert request.method == "PATCH"
        assert request.url.path.endswith("/sobjects/Account/Q2C_External_Id__c/11999")
        return respond(path)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with SalesforceClient(SETTINGS, http) as client:
        result = await client.upsert("Account", "Q2C_External_Id__c", "11999", {"Name": "CWC"})
    assert (result.id, result.created) == ("00190000001pPvHAAU", created)
    await http.aclose()


async def test_salesforce_create_and_its_error() -> None:
    answers = iter([respond("salesforce/create-record.json"),
                    respond("salesforce/create-record-with-id-error.json")])  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            return sf_token()
        return next(answers)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with SalesforceClient(SETTINGS, http) as client:
        created = await client.create("Account", {"Name": "Express Logistics and Transport"})
        assert (created.id, created.created) == ("001D000000IqhSLIAZ", True)
        with pytest.raises(BusinessError) as info:
            await client.create("Account", {"Name": "Express Donuts and Pies"})
    assert info.value.code == "INVALID_FIELD"
    assert "Id field should not be specified" in info.value.message
    await http.aclose()


def test_salesforce_session_error_body() -> None:
    response = respond("salesforce/error-status-codes.json")
    response.request = httpx.Request("GET", "https://x.test/services/data/v62.0/sobjects/A/1")
    fault = sf_error(response)
    assert (fault.code, fault.message) == ("INVALID_SESSION_ID", "Session expired or invalid")


async def test_netsuite_token_lifetime_and_create_location() -> None:
    cache_seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cache_seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/token"):
            return respond("netsuite/token-client-credentials.json")
        return respond("netsuite/create-customer.json")

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with ErpClient(SETTINGS, http) as client:
        record_id = await client.create("customer", {"companyname": "My Company"})
        assert record_id == "647"
        cache: TokenCache = client.api.tokens
        token = cache._token
        assert token is not None and token.expires_at != float("inf")  # expires_in "3600"
    assert cache_seen == ["POST /services/rest/auth/oauth2/v1/token",
                          "POST /services/rest/record/v1/customer"]  # fmt: skip
    await http.aclose()


async def test_netsuite_collection_follows_next_link() -> None:
    first = example("netsuite/collection-paging.json")["response"]["body"]
    second = {"links": [], "items": [{"links": [], "id": "108"}], "hasMore": False}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return respond("netsuite/token-client-credentials.json")
        if request.url.params.get("offset") == "2":
            return httpx.Response(200, json=second)
        return httpx.Response(200, json=first)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with ErpClient(SETTINGS, http) as client:
        assert await client.list_ids("customer") == ["107", "108"]
    await http.aclose()


@pytest.mark.parametrize(
    ("path", "code", "kind"),
    [
        ("netsuite/error-invalid-body.json", "INVALID_CONTENT", BusinessError),
        ("netsuite/error-invalid-login.json", "INVALID_LOGIN", BusinessError),
    ],
)
def test_netsuite_error_bodies(path: str, code: str, kind: type[Exception]) -> None:
    response = respond(path)
    response.request = httpx.Request("POST", "https://x.test/services/rest/record/v1/customer")
    error = status_error("erp", response, erp_error)
    assert type(error) is kind and error.code == code
    assert error.message.startswith(
        example(path)["response"]["body"]["o:errorDetails"][0]["detail"]
    )
    assert not isinstance(error, NotFoundError)
