"""ERP adapter pieces that need no server: external ids, balance check, wire numbers, errors."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from adapters.erp import (
    JournalLine,
    check_balanced,
    check_external_id,
    external_id_for,
    parse_error,
)
from adapters.errors import BusinessError
from adapters.http import to_wire


def test_external_id_for_is_valid_and_injective() -> None:
    keys = [
        "contract-OPP-1:invoice:2026-03",
        "contract-OPP-1_3Ainvoice_3A2026-03",
        "contract-OPP-1:amendment:AMD-7:proration",
        "a_b",
        "a:b",
        "ünï",
    ]
    ids = [external_id_for(k) for k in keys]
    assert ids[0] == "contract-OPP-1_3Ainvoice_3A2026-03"
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert check_external_id(value) == value
    assert external_id_for("plain-ID-9") == "plain-ID-9"
    with pytest.raises(BusinessError):
        check_external_id("has:colon")


def _line(account: str, debit: str = "0", credit: str = "0") -> JournalLine:
    return JournalLine(account=account, debit=Decimal(debit), credit=Decimal(credit))


def test_balanced_entry_passes() -> None:
    check_balanced([_line("1100", debit="100.10"), _line("2400", credit="100.10")])


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([_line("1100", debit="100.10"), _line("2400", credit="100.00")], "UNBALANCED_ENTRY"),
        ([_line("1100", debit="1")], "UNBALANCED_ENTRY"),
        ([_line("1100", debit="1", credit="1"), _line("2400")], "INVALID_JOURNAL_LINE"),
        ([_line("1100", debit="-1"), _line("2400", credit="-1")], "INVALID_JOURNAL_LINE"),
    ],
)
def test_unbalanced_entry_is_refused_locally(lines: list[JournalLine], code: str) -> None:
    with pytest.raises(BusinessError) as info:
        check_balanced(lines)
    assert info.value.code == code


def test_amounts_go_out_as_exact_numbers() -> None:
    body = {"a": Decimal("1234.56"), "b": Decimal("5.000"), "c": None, "d": [Decimal("0.1")]}
    assert to_wire("erp", body, drop_none=True) == {"a": 1234.56, "b": 5, "d": [0.1]}
    assert to_wire("salesforce", {"c": None}) == {"c": None}  # null clears a field there
    with pytest.raises(BusinessError) as info:
        to_wire("erp", Decimal("0.12345678901234567890"))
    assert info.value.code == "PRECISION"


def test_parse_error_body() -> None:
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "Invalid Field Value 9999 for the following field: item",
                "o:errorCode": "INVALID_CONTENT",
                "o:errorPath": "item.items[0].item",
            }
        ],
    }
    request = httpx.Request("POST", "http://erp.test/x")
    fault = parse_error(httpx.Response(400, json=body, request=request))
    assert fault.code == "INVALID_CONTENT"
    assert fault.message == "Invalid Field Value 9999 for the following field: item"
