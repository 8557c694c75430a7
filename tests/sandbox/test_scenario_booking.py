"""DESIGN.md §6 scenarios booked in the Salesforce sandbox, and amendments that round-trip.

What goes in as a scenario's contract and amendments comes back out of SOQL, field for field,
so the adapter can rebuild an amendment (changes, add_lines, remove_lines, end_date, cancel)
from Q2C_Amendment__c and its Q2C_Amendment_Line__c records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SCENARIOS
from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.clients import sf_client

NUMBERS = {"quantity", "unit_price", "ssp", "included"}
LINE_FIELDS = {
    "quantity": "Q2C_Quantity__c",
    "unit_price": "Q2C_Unit_Price__c",
    "ssp": "Q2C_SSP__c",
    "included": "Q2C_Included_Units__c",
    "product_code": "Q2C_Product_Code__c",
    "kind": "Q2C_Kind__c",
    "start_date": "Q2C_Start_Date__c",
    "end_date": "Q2C_End_Date__c",
}
AMENDMENTS = (
    "SELECT Name, Q2C_Effective_Date__c, Q2C_End_Date__c, Q2C_Cancel__c, "
    "(SELECT Q2C_Action__c, Q2C_Line_Id__c, " + ", ".join(LINE_FIELDS.values()) + " "
    "FROM Q2C_Amendment_Lines__r ORDER BY Q2C_Sort_Order__c) "
    "FROM Q2C_Amendment__c WHERE Q2C_Opportunity__r.Q2C_External_Id__c = '{contract}'"
)


def scenario_files() -> list[Path]:
    return sorted(p for p in SCENARIOS.glob("*.json") if not p.name.endswith(".report.json"))


def normalized(value: Any, key: str = "") -> Any:
    """Numbers as Decimal (Salesforce answers JSON numbers), absent and null alike."""
    if isinstance(value, dict):
        return {k: normalized(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalized(v, key) for v in value]
    if key in NUMBERS and value is not None:
        return Decimal(str(value))
    return value


def amendment_from_records(record: dict[str, Any]) -> dict[str, Any]:
    """How an adapter reads an amendment back (the mapping the sandbox's schema documents)."""
    lines = (record["Q2C_Amendment_Lines__r"] or {"records": []})["records"]
    changes, added, removed = [], [], []
    for line in lines:
        fields = {key: line[name] for key, name in LINE_FIELDS.items() if line[name] is not None}
        if line["Q2C_Action__c"] == "change":
            changes.append({"line_id": line["Q2C_Line_Id__c"], **fields})
        elif line["Q2C_Action__c"] == "add":
            added.append({"id": line["Q2C_Line_Id__c"], **fields})
        else:
            removed.append(line["Q2C_Line_Id__c"])
    return {
        "id": record["Name"],
        "effective_date": record["Q2C_Effective_Date__c"],
        "changes": changes,
        "add_lines": added,
        "remove_lines": removed,
        "end_date": record["Q2C_End_Date__c"],
        "cancel": record["Q2C_Cancel__c"],
    }


@pytest.fixture
def sf(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with sf_client(sandbox) as client:
        yield client


ADDS_AND_REMOVES = {
    "contract": {
        "id": "OPP-9",
        "customer": {"id": "ACC-9", "name": "Initech"},
        "currency": "JPY",
        "legal_entity": "JP",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "billing_frequency": "annual",
        "lines": [
            {
                "id": "L1",
                "product_code": "SEAT",
                "kind": "subscription",
                "quantity": 5,
                "unit_price": "120000",
                "ssp": "150000",
            },
            {
                "id": "L2",
                "product_code": "CALLS",
                "kind": "usage",
                "included": 1000,
                "unit_price": "0.5",
            },
        ],
    },
    "amendments": [
        {
            "id": "AMD-1",
            "effective_date": "2026-04-01",
            "changes": [{"line_id": "L1", "quantity": 8, "unit_price": "110000", "ssp": "140000"}],
            "add_lines": [
                {
                    "id": "L3",
                    "product_code": "ONBOARD",
                    "kind": "one_time",
                    "quantity": 1,
                    "unit_price": "500000",
                    "ssp": "600000",
                    "start_date": "2026-04-15",
                },
                {
                    "id": "L4",
                    "product_code": "SEAT",
                    "kind": "subscription",
                    "quantity": 2,
                    "unit_price": "120000",
                    "end_date": "2026-09-30",
                },
            ],
            "remove_lines": ["L2"],
            "end_date": "2027-03-31",
            "cancel": False,
        },
        {
            "id": "AMD-2",
            "effective_date": "2026-10-01",
            "changes": [],
            "add_lines": [],
            "remove_lines": [],
            "end_date": None,
            "cancel": True,
        },
    ],
}


def scenarios() -> list[Any]:
    shared = [pytest.param(json.loads(p.read_text()), id=p.stem) for p in scenario_files()]
    return [*shared, pytest.param(ADDS_AND_REMOVES, id="adds-removes-extends-cancels")]


def test_the_shared_scenarios_are_there() -> None:
    amendments = [a for p in scenario_files() for a in json.loads(p.read_text())["amendments"]]
    assert any(a["changes"] for a in amendments) and any(a["cancel"] for a in amendments)


@pytest.mark.parametrize("scenario", scenarios())
def test_scenario_books_and_its_amendments_round_trip(
    sandbox: SandboxHandle, sf: httpx.Client, scenario: dict[str, Any]
) -> None:
    contract = scenario["contract"]
    booked = sandbox.seed("salesforce", {"scenario": scenario})
    assert booked["created"] is True
    assert sandbox.seed("salesforce", {"scenario": scenario})["created"] is False  # idempotent

    soql = (
        "SELECT Q2C_Start_Date__c, Q2C_End_Date__c, Q2C_Billing_Frequency__c, CurrencyIsoCode, "
        "Q2C_Legal_Entity__c, Account.Q2C_External_Id__c, (SELECT Q2C_Line_Id__c, "
        "Product2.ProductCode, Q2C_Kind__c, Quantity, UnitPrice, Q2C_SSP__c, "
        "Q2C_Included_Units__c FROM OpportunityLineItems ORDER BY SortOrder) "
        f"FROM Opportunity WHERE Q2C_External_Id__c = '{contract['id']}'"
    )
    [deal] = sf.get("/query", params={"q": soql}).json()["records"]
    assert (deal["Q2C_Start_Date__c"], deal["Q2C_End_Date__c"]) == (
        contract["start_date"],
        contract["end_date"],
    )
    assert deal["Q2C_Billing_Frequency__c"] == contract["billing_frequency"]
    assert deal["CurrencyIsoCode"] == contract["currency"]
    assert deal["Account"]["Q2C_External_Id__c"] == contract["customer"]["id"]
    lines = [
        {
            "id": item["Q2C_Line_Id__c"],
            "product_code": item["Product2"]["ProductCode"],
            "kind": item["Q2C_Kind__c"],
            "quantity": item["Quantity"] if item["Q2C_Kind__c"] != "usage" else None,
            "unit_price": item["UnitPrice"],
            "ssp": item["Q2C_SSP__c"],
            "included": item["Q2C_Included_Units__c"],
        }
        for item in deal["OpportunityLineItems"]["records"]
    ]
    assert normalized(lines) == normalized(contract["lines"])

    answer = sf.get("/query", params={"q": AMENDMENTS.format(contract=contract["id"])})
    read_back = {r["Name"]: amendment_from_records(r) for r in answer.json()["records"]}
    expected = {a["id"]: a for a in scenario.get("amendments", [])}
    assert normalized(read_back) == normalized(expected)


def test_bad_scenarios_are_refused_with_a_reason(sandbox: SandboxHandle) -> None:
    url = f"{sandbox.salesforce_url}/_sandbox/seed"
    missing = sandbox.http.post(url, json={"scenario": {"contract": {"id": "X"}}})
    assert missing.status_code == 400 and "scenario" in missing.json()["error"]
    scenario = json.loads(scenario_files()[0].read_text())
    scenario["contract"]["billing_frequency"] = "weekly"
    refused = sandbox.http.post(url, json={"scenario": scenario})
    assert refused.status_code == 400
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in refused.json()["error"]
    assert "Opportunity" not in sandbox.state("salesforce")  # nothing half-booked
