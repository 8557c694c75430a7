"""The ERP adapter against the sandbox over real HTTP: master data, journals, schedules, faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.erp import ErpClient, JournalLine, client_assertion_grant, external_id_for
from adapters.errors import BusinessError, IdempotencyConflictError, NotFoundError, TransientError
from adapters.http import make_http_client
from adapters.settings import ConfigError, Settings
from tests.adapters.retrying import Retrier
from tests.fixtures.sandbox import SandboxHandle

COMMIT_THEN_FAIL_30 = [
    {"route": "*", "method": "POST", "commit_then_fail_rate": 0.15},
    {"route": "*", "method": "POST", "commit_then_fail_rate": 0.15 / 0.85,
     "commit_then_fail_mode": "drop"},
]  # fmt: skip


@pytest.fixture
async def erp(sandbox: SandboxHandle) -> AsyncIterator[ErpClient]:
    http = make_http_client(sandbox.settings)
    client = ErpClient(sandbox.settings, http)
    yield client
    await http.aclose()


def _invoice_lines(amount: str, customer: str | None = None) -> list[JournalLine]:
    value = Decimal(amount)
    return [
        JournalLine(account="1100", debit=value, memo="AR", entity=customer),
        JournalLine(account="2400", credit=value, memo="Deferred revenue", entity=customer),
    ]


async def test_customer_upsert_is_idempotent(erp: ErpClient) -> None:
    first = await erp.ensure_customer("ACC-1", "Acme GmbH", subsidiary="EU-DE", currency="EUR")
    again = await erp.ensure_customer("ACC-1", "Acme GmbH & Co", subsidiary="EU-DE")
    assert first.id == again.id and first.external_id == "ACC-1"
    record = await erp.get("customer", "eid:ACC-1")
    assert record["companyName"] == "Acme GmbH & Co"
    assert record["currency"]["refName"] == "EUR"
    assert record["subsidiary"]["refName"] == "Q2C GmbH (DE)"


async def test_item_upsert(erp: ErpClient) -> None:
    item = await erp.ensure_item(
        "SEAT-PRO", "SEAT-PRO", display_name="Seat (Pro)", kind="subscription",
        income_account="4000", deferred_revenue_account="2400",
    )  # fmt: skip
    record = await erp.get("serviceSaleItem", item.id)
    assert record["externalId"] == "SEAT-PRO" and record["displayName"] == "Seat (Pro)"
    assert record["custitem_q2c_kind"] == "subscription"
    assert record["deferredRevenueAccount"]["refName"] == "Deferred Revenue"
    assert (await erp.ensure_item("SEAT-PRO", "SEAT-PRO")).id == item.id


async def test_post_journal_entry_then_read_it_back(erp: ErpClient) -> None:
    await erp.ensure_customer("ACC-1", "Acme GmbH", subsidiary="EU-DE", currency="EUR")
    key = "contract-OPP-1:invoice:2026-03"
    eid = external_id_for(key)
    entry = await erp.post_journal_entry(
        eid, date(2026, 3, 15), "EU-DE", "EUR", _invoice_lines("1234.56", "ACC-1"),
        "Invoice INV-1", contract_id="OPP-1", idempotency_key=key,
    )  # fmt: skip
    assert entry.external_id == eid and entry.tran_date == date(2026, 3, 15)
    assert entry.contract_id == "OPP-1" and entry.idempotency_key == key
    assert entry.currency is not None and entry.currency.ref_name == "EUR"
    assert entry.subsidiary.ref_name == "Q2C GmbH (DE)"
    assert [(line.account.ref_name, line.debit, line.credit) for line in entry.lines] == [
        ("Accounts Receivable", Decimal("1234.56"), Decimal(0)),
        ("Deferred Revenue", Decimal(0), Decimal("1234.56")),
    ]
    assert isinstance(entry.total_debit, Decimal) and entry.total_debit == Decimal("1234.56")
    assert entry.lines[0].entity is not None and entry.lines[0].entity.ref_name == "Acme GmbH"
    assert await erp.get_journal_entry(eid) == entry


async def test_posting_again_returns_the_posted_entry(erp: ErpClient) -> None:
    eid = external_id_for("contract-OPP-1:invoice:2026-04")
    lines = _invoice_lines("100.00")
    first = await erp.post_journal_entry(eid, date(2026, 4, 15), "EU-DE", "EUR", lines)
    second = await erp.post_journal_entry(eid, date(2026, 4, 15), "EU-DE", "EUR", lines)
    assert first == second
    with pytest.raises(IdempotencyConflictError):
        await erp.post_journal_entry(
            eid, date(2026, 4, 15), "EU-DE", "EUR", _invoice_lines("100.01")
        )


async def test_unbalanced_entry_is_refused_locally_and_by_the_erp(erp: ErpClient) -> None:
    lines = [
        JournalLine(account="1100", debit=Decimal("100.00")),
        JournalLine(account="2400", credit=Decimal("99.99")),
    ]
    with pytest.raises(BusinessError) as local:
        await erp.post_journal_entry("JE-UNBAL", date(2026, 1, 1), "US", "USD", lines)
    assert local.value.code == "UNBALANCED_ENTRY"
    # sent anyway (through the generic create), the ERP refuses it with its own code
    body = {
        "externalId": "JE-UNBAL",
        "subsidiary": {"externalId": "US"},
        "line": {"items": [
            {"account": {"externalId": "1100"}, "debit": Decimal("100.00")},
            {"account": {"externalId": "2400"}, "credit": Decimal("99.99")},
        ]},
    }  # fmt: skip
    with pytest.raises(BusinessError) as remote:
        await erp.create("journalEntry", body)
    assert remote.value.code == "USER_ERROR"
    assert "out of balance" in remote.value.message
    assert not isinstance(remote.value, TransientError)
    with pytest.raises(NotFoundError):
        await erp.get_journal_entry("JE-UNBAL")


async def test_business_refusals_carry_the_erp_code(erp: ErpClient) -> None:
    lines = [
        JournalLine(account="9999", debit=Decimal(1)),
        JournalLine(account="2400", credit=Decimal(1)),
    ]
    with pytest.raises(BusinessError) as info:
        await erp.post_journal_entry("JE-BADACCT", date(2026, 1, 1), "US", "USD", lines)
    assert info.value.code == "INVALID_CONTENT"
    with pytest.raises(BusinessError) as precision:
        await erp.post_journal_entry(
            "JE-JPY", date(2026, 1, 1), "JP", "JPY", _invoice_lines("10.5")
        )
    assert precision.value.code == "INVALID_CONTENT"


async def test_unknown_records_are_not_found(erp: ErpClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await erp.get_journal_entry("NOPE")
    assert info.value.code == "NONEXISTENT_ID"
    with pytest.raises(NotFoundError):
        await erp.get("customer", "424242")
    assert await erp.find("customer", "NOPE") is None


async def test_list_journal_entries_by_contract(erp: ErpClient) -> None:
    for n in range(3):
        await erp.post_journal_entry(
            f"OPP-7-JE-{n}", date(2026, 1, n + 1), "US", "USD", _invoice_lines(f"{n + 1}.00"),
            contract_id="OPP-7",
        )  # fmt: skip
    await erp.post_journal_entry(
        "OPP-8-JE-0", date(2026, 1, 1), "US", "USD", _invoice_lines("5.00"), contract_id="OPP-8"
    )
    entries = await erp.list_journal_entries("OPP-7")
    assert [e.external_id for e in entries] == ["OPP-7-JE-0", "OPP-7-JE-1", "OPP-7-JE-2"]
    assert await erp.list_journal_entries('OPP-7" OR custbody_q2c_contract IS "OPP-8') == []


async def test_revenue_schedule_upsert(erp: ErpClient) -> None:
    await erp.ensure_customer("ACC-1", "Acme GmbH", subsidiary="EU-DE")
    schedule = {"obligations": [{"line_id": "L1", "allocated": Decimal("12000.00")}],
                "revenue_by_month": {"2026-01": Decimal("548.39")}}  # fmt: skip
    ref = await erp.post_revenue_schedule(
        "OPP-1-revsched", "OPP-1", name="OPP-1 revenue schedule", schedule=schedule, version=1,
        customer="ACC-1", subsidiary="EU-DE", currency="EUR", total=Decimal("12000.00"),
        start_date=date(2026, 1, 15), end_date=date(2027, 1, 14),
    )  # fmt: skip
    again = await erp.post_revenue_schedule(
        "OPP-1-revsched", "OPP-1", name="OPP-1 revenue schedule", schedule=schedule, version=2,
    )  # fmt: skip
    assert ref.id == again.id
    stored = await erp.get_revenue_schedule("OPP-1-revsched")
    assert stored.version == 2 and stored.total == Decimal("12000.00")
    assert stored.contract_id == "OPP-1" and stored.customer is not None
    assert json.loads(stored.schedule or "")["revenue_by_month"] == {"2026-01": "548.39"}


async def test_expired_token_is_refreshed_once(sandbox: SandboxHandle, erp: ErpClient) -> None:
    await erp.find("customer", "ACC-1")
    assert erp.api.tokens.fetches == 1
    sandbox.advance_clock(sandbox.settings.sandbox_token_ttl_seconds + 1)
    await erp.find("customer", "ACC-1")
    assert erp.api.tokens.fetches == 2


async def test_bad_credentials_are_a_business_error(sandbox: SandboxHandle) -> None:
    settings = sandbox.settings.model_copy(update={"erp_client_secret": "wrong"})
    async with ErpClient(settings) as client:
        with pytest.raises(BusinessError) as info:
            await client.find("customer", "ACC-1")
    assert info.value.code == "invalid_client"


async def test_rate_limit_is_transient_with_retry_after(
    sandbox: SandboxHandle, erp: ErpClient
) -> None:
    rule = {"route": "*/journalEntry*", "rate_limit_rate": 1, "retry_after": 3}
    sandbox.admin("erp", "PUT", "faults", {"rules": [rule]})
    with pytest.raises(TransientError) as info:
        await erp.get_journal_entry("JE-1")
    assert info.value.retry_after == 3.0 and info.value.code == "CONCURRENCY_LIMIT_EXCEEDED"


async def test_hang_is_a_transient_timeout(sandbox: SandboxHandle) -> None:
    settings = sandbox.settings.model_copy(update={"http_timeout_seconds": 0.3})
    async with ErpClient(settings) as client:
        sandbox.set_faults("erp", [{"route": "*/customer/*", "hang_rate": 1}])
        with pytest.raises(TransientError) as info:
            await client.find("customer", "ACC-1")
    assert info.value.code == "timeout"


async def test_retried_posts_under_commit_then_fail_post_each_entry_once(
    sandbox: SandboxHandle, erp: ErpClient
) -> None:
    """30% of creates are applied and then answered with a 500 (15%) or a dropped connection
    (15%); retrying each post until it succeeds, as Temporal would, posts it exactly once."""
    sandbox.admin("erp", "PUT", "faults", {"rules": COMMIT_THEN_FAIL_30, "seed": 5})
    retry = Retrier()
    posted = set()
    for n in range(200):
        eid = external_id_for(f"contract-OPP-9:invoice:{n}")

        async def post(eid: str = eid, n: int = n) -> str:
            entry = await erp.post_journal_entry(
                eid, date(2026, 1, 1), "US", "USD", _invoice_lines(f"{n + 1}.00"),
                contract_id="OPP-9",
            )  # fmt: skip
            return entry.id

        posted.add(await retry(post))
    sandbox.clear_faults()
    assert 30 < len(retry.failures) < 120
    assert {f.code for f in retry.failures} == {"UNEXPECTED_ERROR", "connection_error"}
    assert len(posted) == 200
    entries = await erp.list_journal_entries("OPP-9")
    assert len(entries) == 200
    assert sorted(e.total_debit for e in entries) == [Decimal(n + 1) for n in range(200)]


def _private_key(tmp_path: Path) -> tuple[Path, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "netsuite.pem"
    path.write_bytes(pem)
    return path, key


async def test_signed_client_assertion_grant(sandbox: SandboxHandle, tmp_path: Path) -> None:
    """NetSuite's production grant: a PS256 JWT with kid/iss/aud/scope, fresh per token."""
    path, key = _private_key(tmp_path)
    settings = sandbox.settings.model_copy(
        update={"erp_private_key_path": str(path), "erp_certificate_id": "cert-123"}
    )
    token_url = f"{sandbox.erp_url}/services/rest/auth/oauth2/v1/token"
    grant = client_assertion_grant(settings, token_url)
    assert grant is not None
    form = grant()
    assert form["client_assertion_type"].endswith(":client-assertion-type:jwt-bearer")
    assert "client_secret" not in form
    header = jwt.get_unverified_header(form["client_assertion"])
    assert (header["alg"], header["kid"]) == ("PS256", "cert-123")
    claims = jwt.decode(
        form["client_assertion"], key.public_key(), algorithms=["PS256"], audience=token_url
    )
    assert claims["iss"] == settings.erp_client_id and claims["exp"] - claims["iat"] <= 3600
    async with ErpClient(settings) as client:  # the sandbox checks the issuer
        assert await client.find("customer", "ACC-1") is None
        assert client.api.tokens.fetches == 1


def test_assertion_settings_are_checked(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, erp_private_key_path=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="Q2C_ERP_PRIVATE_KEY_PATH"):
        client_assertion_grant(settings, "https://x.test/token")
    path, _ = _private_key(tmp_path)
    settings = Settings(_env_file=None, erp_private_key_path=str(path))
    with pytest.raises(ConfigError, match="Q2C_ERP_CERTIFICATE_ID"):
        client_assertion_grant(settings, "https://x.test/token")
    assert client_assertion_grant(Settings(_env_file=None), "https://x.test/token") is None
