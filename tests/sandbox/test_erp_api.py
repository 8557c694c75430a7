"""The ERP app: NetSuite's token endpoint, records, upsert by eid:, journals that stay posted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxHandle
from tests.sandbox.clients import ERP_RECORD, erp_client, journal

TOKEN = "/services/rest/auth/oauth2/v1/token"


@pytest.fixture
def erp(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with erp_client(sandbox) as client:
        yield client


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"type", "title", "status", "o:errorDetails"}, body
    assert body["status"] == status
    detail: dict[str, Any] = body["o:errorDetails"][0]
    assert detail["o:errorCode"] == code, body
    return detail


def _jwt(issuer: str, secret: str, alg: str = "HS256") -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing = (
        f"{part({'typ': 'JWT', 'alg': alg})}.{part({'iss': issuer, 'scope': ['rest_webservices']})}"
    )
    signature = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_token_by_basic_form_or_client_assertion(sandbox: SandboxHandle) -> None:
    url = sandbox.erp_url + TOKEN
    settings = sandbox.settings
    client_id, secret = settings.erp_client_id, settings.erp_client_secret
    grant = {"grant_type": "client_credentials"}
    by_form = httpx.post(url, data={**grant, "client_id": client_id, "client_secret": secret})
    assert by_form.status_code == 200
    assert by_form.json()["expires_in"] == str(settings.sandbox_token_ttl_seconds)
    assert by_form.json()["token_type"] == "bearer"
    assertion = {
        **grant,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    good = httpx.post(url, data={**assertion, "client_assertion": _jwt(client_id, secret)})
    assert good.status_code == 200
    forged = httpx.post(url, data={**assertion, "client_assertion": _jwt(client_id, "guess")})
    assert forged.status_code == 401 and forged.json() == {"error": "invalid_client"}
    stranger = httpx.post(url, data={**assertion, "client_assertion": _jwt("someone", secret)})
    assert stranger.status_code == 401
    assert httpx.post(url, data=grant, auth=(client_id, "wrong")).status_code == 401
    assert httpx.post(url, data={"grant_type": "password"}, auth=(client_id, secret)).json() == {
        "error": "unsupported_grant_type"
    }
    assert httpx.post(url, json=grant).status_code == 400


def test_unknown_and_expired_tokens_are_invalid_logins(sandbox: SandboxHandle) -> None:
    with erp_client(sandbox) as erp:
        assert erp.get("/customer").status_code == 200
        sandbox.advance_clock(sandbox.settings.sandbox_token_ttl_seconds + 1)
        _error(erp.get("/customer"), 401, "INVALID_LOGIN")
    _error(httpx.get(f"{sandbox.erp_url}{ERP_RECORD}/customer"), 401, "INVALID_LOGIN")


def test_customer_lifecycle_and_external_ids(erp: httpx.Client, sandbox: SandboxHandle) -> None:
    body = {
        "companyName": "Acme GmbH",
        "externalId": "ACC-1",
        "subsidiary": {"externalId": "EU-DE"},
    }
    created = erp.post("/customer", json=body)
    assert created.status_code == 204 and created.content == b""
    location = created.headers["Location"]
    assert location.startswith(f"{sandbox.erp_url}{ERP_RECORD}/customer/")
    internal_id = location.rsplit("/", 1)[1]
    record = erp.get(f"/customer/{internal_id}").json()
    assert record["links"] == [{"rel": "self", "href": location}]
    assert record["id"] == internal_id and record["entityId"] == "Acme GmbH"
    assert record["currency"]["refName"] == "EUR"  # the subsidiary's currency
    assert record["subsidiary"]["id"] == "2" and "links" in record["subsidiary"]
    assert erp.get("/customer/eid:ACC-1").json()["id"] == internal_id
    assert erp.patch("/customer/eid:ACC-1", json={"email": "ap@acme.example"}).status_code == 204
    assert erp.get(f"/customer/{internal_id}", params={"fields": "email"}).json() == {
        "links": record["links"],
        "id": internal_id,
        "email": "ap@acme.example",
    }
    upserted = erp.put("/customer/eid:ACC-1", json={"phone": "+49 30 1234"})
    assert upserted.status_code == 204 and upserted.headers["Location"] == location
    new = erp.put("/customer/eid:ACC-2", json={"companyName": "Globex"})
    assert new.status_code == 204 and new.headers["Location"] != location
    duplicate = erp.post("/customer", json=body)
    _error(duplicate, 400, "DUP_RCRD")
    assert erp.delete("/customer/eid:ACC-2").status_code == 204
    _error(erp.get("/customer/eid:ACC-2"), 404, "NONEXISTENT_ID")
    _error(erp.get("/customer/999"), 404, "NONEXISTENT_ID")


def test_journal_entries_balance_and_stay_posted(erp: httpx.Client) -> None:
    entry = journal("contract-OPP-1001_invoice_2026-03", amount=1200.5)
    assert (
        erp.put("/journalEntry/eid:contract-OPP-1001_invoice_2026-03", json=entry).status_code
        == 204
    )
    again = erp.put("/journalEntry/eid:contract-OPP-1001_invoice_2026-03", json=entry)
    assert again.status_code == 204  # the same content again: an idempotent retry, no change
    posted = erp.get(
        "/journalEntry/eid:contract-OPP-1001_invoice_2026-03", params={"expandSubResources": "true"}
    ).json()
    assert posted["approved"] is True and posted["tranId"].startswith("JE")
    lines = posted["line"]["items"]
    assert [
        (line["account"]["refName"], line.get("debit"), line.get("credit")) for line in lines
    ] == [("Accounts Receivable", 1200.5, None), ("Deferred Revenue", None, 1200.5)]
    collapsed = erp.get(f"/journalEntry/{posted['id']}").json()["line"]
    assert set(collapsed) == {"links"}  # sublists are links unless expanded
    changed = {**entry, "memo": "edited"}
    refused = _error(
        erp.put("/journalEntry/eid:contract-OPP-1001_invoice_2026-03", json=changed),
        400,
        "USER_ERROR",
    )
    assert "correcting journal entry" in refused["detail"]
    _error(erp.patch(f"/journalEntry/{posted['id']}", json={"memo": "edited"}), 400, "USER_ERROR")
    _error(erp.delete(f"/journalEntry/{posted['id']}"), 400, "USER_ERROR")
    pending = journal("draft-1", approved=False)
    assert erp.post("/journalEntry", json=pending).status_code == 204
    assert erp.patch("/journalEntry/eid:draft-1", json={"memo": "fixed"}).status_code == 204


@pytest.mark.parametrize(
    ("body", "code", "path"),
    [
        (
            {
                **journal(),
                "line": {
                    "items": [
                        {"account": {"id": "2"}, "debit": 10},
                        {"account": {"id": "4"}, "credit": 9},
                    ]
                },
            },
            "USER_ERROR",
            "line",
        ),
        (
            {**journal(), "line": {"items": [{"account": {"id": "2"}, "debit": 10}]}},
            "USER_ERROR",
            "line",
        ),
        (
            {
                **journal(),
                "line": {
                    "items": [
                        {"account": {"id": "2"}, "debit": 10, "credit": 10},
                        {"account": {"id": "4"}, "credit": 10},
                    ]
                },
            },
            "USER_ERROR",
            "line.items[0]",
        ),
        (journal(amount="100"), "INVALID_CONTENT", "line.items[0].debit"),
        (journal(amount=10.001), "INVALID_CONTENT", "line.items[0].debit"),
        (
            {
                **journal(),
                "line": {
                    "items": [
                        {"account": {"id": "9999"}, "debit": 1},
                        {"account": {"id": "4"}, "credit": 1},
                    ]
                },
            },
            "INVALID_CONTENT",
            "line.items[0].account",
        ),
        ({**journal(), "line": [{"account": {"id": "2"}}]}, "INVALID_CONTENT", "line"),
        ({**journal(), "subsidiary": "EU-DE"}, "INVALID_CONTENT", "subsidiary"),
        ({**journal(), "tranDate": "01/03/2026"}, "INVALID_CONTENT", "tranDate"),
        ({**journal(), "approved": "yes"}, "INVALID_CONTENT", "approved"),
        ({**journal(), "postingPeriod": {"id": "1"}}, "INVALID_CONTENT", "postingPeriod"),
        ({**journal(), "externalId": "contract-OPP-1:invoice"}, "INVALID_CONTENT", "externalId"),
        ({k: v for k, v in journal().items() if k != "subsidiary"}, "USER_ERROR", "subsidiary"),
    ],
)
def test_bad_journals_are_refused_in_netsuites_shape(
    erp: httpx.Client, body: dict[str, Any], code: str, path: str
) -> None:
    detail = _error(erp.post("/journalEntry", json=body), 400, code)
    assert detail["o:errorPath"] == path


def test_malformed_requests_unknown_types_and_methods(erp: httpx.Client) -> None:
    _error(
        erp.post("/customer", content=b"{nope", headers={"Content-Type": "application/json"}),
        400,
        "INVALID_CONTENT",
    )
    _error(erp.post("/customer", json=["a list"]), 400, "INVALID_CONTENT")
    _error(erp.post("/salesOrder", json={}), 404, "NONEXISTENT_ID")
    _error(erp.post("/subsidiary", json={"name": "X"}), 405, "INVALID_REQUEST")
    _error(erp.put("/customer/7", json={}), 400, "INVALID_REQUEST")
    _error(erp.put("/customer/eid:bad:id", json={}), 400, "INVALID_CONTENT")
    _error(erp.post("/customer/1/line/2", json={}), 404, "INVALID_URL")
    lenient = erp.post(
        "/customer",
        json={"companyName": "Ok", "colour": "red"},
        headers={"X-NetSuite-PropertyNameValidation": "Ignore"},
    )
    assert lenient.status_code == 204
    _error(erp.post("/customer", json={"email": "x@example.com"}), 400, "USER_ERROR")


def test_collections_filter_and_page(erp: httpx.Client) -> None:
    for n in range(5):
        erp.post("/customer", json={"companyName": f"Customer {n}", "externalId": f"C-{n}"})
    page = erp.get("/customer", params={"limit": 2, "offset": 2}).json()
    assert (page["count"], page["hasMore"], page["offset"], page["totalResults"]) == (2, True, 2, 5)
    assert [link["rel"] for link in page["links"]] == ["first", "prev", "next", "last", "self"]
    assert page["links"][2]["href"].endswith("/customer?limit=2&offset=4")
    assert set(page["items"][0]) == {"links", "id"}
    _error(erp.get("/customer", params={"limit": 2, "offset": 3}), 400, "INVALID_PARAMETER")

    def ids(q: str) -> list[str]:
        answer = erp.get("/customer", params={"q": q})
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert ids('externalId IS "C-3"') == ["4"]
    assert ids('companyName START_WITH "customer" AND externalId ANY_OF ["C-0", "C-4"]') == [
        "1",
        "5",
    ]
    assert ids('companyName CONTAIN "1" OR companyName CONTAIN "2"') == ["2", "3"]
    assert ids("subsidiary ANY_OF [1] AND email EMPTY") == ["1", "2", "3", "4", "5"]
    detail = _error(erp.get("/customer", params={"q": "colour IS red"}), 400, "INVALID_PARAMETER")
    assert detail["o:errorQueryParam"] == "q"


def test_revenue_schedule_custom_record_is_editable(erp: httpx.Client) -> None:
    schedule = {
        "name": "OPP-1001 v1",
        "custrecord_q2c_contract": "OPP-1001",
        "custrecord_q2c_currency": {"externalId": "EUR"},
        "custrecord_q2c_total": 65000,
        "custrecord_q2c_version": 1,
        "custrecord_q2c_schedule": json.dumps({"2026-01": "1000.00"}),
    }
    path = "/customrecord_q2c_revenue_schedule/eid:OPP-1001"
    assert erp.put(path, json=schedule).status_code == 204
    assert erp.put(path, json={"custrecord_q2c_version": 2}).status_code == 204
    record = erp.get(path).json()
    assert record["custrecord_q2c_version"] == 2 and record["custrecord_q2c_total"] == 65000.0
    _error(erp.put(path, json={"custrecord_q2c_version": 2.5}), 400, "INVALID_CONTENT")


def test_reset_keeps_the_account_setup_and_seed_loads_items(sandbox: SandboxHandle) -> None:
    sandbox.seed("erp", None)
    state = sandbox.state("erp")
    assert [i["itemId"] for i in state["serviceSaleItem"]] == ["SEAT-PRO", "ONBOARD", "API-CALLS"]
    assert {s["externalId"] for s in state["subsidiary"]} >= {"US", "EU-DE"}
    sandbox.reset()
    state = sandbox.state("erp")
    assert state["serviceSaleItem"] == [] and len(state["account"]) == 5
    with pytest.raises(httpx.HTTPStatusError):
        sandbox.seed("erp", {"journalEntry": [{"memo": "unbalanced"}]})
