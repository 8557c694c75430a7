"""The Salesforce app: OAuth, records, upsert by external id, and Salesforce's own errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.clients import SF_DATA, sf_client, sf_token

OPPORTUNITY = {"Name": "Acme renewal", "StageName": "Prospecting", "CloseDate": "2026-01-15"}


@pytest.fixture
def sf(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    sandbox.seed("salesforce", None)
    with sf_client(sandbox) as client:
        yield client


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body, list) and body[0]["errorCode"] == code, body
    assert set(body[0]) == {"message", "errorCode", "fields"}
    first: dict[str, Any] = body[0]
    return first


def test_token_endpoint_answers_like_salesforce(sandbox: SandboxHandle) -> None:
    url = f"{sandbox.salesforce_url}/services/oauth2/token"
    settings = sandbox.settings
    good = {
        "grant_type": "client_credentials",
        "client_id": settings.salesforce_client_id,
        "client_secret": settings.salesforce_client_secret,
    }
    answer = httpx.post(url, data=good).json()
    assert set(answer) >= {"access_token", "instance_url", "token_type", "issued_at", "signature"}
    assert answer["instance_url"] == sandbox.salesforce_url and answer["token_type"] == "Bearer"
    basic = httpx.post(
        url,
        data={"grant_type": "client_credentials"},
        auth=(settings.salesforce_client_id, settings.salesforce_client_secret),
    )
    assert basic.status_code == 200
    wrong = httpx.post(url, data={**good, "client_secret": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"
    grant = httpx.post(url, data={**good, "grant_type": "password"})
    assert grant.json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }
    assert httpx.post(url, json=good).status_code == 400  # OAuth takes a form, not JSON


def test_unknown_and_expired_tokens_are_invalid_sessions(sandbox: SandboxHandle) -> None:
    with sf_client(sandbox) as sf:
        assert sf.get("/limits").status_code == 200
        sandbox.advance_clock(sandbox.settings.sandbox_token_ttl_seconds + 1)
        _error(sf.get("/limits"), 401, "INVALID_SESSION_ID")
    anonymous = httpx.get(f"{sandbox.salesforce_url}{SF_DATA}/limits")
    _error(anonymous, 401, "INVALID_SESSION_ID")


def test_create_read_update_delete(sf: httpx.Client) -> None:
    created = sf.post("/sobjects/Opportunity/", json=OPPORTUNITY)
    assert created.status_code == 201
    record_id = created.json()["id"]
    assert created.json() == {"id": record_id, "success": True, "errors": []}
    assert len(record_id) == 18 and record_id.startswith("006")
    record = sf.get(f"/sobjects/Opportunity/{record_id}").json()
    assert record["attributes"] == {
        "type": "Opportunity",
        "url": f"{SF_DATA}/sobjects/Opportunity/{record_id}",
    }
    assert record["Name"] == "Acme renewal" and record["IsClosed"] is False
    assert record["Q2C_Status__c"] is None and "CreatedDate" in record
    update = sf.patch(
        f"/sobjects/Opportunity/{record_id[:15]}",
        json={"StageName": "Closed Won", "Q2C_Status__c": "Active"},
    )
    assert update.status_code == 204 and update.content == b""
    chosen = sf.get(f"/sobjects/Opportunity/{record_id}", params={"fields": "IsWon,Q2C_Status__c"})
    assert chosen.json() == {
        "attributes": record["attributes"],
        "IsWon": True,
        "Q2C_Status__c": "Active",
        "Id": record_id,
    }
    assert sf.delete(f"/sobjects/Opportunity/{record_id}").status_code == 204
    _error(sf.get(f"/sobjects/Opportunity/{record_id}"), 404, "NOT_FOUND")


def test_upsert_by_external_id_creates_then_updates(sf: httpx.Client) -> None:
    path = "/sobjects/Opportunity/Q2C_External_Id__c/OPP-1001"
    first = sf.patch(path, json=OPPORTUNITY)
    assert first.status_code == 201 and first.json()["created"] is True
    again = sf.patch(path, json={"Q2C_Status__c": "Active", "Q2C_External_Id__c": "OPP-1001"})
    assert again.status_code == 200
    assert again.json() == {
        "id": first.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    record = sf.get(path).json()
    assert record["Q2C_Status__c"] == "Active" and record["Name"] == "Acme renewal"
    _error(sf.patch(path, json={"Q2C_External_Id__c": "OTHER"}), 400, "INVALID_FIELD")
    missing = sf.patch(
        "/sobjects/Opportunity/Q2C_External_Id__c/NOPE",
        params={"updateOnly": "true"},
        json=OPPORTUNITY,
    )
    _error(missing, 404, "NOT_FOUND")
    _error(sf.patch("/sobjects/Opportunity/Name/x", json=OPPORTUNITY), 404, "NOT_FOUND")
    assert sf.delete(path).status_code == 204
    _error(sf.get(path), 404, "NOT_FOUND")


def test_lookups_by_parent_external_id_and_computed_fields(sf: httpx.Client) -> None:
    opportunity = sf.post(
        "/sobjects/Opportunity",
        json={**OPPORTUNITY, "Account": {"Q2C_External_Id__c": "ACC-1"}, "CurrencyIsoCode": "EUR"},
    ).json()["id"]
    entry = sf.get(
        "/query",
        params={
            "q": "SELECT Id FROM PricebookEntry WHERE ProductCode = 'SEAT-PRO' "
            "AND CurrencyIsoCode = 'EUR'"
        },
    ).json()["records"][0]["Id"]
    line = {"OpportunityId": opportunity, "PricebookEntryId": entry, "Quantity": 50}
    line_id = sf.post("/sobjects/OpportunityLineItem", json={**line, "UnitPrice": "1200.00"})
    assert line_id.status_code == 201, line_id.text
    item = sf.get(f"/sobjects/OpportunityLineItem/{line_id.json()['id']}").json()
    assert item["TotalPrice"] == 60000.0 and item["ProductCode"] == "SEAT-PRO"
    assert item["ListPrice"] == 1500.0 and item["Product2Id"].startswith("01t")
    deal = sf.get(f"/sobjects/Opportunity/{opportunity}").json()
    assert deal["Amount"] == 60000.0 and deal["HasOpportunityLineItem"] is True
    assert deal["AccountId"].startswith("001")
    sf.delete(f"/sobjects/Opportunity/{opportunity}")  # master-detail: lines go too
    _error(sf.get(f"/sobjects/OpportunityLineItem/{line_id.json()['id']}"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**OPPORTUNITY, "Bogus__c": 1}, 400, "INVALID_FIELD"),
        ({**OPPORTUNITY, "CloseDate": "15/01/2026"}, 400, "JSON_PARSER_ERROR"),
        ({**OPPORTUNITY, "Amount": "a lot"}, 400, "JSON_PARSER_ERROR"),
        ({**OPPORTUNITY, "Amount": True}, 400, "JSON_PARSER_ERROR"),
        ({**OPPORTUNITY, "Name": ["x"]}, 400, "JSON_PARSER_ERROR"),
        (
            {**OPPORTUNITY, "Q2C_Billing_Frequency__c": "weekly"},
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ),
        ({**OPPORTUNITY, "IsWon": True}, 400, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({**OPPORTUNITY, "Id": "006000000000000AAA"}, 400, "INVALID_FIELD"),
        ({**OPPORTUNITY, "AccountId": "not-an-id"}, 400, "MALFORMED_ID"),
        ({**OPPORTUNITY, "AccountId": "001Q20000000099AAA"}, 400, "INVALID_CROSS_REFERENCE_KEY"),
        ({**OPPORTUNITY, "Name": "x" * 121}, 400, "STRING_TOO_LONG"),
        ({"Name": "No stage"}, 400, "REQUIRED_FIELD_MISSING"),
        ([OPPORTUNITY], 400, "JSON_PARSER_ERROR"),
        ("just a string", 400, "JSON_PARSER_ERROR"),
    ],
)
def test_client_mistakes_get_salesforce_errors_never_a_500(
    sf: httpx.Client, body: Any, status: int, code: str
) -> None:
    _error(sf.post("/sobjects/Opportunity", json=body), status, code)


def test_required_fields_are_named_and_duplicates_refused(sf: httpx.Client) -> None:
    missing = _error(
        sf.post("/sobjects/Opportunity", json={"Name": "x"}), 400, "REQUIRED_FIELD_MISSING"
    )
    assert missing["fields"] == ["StageName", "CloseDate"]
    body = {**OPPORTUNITY, "Q2C_External_Id__c": "OPP-7"}
    assert sf.post("/sobjects/Opportunity", json=body).status_code == 201
    _error(sf.post("/sobjects/Opportunity", json=body), 400, "DUPLICATE_VALUE")


def test_malformed_json_unknown_objects_routes_and_methods(sf: httpx.Client) -> None:
    bad = sf.post(
        "/sobjects/Opportunity", content=b'{"Name": ', headers={"Content-Type": "application/json"}
    )
    _error(bad, 400, "JSON_PARSER_ERROR")
    _error(sf.post("/sobjects/Invoice__c", json={}), 404, "NOT_FOUND")
    _error(sf.get("/nothing/here"), 404, "NOT_FOUND")
    _error(sf.put("/sobjects/Opportunity/006Q20000000001IAA", json={}), 405, "METHOD_NOT_ALLOWED")
    _error(sf.get("/../v1.0/limits"), 404, "NOT_FOUND")


def test_daily_request_limit_is_enforced_on_the_sandbox_clock(sandbox: SandboxHandle) -> None:
    with sf_client(sandbox) as sf:
        sandbox.admin("salesforce", "PUT", "limits", {"daily_api_requests": 3})
        assert [sf.get("/limits").status_code for _ in range(3)] == [200, 200, 200]
        refused = _error(sf.get("/limits"), 403, "REQUEST_LIMIT_EXCEEDED")
        assert "TotalRequests Limit exceeded" in refused["message"]
        sandbox.advance_clock(86401)
        sf.headers["Authorization"] = f"Bearer {sf_token(sandbox)}"  # the old one expired
        limits = sf.get("/limits")
    assert limits.status_code == 200
    assert limits.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}
    assert limits.headers["Sforce-Limit-Info"] == "api-usage=1/3"


def test_describe_lists_the_q2c_fields(sf: httpx.Client) -> None:
    describe = sf.get("/sobjects/Opportunity/describe").json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert fields["Q2C_External_Id__c"]["externalId"] is True
    assert fields["Q2C_Billing_Frequency__c"]["restrictedPicklist"] is True
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    relationships = {r["relationshipName"] for r in describe["childRelationships"]}
    assert {"OpportunityLineItems", "Q2C_Amendments__r"} <= relationships
    names = {o["name"] for o in sf.get("/sobjects").json()["sobjects"]}
    assert {
        "Account",
        "Product2",
        "PricebookEntry",
        "Opportunity",
        "OpportunityLineItem",
        "Contract",
        "Q2C_Amendment__c",
        "Q2C_Amendment_Line__c",
    } <= names


def test_reset_empties_the_org_but_keeps_the_standard_price_book(sandbox: SandboxHandle) -> None:
    sandbox.seed("salesforce", None)
    assert len(sandbox.state("salesforce")["Account"]) == 2
    sandbox.reset()
    state = sandbox.state("salesforce")
    assert "Account" not in state
    assert [b["Name"] for b in state["Pricebook2"]] == ["Standard Price Book"]
    bad_seed = sandbox.http.post(
        f"{sandbox.salesforce_url}/_sandbox/seed", json={"Account": [{"Nom": "x"}]}
    )
    assert bad_seed.status_code == 400 and "INVALID_FIELD" in bad_seed.json()["error"]
