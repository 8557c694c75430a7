"""Field values: JSON in, stored form, JSON out, and Python values for comparison.

Stored forms are JSON-safe: numbers as decimal strings (never floats, so money keeps its
digits), dates `YYYY-MM-DD`, datetimes `YYYY-MM-DDTHH:MM:SS.000+0000` like Salesforce's.
Salesforce answers numbers as JSON numbers, so rendering turns them back into numbers.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.salesforce.errors import SalesforceError, json_parser_error
from sandbox.salesforce.schema import BY_PREFIX, NUMBER_TYPES, TEXT_TYPES, Field

ID_CHARS = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def id_checksum(id15: str) -> str:
    """The three-character suffix that makes a 15-character id case-insensitively unique."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX[bits]
    return suffix


def make_id(key_prefix: str, number: int) -> str:
    """An 18-character id like `006Q20000000001AAA` (prefix, pod, counter, checksum)."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    id15 = f"{key_prefix}Q20{digits.rjust(9, '0')}"
    return id15 + id_checksum(id15)


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None if it is not an id."""
    if not ID_CHARS.match(value):
        return None
    return value if len(value) == 18 else value + id_checksum(value)


def format_datetime(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    cleaned = text.strip()
    if re.fullmatch(r".*[+-]\d{4}", cleaned):
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    cleaned = cleaned.replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def json_token(value: Any) -> str:
    """The JSON token name Salesforce's parser quotes in its type errors."""
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"


def _type_error(f: Field, value: Any, kind: str) -> SalesforceError:
    return json_parser_error(
        f"Cannot deserialize instance of {kind} from {json_token(value)} value {value} "
        f"or request may be missing a required field ({f.name})"
    )


def coerce(f: Field, value: Any) -> Any:
    """The stored form of a JSON value for field `f`; a wrong type is Salesforce's 400."""
    if value is None:
        return None
    if f.type in TEXT_TYPES:
        if not isinstance(value, str):
            raise _type_error(f, value, "string")
        if f.type in ("id", "reference"):
            return _reference(f, value)
        if len(value) > f.length:
            raise SalesforceError(
                400,
                "STRING_TOO_LONG",
                f"{f.display}: data value too large: {value[:40]} (max length={f.length})",
                [f.name],
            )
        if f.type == "picklist" and f.restricted and value not in f.picklist:
            raise SalesforceError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.display}: bad value for restricted picklist field: {value}",
                [f.name],
            )
        return value
    if f.type == "boolean":
        if not isinstance(value, bool):
            raise _type_error(f, value, "boolean")
        return value
    if f.type in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, float, str)):
            raise _type_error(f, value, "double")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise _type_error(f, value, "double") from None
        if not number.is_finite():
            raise _type_error(f, value, "double")
        if f.type == "int":
            if number != number.to_integral_value():
                raise _type_error(f, value, "int")
            return str(int(number))
        return str(number)
    if f.type == "date":
        if not isinstance(value, str) or len(value) != 10:
            raise _type_error(f, value, "date")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _type_error(f, value, "date") from None
    if not isinstance(value, str):
        raise _type_error(f, value, "datetime")
    moment = parse_datetime(value)
    if moment is None:
        raise _type_error(f, value, "datetime")
    return format_datetime(moment)


def _reference(f: Field, value: str) -> str:
    normalized = normalize_id(value)
    target = BY_PREFIX.get(value[:3]) if normalized else None
    if normalized is None or (f.reference_to and (target is None or target.name != f.reference_to)):
        raise SalesforceError(
            400,
            "MALFORMED_ID",
            f"{f.display}: id value of incorrect type: {value}",
            [f.name],
        )
    return normalized


def render(f: Field, stored: Any) -> Any:
    """The JSON value Salesforce answers for a stored value."""
    if stored is None:
        return None
    if f.type == "int":
        return int(stored)
    if f.type in NUMBER_TYPES:
        return float(Decimal(stored))
    return stored


def comparable(f: Field, stored: Any) -> Any:
    """A Python value to compare or sort by (text compares case-insensitively)."""
    if stored is None:
        return None
    if f.type in NUMBER_TYPES:
        return Decimal(stored)
    if f.type == "date":
        return date.fromisoformat(stored)
    if f.type == "datetime":
        return parse_datetime(stored)
    if f.type in ("id", "reference"):
        return stored
    if isinstance(stored, str):
        return stored.lower()
    return stored
