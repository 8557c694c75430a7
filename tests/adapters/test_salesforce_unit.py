"""Salesforce adapter pieces that need no server: SOQL literals, error bodies, parsing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from adapters.errors import MappingError
from adapters.salesforce import (
    SalesforceBooking,
    parse_error,
    soql,
    soql_literal,
    soql_quote,
)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("006000000000001", "'006000000000001'"),
        ("O'Brien", "'O\\'Brien'"),
        ("x' OR Name != '", "'x\\' OR Name != \\''"),
        ("back\\slash", "'back\\\\slash'"),
        ('say "hi"', "'say \\\"hi\\\"'"),
        ("two\nlines\r\t", "'two\\nlines\\r\\t'"),
    ],
)
def test_soql_quote_escapes(value: str, literal: str) -> None:
    assert soql_quote(value) == literal


def test_injection_stays_inside_the_literal() -> None:
    query = soql("SELECT Id FROM Account WHERE Name = {name}", name="a' OR Id != null OR Name='")
    assert query == "SELECT Id FROM Account WHERE Name = 'a\\' OR Id != null OR Name=\\''"
    # the only unescaped quotes are the two that delimit the literal
    body = query.split("= ", 1)[1]
    unescaped = [i for i, ch in enumerate(body) if ch == "'" and body[i - 1] != "\\"]
    assert unescaped == [0, len(body) - 1]


def test_soql_literals_of_other_types() -> None:
    assert soql_literal(None) == "null"
    assert soql_literal(True) == "true"
    assert soql_literal(3) == "3"
    assert soql_literal(Decimal("1.50")) == "1.50"
    assert soql_literal(date(2026, 1, 15)) == "2026-01-15"


def _response(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", "http://sf.test/x"))


def test_parse_error_body() -> None:
    body = [{"message": "No such column 'Foo'", "errorCode": "INVALID_FIELD", "fields": ["Foo"]}]
    fault = parse_error(_response(400, body))
    assert fault.code == "INVALID_FIELD"
    assert fault.message == "No such column 'Foo' (fields: Foo)"
    oauth = parse_error(_response(400, {"error": "invalid_client", "error_description": "bad"}))
    assert (oauth.code, oauth.message) == ("invalid_client", "bad")
    assert parse_error(httpx.Response(502, text="Bad Gateway")).code is None


def _booking(**product: object) -> SalesforceBooking:
    return SalesforceBooking.model_validate(
        {
            "opportunity": {"Id": "006A", "Name": "Acme", "StageName": "Closed Won"},
            "account": {"Id": "001A", "Name": "Acme GmbH"},
            "lines": [
                {
                    "Id": "00kA",
                    "Quantity": 50.0,
                    "UnitPrice": Decimal("1200.00"),
                    "Product2": {
                        "Id": "01tA",
                        "Name": "Seat",
                        "ProductCode": "SEAT-PRO",
                        **product,
                    },
                }
            ],
        }
    )


def test_missing_mappings_are_named() -> None:
    booking = _booking(Q2C_Billing_Price_Id__c="price_1")
    assert booking.missing_mappings() == ["SEAT-PRO: no ERP item"]
    with pytest.raises(MappingError) as info:
        booking.require_mappings()
    assert info.value.code == "MISSING_MAPPING"
    _booking(Q2C_Billing_Price_Id__c="price_1", Q2C_ERP_Item_Id__c="7").require_mappings()


def test_line_falls_back_to_product_kind_and_ssp() -> None:
    line = _booking(Q2C_Kind__c="subscription", Q2C_SSP__c=Decimal("1500.00")).lines[0]
    assert (line.kind, line.ssp, line.product_code) == (
        "subscription",
        Decimal("1500.00"),
        "SEAT-PRO",
    )
    assert line.quantity == Decimal("50")
