"""The Salesforce adapter against the sandbox over real HTTP: reads, writes, auth and faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from adapters.errors import BusinessError, NotFoundError, TransientError
from adapters.http import make_http_client
from adapters.salesforce import ExternalIds, SalesforceClient, soql
from tests.adapters.retrying import Retrier
from tests.fixtures.sandbox import SandboxHandle

COMMIT_THEN_FAIL_30 = [
    {"route": "*", "method": "PATCH", "commit_then_fail_rate": 0.15},
    {"route": "*", "method": "PATCH", "commit_then_fail_rate": 0.15 / 0.85,
     "commit_then_fail_mode": "drop"},
]  # fmt: skip
SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"


@pytest.fixture
async def salesforce(sandbox: SandboxHandle) -> AsyncIterator[SalesforceClient]:
    http = make_http_client(sandbox.settings)
    client = SalesforceClient(sandbox.settings, http)
    yield client
    await http.aclose()


def _scenario(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((SCENARIOS / name).read_text())
    return data


def _book(sandbox: SandboxHandle, name: str) -> dict[str, object]:
    booked: dict[str, object] = sandbox.seed("salesforce", {"scenario": _scenario(name)})
    return booked


async def test_booking_of_a_scenario(sandbox: SandboxHandle, salesforce: SalesforceClient) -> None:
    booked = _book(sandbox, "07-usage-with-allowance.json")
    scenario = _scenario("07-usage-with-allowance.json")
    contract = scenario["contract"]
    assert isinstance(contract, dict)
    booking = await salesforce.get_opportunity_booking(str(booked["opportunity_id"]))
    opp = booking.opportunity
    assert opp.id == booked["opportunity_id"]
    assert opp.external_id == contract["id"] and opp.stage == "Closed Won" and opp.is_won
    assert opp.currency == contract["currency"]
    assert opp.start_date == date.fromisoformat(contract["start_date"])
    assert opp.end_date == date.fromisoformat(contract["end_date"])
    assert opp.billing_frequency == contract["billing_frequency"]
    assert opp.legal_entity == contract["legal_entity"]
    assert booking.account.id == booked["account_id"]
    assert booking.account.name == contract["customer"]["name"]
    assert booking.account.external_id == contract["customer"]["id"]
    assert [line.line_id for line in booking.lines] == [line["id"] for line in contract["lines"]]
    for line, expected in zip(booking.lines, contract["lines"], strict=True):
        assert line.product_code == expected["product_code"]
        assert line.kind == expected["kind"]
        assert line.unit_price == Decimal(expected["unit_price"])
        assert line.quantity == Decimal(expected.get("quantity", 1))
        assert line.ssp == Decimal(expected.get("ssp", expected["unit_price"]))
        if "included" in expected:
            assert line.included_units == Decimal(expected["included"])
        assert isinstance(line.unit_price, Decimal)
    # the scenario books no billing/ERP mappings yet: the adapter says which are missing
    assert booking.missing_mappings()


async def test_amendment_with_its_lines(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    booked = _book(sandbox, "04-mid-period-upsell-at-ssp-separate-contract.json")
    scenario = _scenario("04-mid-period-upsell-at-ssp-separate-contract.json")
    amendments = scenario["amendments"]
    assert isinstance(amendments, list) and isinstance(booked["amendment_ids"], dict)
    expected = amendments[0]
    amendment = await salesforce.get_amendment(booked["amendment_ids"][expected["id"]])
    assert amendment.name == expected["id"]
    assert amendment.opportunity_id == booked["opportunity_id"]
    assert amendment.effective_date == date.fromisoformat(expected["effective_date"])
    assert amendment.cancel is bool(expected["cancel"])
    actions = [(line.action, line.line_id) for line in amendment.lines]
    assert actions == (
        [("change", c["line_id"]) for c in expected["changes"]]
        + [("add", a["id"]) for a in expected["add_lines"]]
        + [("remove", r) for r in expected["remove_lines"]]
    )


async def test_unknown_records_are_not_found(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    with pytest.raises(NotFoundError):
        await salesforce.get_opportunity_booking("006000000000000AAA")
    with pytest.raises(NotFoundError) as info:
        await salesforce.get("Account", "001000000000000AAA")
    assert info.value.code == "NOT_FOUND"
    with pytest.raises(NotFoundError):
        await salesforce.get_amendment("a0A000000000000AAA")


async def test_malformed_query_is_a_business_error(salesforce: SalesforceClient) -> None:
    with pytest.raises(BusinessError) as info:
        await salesforce.query("SELECT FROM WHERE")
    assert info.value.code == "MALFORMED_QUERY" and not isinstance(info.value, NotFoundError)


async def test_hostile_literal_matches_nothing(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    await salesforce.create("Account", {"Name": "Plain"})
    await salesforce.create("Account", {"Name": "O'Brien \\ Sons"})
    hostile = soql("SELECT Id, Name FROM Account WHERE Name = {n}", n="x' OR Name != 'x")
    assert await salesforce.query(hostile) == []
    exact = soql("SELECT Name FROM Account WHERE Name = {n}", n="O'Brien \\ Sons")
    assert [r["Name"] for r in await salesforce.query(exact)] == ["O'Brien \\ Sons"]


async def test_query_follows_next_records_url(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    sandbox.seed("salesforce", {"Account": [{"Name": f"A{n:03}"} for n in range(450)]})
    pages = [
        page
        async for page in salesforce.query_pages(
            "SELECT Id, Name FROM Account ORDER BY Name", batch_size=200
        )
    ]
    assert [len(p.records) for p in pages] == [200, 200, 50]
    assert pages[0].total_size == 450 and pages[-1].done
    names = [r["Name"] for r in await salesforce.query("SELECT Name FROM Account", batch_size=200)]
    assert sorted(names) == [f"A{n:03}" for n in range(450)]


async def test_crud_and_upsert(sandbox: SandboxHandle, salesforce: SalesforceClient) -> None:
    created = await salesforce.create("Account", {"Name": "Globex", "Industry": "Energy"})
    assert created.created
    await salesforce.update("Account", created.id, {"Industry": "Utilities"})
    record = await salesforce.get("Account", created.id, ["Name", "Industry"])
    assert (record["Name"], record["Industry"]) == ("Globex", "Utilities")

    key = "contract-OPP-1:renewal"
    first = await salesforce.upsert("Account", "Q2C_External_Id__c", key, {"Name": "Initech"})
    again = await salesforce.upsert("Account", "Q2C_External_Id__c", key, {"Name": "Initech 2"})
    assert first.created and not again.created and first.id == again.id
    found = await salesforce.get_by_external_id("Account", "Q2C_External_Id__c", key, ["Name"])
    assert found["Name"] == "Initech 2"


async def test_write_back_status(sandbox: SandboxHandle, salesforce: SalesforceClient) -> None:
    booked = _book(sandbox, "01-annual-contract-billed-monthly.json")
    opportunity_id = str(booked["opportunity_id"])
    ids = ExternalIds(
        workflow_id=f"contract-{opportunity_id}",
        billing_customer_id="cus_123",
        erp_customer_id="42",
    )
    await salesforce.write_back_status(
        opportunity_id, "NeedsAttention", ids, attention_reason="missing_mapping"
    )
    fields = [
        "Q2C_Status__c",
        "Q2C_Attention_Reason__c",
        "Q2C_Workflow_Id__c",
        "Q2C_Billing_Customer_Id__c",
        "Q2C_ERP_Customer_Id__c",
        "Q2C_Synced_At__c",
    ]
    record = await salesforce.get("Opportunity", opportunity_id, fields)
    assert record["Q2C_Status__c"] == "NeedsAttention"
    assert record["Q2C_Attention_Reason__c"] == "missing_mapping"
    assert record["Q2C_Workflow_Id__c"] == f"contract-{opportunity_id}"
    assert record["Q2C_Billing_Customer_Id__c"] == "cus_123"
    assert record["Q2C_Synced_At__c"]
    await salesforce.write_back_status(opportunity_id, "Active")
    record = await salesforce.get("Opportunity", opportunity_id, fields)
    assert record["Q2C_Status__c"] == "Active" and record["Q2C_Attention_Reason__c"] is None
    assert record["Q2C_ERP_Customer_Id__c"] == "42"  # ids not given are left alone
    with pytest.raises(BusinessError) as info:
        await salesforce.write_back_status(
            opportunity_id, "NeedsAttention", attention_reason="x" * 300
        )
    assert info.value.code == "STRING_TOO_LONG"


async def test_expired_token_is_refreshed_once(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    await salesforce.query("SELECT Id FROM Account")
    assert salesforce.api.tokens.fetches == 1
    sandbox.advance_clock(sandbox.settings.sandbox_token_ttl_seconds + 1)
    await salesforce.query("SELECT Id FROM Account")
    assert salesforce.api.tokens.fetches == 2
    await salesforce.query("SELECT Id FROM Account")
    assert salesforce.api.tokens.fetches == 2


async def test_bad_credentials_are_a_business_error(sandbox: SandboxHandle) -> None:
    settings = sandbox.settings.model_copy(update={"salesforce_client_secret": "wrong"})
    async with SalesforceClient(settings) as client:
        with pytest.raises(BusinessError) as info:
            await client.query("SELECT Id FROM Account")
    assert info.value.code == "invalid_client"


async def test_rate_limit_is_transient_with_retry_after(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    sandbox.admin(
        "salesforce",
        "PUT",
        "faults",
        {"rules": [{"route": "*/query", "rate_limit_rate": 1, "retry_after": 7}]},
    )
    with pytest.raises(TransientError) as info:
        await salesforce.query("SELECT Id FROM Account")
    assert info.value.retry_after == 7.0
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED"


async def test_daily_api_limit_is_transient(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    sandbox.admin("salesforce", "PUT", "limits", {"daily_api_requests": 0})
    with pytest.raises(TransientError) as info:
        await salesforce.query("SELECT Id FROM Account")
    assert info.value.code == "REQUEST_LIMIT_EXCEEDED"


async def test_server_error_and_hang_are_transient(sandbox: SandboxHandle) -> None:
    settings = sandbox.settings.model_copy(update={"http_timeout_seconds": 0.3})
    async with SalesforceClient(settings) as client:
        sandbox.set_faults(
            "salesforce", [{"route": "*/query", "error_rate": 1, "error_status": 503}]
        )
        with pytest.raises(TransientError) as info:
            await client.query("SELECT Id FROM Account")
        assert info.value.code == "SERVER_UNAVAILABLE"
        sandbox.set_faults("salesforce", [{"route": "*/query", "hang_rate": 1}])
        with pytest.raises(TransientError) as info:
            await client.query("SELECT Id FROM Account")
        assert info.value.code == "timeout"


async def test_unreachable_is_transient(sandbox: SandboxHandle) -> None:
    settings = sandbox.settings.model_copy(update={"salesforce_url": "http://127.0.0.1:9"})
    async with SalesforceClient(settings) as client:
        with pytest.raises(TransientError) as info:
            await client.query("SELECT Id FROM Account")
    assert info.value.code == "connection_error"


async def test_retried_upserts_under_commit_then_fail_make_exactly_one_record_each(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    """30% of upserts are applied and then answered with a 500 (15%) or a dropped connection
    (the other 15%); retrying each until it succeeds, as Temporal would, leaves one record per
    key."""
    sandbox.admin("salesforce", "PUT", "faults", {"rules": COMMIT_THEN_FAIL_30, "seed": 11})
    retry = Retrier()
    ids = set()
    for n in range(200):
        key = f"contract-OPP-{n}"
        fields = {"Name": f"Deal {n}", "StageName": "Closed Won", "CloseDate": "2026-01-15"}

        async def upsert(key: str = key, fields: dict[str, str] = fields) -> str:
            result = await salesforce.upsert("Opportunity", "Q2C_External_Id__c", key, fields)
            return result.id

        ids.add(await retry(upsert))
    sandbox.clear_faults()
    # the faults really happened, in both modes
    assert 30 < len(retry.failures) < 120
    assert {f.code for f in retry.failures} == {"UNKNOWN_EXCEPTION", "connection_error"}
    assert len(ids) == 200
    count = await salesforce.query_pages("SELECT COUNT() FROM Opportunity").__anext__()
    assert count.total_size == 200
    keys = await salesforce.query("SELECT Q2C_External_Id__c FROM Opportunity")
    assert sorted(r["Q2C_External_Id__c"] for r in keys) == sorted(
        f"contract-OPP-{n}" for n in range(200)
    )


async def test_plain_create_is_not_idempotent_which_is_why_upsert_exists(
    sandbox: SandboxHandle, salesforce: SalesforceClient
) -> None:
    """The control experiment: the same faults on POST duplicate records."""
    sandbox.set_faults("salesforce", [{"route": "*", "method": "POST",
                                       "commit_then_fail_rate": 0.3}], seed=11)  # fmt: skip
    retry = Retrier()
    for n in range(40):

        async def create(n: int = n) -> str:
            return (await salesforce.create("Account", {"Name": f"Dup {n}"})).id

        await retry(create)
    sandbox.clear_faults()
    assert retry.failures
    rows = await salesforce.query("SELECT Id FROM Account")
    assert len(rows) == 40 + len(retry.failures)


async def test_http_client_is_shared_not_closed(sandbox: SandboxHandle) -> None:
    http = make_http_client(sandbox.settings)
    async with SalesforceClient(sandbox.settings, http) as client:
        await client.query("SELECT Id FROM Account")
    assert not http.is_closed
    await http.aclose()
    assert isinstance(http, httpx.AsyncClient)
