"""A client no one here wrote, unmodified: simple-salesforce against the Salesforce sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.clients import simple_salesforce


def test_query_get_create_update_upsert_delete(sandbox: SandboxHandle) -> None:
    sandbox.seed("salesforce", None)
    sf = simple_salesforce(sandbox)
    opportunities: Any = sf.Opportunity  # typed by simple-salesforce as SFType | bulk handlers

    products = sf.query("SELECT Id, ProductCode, Q2C_SSP__c FROM Product2 ORDER BY ProductCode")
    assert [p["ProductCode"] for p in products["records"]] == ["API-CALLS", "ONBOARD", "SEAT-PRO"]

    account = sf.query("SELECT Id FROM Account WHERE Q2C_External_Id__c = 'ACC-1'")["records"][0]
    created = opportunities.create(
        {
            "Name": "Acme 2027",
            "StageName": "Closed Won",
            "CloseDate": "2027-01-15",
            "AccountId": account["Id"],
            "Q2C_Billing_Frequency__c": "quarterly",
        }
    )
    assert created["success"] is True
    record = opportunities.get(created["id"])
    assert record["Name"] == "Acme 2027" and record["IsWon"] is True

    assert opportunities.update(created["id"], {"Q2C_Status__c": "Active"}) == 204
    assert opportunities.get(created["id"])["Q2C_Status__c"] == "Active"

    assert (
        opportunities.upsert(
            "Q2C_External_Id__c/OPP-2027",
            {"Name": "Globex 2027", "StageName": "Prospecting", "CloseDate": "2027-03-01"},
        )
        == 201
    )
    assert opportunities.upsert("Q2C_External_Id__c/OPP-2027", {"Amount": 5000}) == 200
    by_key = opportunities.get_by_custom_id("Q2C_External_Id__c", "OPP-2027")
    assert by_key["Amount"] == 5000.0 and by_key["Name"] == "Globex 2027"

    assert opportunities.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        opportunities.get(created["id"])


def test_query_all_follows_next_records_url(sandbox: SandboxHandle) -> None:
    sandbox.seed("salesforce", {"Product2": [{"Name": f"P{n}"} for n in range(450)]})
    sf = simple_salesforce(sandbox)
    batches = {"Sforce-Query-Options": "batchSize=200"}  # Salesforce's own header
    first = sf.query("SELECT Name FROM Product2", headers=batches)
    assert first["done"] is False and len(first["records"]) == 200
    everything = sf.query_all("SELECT Name FROM Product2", headers=batches)
    assert everything["totalSize"] == 450
    assert [r["Name"] for r in everything["records"]] == [f"P{n}" for n in range(450)]


def test_errors_map_to_simple_salesforces_exceptions(sandbox: SandboxHandle) -> None:
    sf = simple_salesforce(sandbox)
    accounts: Any = sf.Account
    with pytest.raises(SalesforceMalformedRequest) as bad_query:
        sf.query("SELECT Nope FROM Account")
    content: Any = bad_query.value.content
    assert content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as missing:
        accounts.create({"Website": "https://acme.example"})
    content = missing.value.content
    assert content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    sandbox.advance_clock(sandbox.settings.sandbox_token_ttl_seconds + 1)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")
