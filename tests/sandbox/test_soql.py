"""The SOQL subset: what the adapter queries, parsed and refused like Salesforce does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.clients import SF_DATA, sf_client


@pytest.fixture
def sf(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    accounts = [
        {"Name": "Acme GmbH", "BillingCountry": "DE", "Q2C_External_Id__c": "A1"},
        {"Name": "acme Ltd", "BillingCountry": "GB", "Q2C_External_Id__c": "A2"},
        {"Name": "Globex", "Q2C_External_Id__c": "A3"},
    ]
    opportunities = [
        {
            "Name": f"Deal {n}",
            "StageName": stage,
            "CloseDate": close,
            "Amount": amount,
            "AccountId": f"@a{account}",
            "Q2C_External_Id__c": f"OPP-{n}",
        }
        for n, (stage, close, amount, account) in enumerate(
            [
                ("Closed Won", "2026-01-15", 1000, 1),
                ("Closed Won", "2026-03-01", 250.5, 2),
                ("Prospecting", "2026-02-10", None, 1),
                ("Closed Lost", "2025-12-31", 10, 3),
            ]
        )
    ]
    sandbox.seed(
        "salesforce",
        {
            "Account": [
                {**a, "attributes": {"referenceId": f"a{i}"}} for i, a in enumerate(accounts, 1)
            ],
            "Opportunity": opportunities,
        },
    )
    with sf_client(sandbox) as client:
        yield client


def names(sf: httpx.Client, soql: str) -> list[str]:
    answer = sf.get("/query", params={"q": soql})
    assert answer.status_code == 200, answer.text
    return [r["Name"] for r in answer.json()["records"]]


def error(sf: httpx.Client, soql: str) -> dict[str, Any]:
    answer = sf.get("/query", params={"q": soql})
    assert answer.status_code == 400, answer.text
    first: dict[str, Any] = answer.json()[0]
    return first


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("StageName = 'Closed Won'", ["Deal 0", "Deal 1"]),
        ("StageName != 'Closed Won'", ["Deal 2", "Deal 3"]),
        ("StageName <> 'closed won'", ["Deal 2", "Deal 3"]),  # comparisons ignore case
        ("StageName IN ('Closed Lost', 'Prospecting')", ["Deal 2", "Deal 3"]),
        ("StageName NOT IN ('Closed Lost', 'Prospecting')", ["Deal 0", "Deal 1"]),
        ("Name LIKE 'deal _'", ["Deal 0", "Deal 1", "Deal 2", "Deal 3"]),
        ("Name LIKE '%3'", ["Deal 3"]),
        ("Amount > 100", ["Deal 0", "Deal 1"]),
        ("Amount <= 250.5", ["Deal 1", "Deal 3"]),
        ("Amount = null", ["Deal 2"]),
        ("Amount != null AND Amount < 0", []),
        ("CloseDate >= 2026-01-15 AND CloseDate < 2026-03-01", ["Deal 0", "Deal 2"]),
        ("CloseDate = 2025-12-31 OR Amount = 1000", ["Deal 0", "Deal 3"]),
        (
            "(StageName = 'Closed Won' OR Amount = null) AND CloseDate > 2026-01-31",
            ["Deal 1", "Deal 2"],
        ),
        ("NOT StageName = 'Closed Won'", ["Deal 2", "Deal 3"]),
        ("IsWon = true", ["Deal 0", "Deal 1"]),
        ("Account.Name LIKE 'acme%'", ["Deal 0", "Deal 1", "Deal 2"]),
        ("Account.BillingCountry = null", ["Deal 3"]),
        ("Q2C_External_Id__c IN ('OPP-1', 'OPP-3')", ["Deal 1", "Deal 3"]),
        ("CreatedDate = TODAY AND CreatedDate = LAST_N_DAYS:2 AND Name = 'Deal 1'", ["Deal 1"]),
        ("CreatedDate = YESTERDAY OR CreatedDate > NEXT_N_DAYS:3", []),
        ("CreatedDate < TOMORROW AND Name = 'Deal 2'", ["Deal 2"]),
    ],
)
def test_where_clauses(sf: httpx.Client, where: str, expected: list[str]) -> None:
    assert names(sf, f"SELECT Name FROM Opportunity WHERE {where}") == expected


def test_order_by_limit_offset_and_count(sf: httpx.Client) -> None:
    soql = "SELECT Name FROM Opportunity ORDER BY Amount DESC NULLS LAST, Name"
    assert names(sf, soql) == ["Deal 0", "Deal 1", "Deal 3", "Deal 2"]
    assert names(sf, "SELECT Name FROM Opportunity ORDER BY Amount") == [
        "Deal 2",
        "Deal 3",
        "Deal 1",
        "Deal 0",
    ]  # ascending puts nulls first
    assert names(sf, "select name from opportunity order by CloseDate limit 2 offset 1") == [
        "Deal 0",
        "Deal 2",
    ]
    count = sf.get("/query", params={"q": "SELECT COUNT() FROM Opportunity WHERE IsWon = false"})
    assert count.json() == {"totalSize": 2, "done": True, "records": []}


def test_relationship_fields_and_child_subqueries(sf: httpx.Client) -> None:
    soql = (
        "SELECT Name, Account.Name, Account.Q2C_External_Id__c FROM Opportunity "
        "WHERE Q2C_External_Id__c = 'OPP-0'"
    )
    record = sf.get("/query", params={"q": soql}).json()["records"][0]
    assert record["Account"]["Name"] == "Acme GmbH"
    assert record["Account"]["Q2C_External_Id__c"] == "A1"
    assert record["Account"]["attributes"]["type"] == "Account"
    soql = (
        "SELECT Name, (SELECT Name FROM Opportunities WHERE IsWon = true ORDER BY Name) "
        "FROM Account ORDER BY Name"
    )
    records = sf.get("/query", params={"q": soql}).json()["records"]
    children = {r["Name"]: r["Opportunities"] for r in records}
    assert children["Acme GmbH"]["totalSize"] == 1 and children["Acme GmbH"]["done"] is True
    assert [r["Name"] for r in children["acme Ltd"]["records"]] == ["Deal 1"]
    assert children["Globex"] is None  # no matching child: null, as Salesforce answers


def test_results_page_with_next_records_url(sandbox: SandboxHandle) -> None:
    products = [{"Name": f"P{n:03d}", "ProductCode": f"C{n:03d}"} for n in range(250)]
    sandbox.seed("salesforce", {"Product2": products})
    with sf_client(sandbox) as sf:
        headers = {"Sforce-Query-Options": "batchSize=200"}
        page = sf.get("/query", params={"q": "SELECT ProductCode FROM Product2"}, headers=headers)
        seen = []
        while True:
            body = page.json()
            assert body["totalSize"] == 250
            seen += [r["ProductCode"] for r in body["records"]]
            if body["done"]:
                assert "nextRecordsUrl" not in body
                break
            assert body["nextRecordsUrl"].startswith(f"{SF_DATA}/query/01g")
            page = sf.get(sandbox.salesforce_url + body["nextRecordsUrl"], headers=headers)
        bad = sf.get("/query/01gBOGUS-200")
    assert seen == [f"C{n:03d}" for n in range(250)]
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Name FROM", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Name Opportunity", "MALFORMED_QUERY", "unexpected token: 'Opportunity'"),
        (
            "SELECT Name FROM Opportunity WHERE Name = 'x' AND Amount = 1 OR Amount = 2",
            "MALFORMED_QUERY",
            "unexpected token: 'OR'",
        ),
        ("SELECT Name FROM Opportunity WHERE Name = 'unterminated", "MALFORMED_QUERY", ""),
        ("SELECT Name FROM Opportunity LIMIT many", "MALFORMED_QUERY", "many"),
        ("SELECT Nmae FROM Opportunity", "INVALID_FIELD", "No such column 'Nmae'"),
        ("SELECT Acount.Name FROM Opportunity", "INVALID_FIELD", "relationship 'Acount'"),
        ("SELECT Name FROM Opportunity ORDER BY Bogus", "INVALID_FIELD", "Bogus"),
        (
            "SELECT Name FROM Opportunity WHERE CloseDate = '2026-01-15'",
            "INVALID_FIELD",
            "must be of type date and should not be enclosed in quotes",
        ),
        ("SELECT Name FROM Opportunity WHERE Amount = '5'", "INVALID_FIELD", "type double"),
        ("SELECT Name FROM Opportunity WHERE Name = 5", "INVALID_FIELD", "enclosed in quotes"),
        ("SELECT Name FROM Opportunity WHERE Amount LIKE '5%'", "INVALID_FIELD", "LIKE"),
        ("SELECT Name FROM Opportunties", "INVALID_TYPE", "sObject type 'Opportunties'"),
        ("SELECT Name, (SELECT Id FROM Lines) FROM Opportunity", "INVALID_TYPE", "'Lines'"),
        (
            "SELECT Name FROM Opportunity WHERE AccountId IN (SELECT Id FROM Account)",
            "MALFORMED_QUERY",
            "semi-join",
        ),
    ],
)
def test_bad_queries_are_refused_like_salesforce(
    sf: httpx.Client, soql: str, code: str, fragment: str
) -> None:
    refused = error(sf, soql)
    assert refused["errorCode"] == code
    assert fragment in refused["message"]


def test_missing_query_parameter(sf: httpx.Client) -> None:
    answer = sf.get("/query")
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "MALFORMED_QUERY"
