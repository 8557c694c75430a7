"""The vendors' published request/response examples, served by the sandbox in the same shape.

Same shape: the same status, and every key of the vendor's example present in the sandbox's
answer with a value of the same JSON type (lists compared item by item against the example's
first item). Ids, hosts and token values differ by nature.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.clients import erp_token, sf_token
from tests.sandbox.test_erp_api import _jwt

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor"


def example(system: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VENDOR / system / f"{name}.json").read_text())
    assert loaded["_source"].startswith("http")
    return loaded


def same_shape(vendor: Any, ours: Any, where: str = "$") -> None:
    if isinstance(vendor, dict):
        assert isinstance(ours, dict), f"{where}: expected an object, got {ours!r}"
        for key, value in vendor.items():
            assert key in ours, f"{where}: missing {key!r} (have {sorted(ours)})"
            same_shape(value, ours[key], f"{where}.{key}")
    elif isinstance(vendor, list):
        assert isinstance(ours, list), f"{where}: expected a list, got {ours!r}"
        if vendor:
            assert ours, f"{where}: expected items"
            for index, item in enumerate(ours):
                same_shape(vendor[0], item, f"{where}[{index}]")
    elif isinstance(vendor, bool) or vendor is None:
        assert type(ours) is type(vendor), f"{where}: {ours!r} is not like {vendor!r}"
    elif isinstance(vendor, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), where
    else:
        assert isinstance(ours, str), f"{where}: {ours!r} is not a string"


@pytest.fixture
def http(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(verify=False, timeout=10) as client:
        yield client


# --- Salesforce -------------------------------------------------------------------------------


def _sf(sandbox: SandboxHandle) -> dict[str, str]:
    return {"Authorization": f"Bearer {sf_token(sandbox)}"}


def test_salesforce_token(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("salesforce", "oauth-client-credentials-token")
    form = {
        **fixture["request"]["form"],
        "client_id": sandbox.settings.salesforce_client_id,
        "client_secret": sandbox.settings.salesforce_client_secret,
    }
    answer = http.post(sandbox.salesforce_url + fixture["request"]["path"], data=form)
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    assert answer.json()["token_type"] == fixture["response"]["body"]["token_type"]


def test_salesforce_query(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("salesforce", "query")
    sandbox.seed("salesforce", {"Account": [{"Name": "Test 1"}, {"Name": "Test 2"}]})
    request = fixture["request"]
    answer = http.get(
        sandbox.salesforce_url + request["path"], params=request["params"], headers=_sf(sandbox)
    )
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    assert [r["Name"] for r in answer.json()["records"]] == ["Test 1", "Test 2"]
    assert answer.json()["records"][0]["attributes"]["url"].startswith("/services/data/v59.0/")


def test_salesforce_next_records_url(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("salesforce", "query-next-records-url")
    documented = fixture["response"]["nextRecordsUrl"]
    form = re.compile(r"^/services/data/v\d+\.\d/query/[0-9A-Za-z]{15,18}-\d+$")
    assert form.match(documented)
    sandbox.seed("salesforce", {"Product2": [{"Name": f"P{n}"} for n in range(201)]})
    headers = {**_sf(sandbox), "Sforce-Query-Options": "batchSize=200"}
    first = http.get(
        f"{sandbox.salesforce_url}/services/data/v63.0/query/",
        params={"q": "SELECT Name FROM Product2"},
        headers=headers,
    ).json()
    assert form.match(first["nextRecordsUrl"]) and first["done"] is False
    last = http.get(sandbox.salesforce_url + first["nextRecordsUrl"], headers=headers)
    assert last.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], last.json())
    assert last.json()["done"] is True and len(last.json()["records"]) == 1


def test_salesforce_create(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("salesforce", "create-record")
    request = fixture["request"]
    answer = http.post(
        sandbox.salesforce_url + request["path"], json=request["body"], headers=_sf(sandbox)
    )
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    assert answer.json()["id"].startswith("001")  # Account's key prefix, as in the example


def test_salesforce_create_with_id_is_refused_as_documented(
    sandbox: SandboxHandle, http: httpx.Client
) -> None:
    fixture = example("salesforce", "create-record-with-id-error")
    request = fixture["request"]
    answer = http.post(
        sandbox.salesforce_url + request["path"], json=request["body"], headers=_sf(sandbox)
    )
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    documented = fixture["response"]["body"][0]
    assert {k: answer.json()[0][k] for k in documented} == documented


def test_salesforce_upsert_created_then_updated(sandbox: SandboxHandle, http: httpx.Client) -> None:
    created, updated = (
        example("salesforce", "upsert-new-record"),
        example("salesforce", "upsert-result-fields"),
    )
    path = created["request"]["path"].replace("customExtIdField__c", "Q2C_External_Id__c")
    first = http.patch(
        sandbox.salesforce_url + path, json=created["request"]["body"], headers=_sf(sandbox)
    )
    assert first.status_code == created["response"]["status"]
    same_shape(created["response"]["body"], first.json())
    second = http.patch(
        sandbox.salesforce_url + path, json=updated["request"]["body"], headers=_sf(sandbox)
    )
    assert second.status_code == updated["response"]["status"]
    same_shape(updated["response"]["body"], second.json())
    assert second.json()["created"] is False and second.json()["id"] == first.json()["id"]


def test_salesforce_invalid_session(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("salesforce", "error-status-codes")
    request = fixture["request"]
    answer = http.get(sandbox.salesforce_url + request["path"], headers=request["headers"])
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    documented = fixture["response"]["body"][0]
    assert {k: answer.json()[0][k] for k in documented} == documented


# --- NetSuite ---------------------------------------------------------------------------------


def _ns(sandbox: SandboxHandle) -> dict[str, str]:
    return {"Authorization": f"Bearer {erp_token(sandbox)}"}


def test_netsuite_invalid_login(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("netsuite", "error-invalid-login")
    request = fixture["request"]
    answer = http.get(sandbox.erp_url + request["path"], headers=request["headers"])
    assert answer.status_code == fixture["response"]["status"]
    assert answer.json() == fixture["response"]["body"]  # word for word


def test_netsuite_invalid_body(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("netsuite", "error-invalid-body")
    body = {
        "subsidiary": {"id": "1"},
        "line": {
            "items": [{"account": {"id": 9999}, "debit": 1}, {"account": {"id": 2}, "credit": 1}]
        },
    }
    answer = http.post(
        f"{sandbox.erp_url}/services/rest/record/v1/journalEntry", json=body, headers=_ns(sandbox)
    )
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    ours, theirs = answer.json(), fixture["response"]["body"]
    assert (ours["type"], ours["title"]) == (theirs["type"], theirs["title"])
    detail = ours["o:errorDetails"][0]
    assert detail["o:errorCode"] == theirs["o:errorDetails"][0]["o:errorCode"]
    assert detail["o:errorPath"] == "line.items[0].account"
    assert detail["detail"] == theirs["o:errorDetails"][0]["detail"].replace(
        "9999 for the following field: item", "9999 for the following field: account"
    )


def _created(fixture: dict[str, Any], answer: httpx.Response, record_type: str) -> str:
    assert answer.status_code == fixture["response"]["status"], answer.text
    assert answer.content == b""
    location = answer.headers["Location"]
    assert re.search(rf"/services/rest/record/v1/{record_type}/\d+$", location)
    return location


def test_netsuite_create_customer(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("netsuite", "create-customer")
    documented = fixture["response"]["headers"]["Location"]
    assert re.search(r"/services/rest/record/v1/customer/\d+$", documented)
    request = fixture["request"]
    answer = http.post(
        sandbox.erp_url + request["path"], json=request["body"], headers=_ns(sandbox)
    )
    location = _created(fixture, answer, "customer")
    record = http.get(location, headers=_ns(sandbox)).json()
    assert (record["entityId"], record["companyName"]) == ("New Customer", "My Company")


def test_netsuite_create_with_external_id(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("netsuite", "create-customer-with-external-id")
    request, then = fixture["request"], fixture["then"]
    answer = http.post(
        sandbox.erp_url + request["path"], json=request["body"], headers=_ns(sandbox)
    )
    location = _created(fixture, answer, "customer")
    record = http.get(sandbox.erp_url + then["path"], headers=_ns(sandbox)).json()
    assert record["links"][0]["href"] == location
    assert (record["firstName"], record["isPerson"], record["externalId"]) == (
        "John",
        True,
        "CID001",
    )


def test_netsuite_upsert(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("netsuite", "upsert-customer")
    request = fixture["request"]
    put: Callable[[], httpx.Response] = lambda: http.put(  # noqa: E731
        sandbox.erp_url + request["path"], json=request["body"], headers=_ns(sandbox)
    )
    first = _created(fixture, put(), "customer")
    assert _created(fixture, put(), "customer") == first  # an upsert: the same record again


def test_netsuite_collection_paging(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("netsuite", "collection-paging")
    headers = _ns(sandbox)
    for n in range(3):
        http.post(
            f"{sandbox.erp_url}/services/rest/record/v1/customer",
            json={"companyName": f"C{n}"},
            headers=headers,
        )
    request = fixture["request"]
    answer = http.get(sandbox.erp_url + request["path"], params=request["params"], headers=headers)
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    documented = {link["rel"] for link in fixture["response"]["body"]["links"]}
    assert documented <= {link["rel"] for link in answer.json()["links"]}


def test_netsuite_token(sandbox: SandboxHandle, http: httpx.Client) -> None:
    fixture = example("netsuite", "token-client-credentials")
    form = {
        **fixture["request"]["form"],
        "client_assertion": _jwt(
            sandbox.settings.erp_client_id, sandbox.settings.erp_client_secret
        ),
    }
    answer = http.post(sandbox.erp_url + fixture["request"]["path"], data=form)
    assert answer.status_code == fixture["response"]["status"]
    same_shape(fixture["response"]["body"], answer.json())
    documented = fixture["response"]["body"]
    assert (answer.json()["expires_in"], answer.json()["token_type"]) == (
        documented["expires_in"],
        documented["token_type"],
    )


def test_every_fixture_is_exercised() -> None:
    source = Path(__file__).read_text()
    mine = [*VENDOR.glob("salesforce/*.json"), *VENDOR.glob("netsuite/*.json")]
    assert len(mine) >= 15
    for path in sorted(mine):
        assert f'"{path.stem}"' in source, f"{path} is not served by any test"
