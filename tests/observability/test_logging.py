"""The log filters one record at a time: redaction of every kind of secret, and the contract id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from adapters.observability.logging import (
    REDACTED,
    Redactor,
    configure_logging,
    contract_context,
    iban_valid,
    luhn_valid,
    secret_values,
)
from adapters.settings import ConfigError, Settings

SECRET = "obsv-unit-Secret-8Hq2"


@pytest.fixture
def emitted() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    settings = Settings(_env_file=None, erp_client_secret=SECRET, log_format="json")
    buffer = io.StringIO()
    handler = configure_logging(settings, "q2c-unit", stream=buffer)
    try:
        yield logging.getLogger("q2c.unit"), buffer
    finally:
        logging.getLogger().removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "eyJhbGciOi"),
        ('headers {"authorization": "Basic dXNlcjpwYXNzd29yZA=="}', "dXNlcjpwYXNzd29yZA"),
        ("grant_type=client_credentials&client_secret=abc123def456&scope=x", "abc123def456"),
        ('{"password": "correct horse battery", "user": "q2c"}', "horse"),
        ("stripe key sk_live_51HxYzAbCdEf and whsec_AbCdEf123456", "51HxYzAbCdEf"),
        ("postgresql://q2c:s3cr3t-pw@db:5432/q2c", "s3cr3t-pw"),
        ("card 4242 4242 4242 4242 exp 12/30", "4242 4242 4242 4242"),
        ("card 5555-5555-5555-4444", "5555-5555-5555-4444"),
        ("amex 378282246310005", "378282246310005"),
        ("pay to DE89 3704 0044 0532 0130 00 please", "0532 0130"),
        ("pay to GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("account_number=000123456789 routing_number=110000000", "000123456789"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----", "MIIEvQ"),
        (f"the ERP refused {SECRET}", SECRET),
    ],
)
def test_redaction_removes_the_secret(text: str, leak: str) -> None:
    redacted = Redactor([SECRET]).text(text)
    assert leak not in redacted and "REDACTED" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "invoice contract-006Q20000000001IAA:invoice:2026-03-01 posted to billing",
        "1764268800000 ms since the epoch, amount 1200.00 EUR, 12 seats",
        "idempotency key contract-OPP-1:journal:revenue:2026-03",
        "run 01a21e51-1107-7489-b59f-301e196b0667 of workflow contract-OPP-1",
    ],
)
def test_redaction_keeps_ordinary_lines(text: str) -> None:
    assert Redactor([SECRET]).text(text) == text


def test_checksums() -> None:
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE88370400440532013000")


def test_secret_values_come_from_settings_and_environment() -> None:
    settings = Settings(
        _env_file=None,
        billing_api_key="sk_test_unit_value",
        database_url="postgresql://q2c:pw-in-url-77@db/q2c",
        encryption_key=SecretStr("k1:" + "A" * 44),
    )
    values = secret_values(settings, {"TEMPORAL_API_KEY": "tmprl-key-value", "HOME": "/root"})
    assert {"sk_test_unit_value", "pw-in-url-77", "k1:" + "A" * 44, "tmprl-key-value"} <= set(
        values
    )
    assert "/root" not in values


def test_a_json_line_per_record_redacted_args_extras_and_traceback(
    emitted: tuple[logging.Logger, io.StringIO],
) -> None:
    log, buffer = emitted
    log.info("settings %s", Settings(_env_file=None, erp_client_secret=SECRET))
    log.warning("headers %s", {"Authorization": "Bearer abcdefgh12345678"})
    log.info("oauth", extra={"client_secret": SECRET, "form": {"token": "t0k3n-value-9"}})
    try:
        raise RuntimeError(f"refused {SECRET} for card 4242424242424242")
    except RuntimeError:
        log.exception("ERP call failed")
    text = buffer.getvalue()
    assert SECRET not in text and "abcdefgh12345678" not in text and "t0k3n-value-9" not in text
    assert "4242424242424242" not in text
    records = lines(buffer)
    assert len(records) == 4
    assert records[2]["client_secret"] == REDACTED
    assert "RuntimeError: refused [REDACTED]" in str(records[3]["exc_info"])


def test_contract_id_on_lines_of_a_contract_only(
    emitted: tuple[logging.Logger, io.StringIO],
) -> None:
    log, buffer = emitted
    log.info("outside")
    with contract_context("contract-OPP-42"):
        log.info("inside")
    log.info("from the SDK", extra={"temporal_activity": {"workflow_id": "contract-OPP-7"}})
    log.info("another workflow", extra={"temporal_workflow": {"workflow_id": "recon-1"}})
    outside, inside, sdk, other = lines(buffer)
    assert "contract_id" not in outside and "contract_id" not in other
    assert inside["contract_id"] == "OPP-42" and inside["workflow_id"] == "contract-OPP-42"
    assert sdk["contract_id"] == "OPP-7"
    assert {"time", "level", "logger", "message", "service"} <= inside.keys()


def test_text_format() -> None:
    buffer = io.StringIO()
    settings = Settings(_env_file=None, log_format="text")
    handler = configure_logging(settings, "q2c-unit", stream=buffer)
    try:
        with contract_context("contract-OPP-9"):
            logging.getLogger("q2c.unit").info("token=abc123456 sent")
    finally:
        logging.getLogger().removeHandler(handler)
    line = buffer.getvalue().strip()
    assert "[OPP-9] token=[REDACTED] sent" in line and not line.startswith("{")


def test_a_taken_metrics_port_is_a_config_error_naming_the_setting() -> None:
    import socket

    from adapters.observability.metrics import metrics_runtime

    assert metrics_runtime("") is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match="Q2C_METRICS_BIND"):
            metrics_runtime(f"127.0.0.1:{port}")
