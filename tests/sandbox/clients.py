"""HTTP clients already authenticated against the sandbox apps, for the sandbox tests."""

from __future__ import annotations

from typing import Any

import httpx
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce

from tests.fixtures.sandbox import SandboxHandle

SF_DATA = "/services/data/v62.0"

ERP_RECORD = "/services/rest/record/v1"


def sf_token(sandbox: SandboxHandle) -> str:
    settings = sandbox.settings
    answer = sandbox.http.post(
        f"{sandbox.salesforce_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": settings.salesforce_client_id,
            "client_secret": settings.salesforce_client_secret,
        },
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def sf_client(sandbox: SandboxHandle) -> httpx.Client:
    """Base URL `/services/data/v62.0`, bearer token set."""
    return httpx.Client(
        base_url=sandbox.salesforce_url + SF_DATA,
        headers={"Authorization": f"Bearer {sf_token(sandbox)}"},
        verify=False,  # plain HTTP to 127.0.0.1: no CA bundle to load (~40 ms a client)
        timeout=10,
    )


def erp_token(sandbox: SandboxHandle) -> str:
    settings = sandbox.settings
    answer = sandbox.http.post(
        f"{sandbox.erp_url}/services/rest/auth/oauth2/v1/token",
        data={"grant_type": "client_credentials"},
        auth=(settings.erp_client_id, settings.erp_client_secret),
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def erp_client(sandbox: SandboxHandle) -> httpx.Client:
    """Base URL `/services/rest/record/v1`, bearer token set."""
    return httpx.Client(
        base_url=sandbox.erp_url + ERP_RECORD,
        headers={"Authorization": f"Bearer {erp_token(sandbox)}"},
        verify=False,  # plain HTTP to 127.0.0.1: no CA bundle to load (~40 ms a client)
        timeout=10,
    )


class _PlainHttp(HTTPAdapter):
    """simple-salesforce builds https:// URLs; the local sandbox speaks plain HTTP."""

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        assert request.url is not None
        request.url = request.url.replace("https://", "http://", 1)
        return super().send(request, *args, **kwargs)


def simple_salesforce(sandbox: SandboxHandle) -> Salesforce:
    """The unmodified simple-salesforce client, its session pointed at the sandbox."""
    client = Salesforce(
        instance_url=sandbox.salesforce_url, session_id=sf_token(sandbox), version="62.0"
    )
    client.session.mount("https://", _PlainHttp())
    return client


def journal(external_id: str | None = None, amount: Any = 100, **extra: Any) -> dict[str, Any]:
    """A balanced invoice journal (Dr Accounts Receivable / Cr Deferred Revenue) in EUR."""
    body: dict[str, Any] = {
        "tranDate": "2026-03-01",
        "subsidiary": {"externalId": "EU-DE"},
        "memo": "invoice",
        "line": {
            "items": [
                {"account": {"externalId": "1100"}, "debit": amount},
                {"account": {"externalId": "2400"}, "credit": amount},
            ]
        },
        **extra,
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body
