"""The `q=` filter of NetSuite's record collections: `field OPERATOR value`, joined by AND/OR.

Operators: IS, IS_NOT, CONTAIN, DOES_NOT_CONTAIN, START_WITH, END_WITH, EMPTY, EMPTY_NOT
(text); EQUAL, NOT_EQUAL, GREATER, GREATER_OR_EQUAL, LESS, LESS_OR_EQUAL (numbers); ON,
BEFORE, AFTER, ON_OR_BEFORE, ON_OR_AFTER (dates); ANY_OF [a, b] (ids or values). A reference
field compares by internal id. AND binds tighter than OR.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.erp.errors import NetSuiteError
from sandbox.erp.schema import RecordType

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<list>\[[^\]]*\])|(?P<word>[^\s"\[]+))'
)
UNARY = {"EMPTY", "EMPTY_NOT"}


def _bad(detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_PARAMETER", detail, query_param="q")


@dataclass(frozen=True)
class Term:
    field: str
    operator: str
    value: Any


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip():
                raise _bad(f"Invalid search query: cannot read {text[pos:]!r}.")
            break
        tokens.append(match.group(match.lastgroup or "word"))
        pos = match.end()
    return tokens


def _literal(token: str) -> Any:
    if token.startswith('"'):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    if token.startswith("["):
        return [_literal(part.strip()) for part in token[1:-1].split(",") if part.strip()]
    if token.lower() in ("true", "false"):
        return token.lower() == "true"
    return token


def parse(text: str) -> list[list[Term]]:
    """Disjunction of conjunctions of terms."""
    tokens = _tokens(text)
    groups: list[list[Term]] = [[]]
    i = 0
    while i < len(tokens):
        if i + 1 >= len(tokens):
            raise _bad(f"Invalid search query {text!r}: a condition needs an operator.")
        name, operator = tokens[i], tokens[i + 1].upper()
        i += 2
        value: Any = None
        if operator not in UNARY:
            if i >= len(tokens):
                raise _bad(f"Invalid search query {text!r}: {operator} needs a value.")
            value = _literal(tokens[i])
            i += 1
        groups[-1].append(Term(name, operator, value))
        if i < len(tokens):
            joiner = tokens[i].upper()
            if joiner == "OR":
                groups.append([])
            elif joiner != "AND":
                raise _bad(f"Invalid search query {text!r}: expected AND or OR, got {tokens[i]!r}.")
            i += 1
    return groups


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise _bad(f"Invalid search query: {value!r} is not a number.") from None


def _day(value: Any) -> date:
    text = str(value)
    try:
        if "/" in text:
            month, day, year = (int(p) for p in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(f"Invalid search query: {value!r} is not a date.") from None


_TEXT: dict[str, Callable[[str, str], bool]] = {
    "IS": lambda a, b: a == b,
    "IS_NOT": lambda a, b: a != b,
    "CONTAIN": lambda a, b: b in a,
    "DOES_NOT_CONTAIN": lambda a, b: b not in a,
    "START_WITH": lambda a, b: a.startswith(b),
    "DOES_NOT_START_WITH": lambda a, b: not a.startswith(b),
    "END_WITH": lambda a, b: a.endswith(b),
}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "EQUAL": lambda a, b: a == b,
    "NOT_EQUAL": lambda a, b: a != b,
    "GREATER": lambda a, b: a > b,
    "GREATER_OR_EQUAL": lambda a, b: a >= b,
    "LESS": lambda a, b: a < b,
    "LESS_OR_EQUAL": lambda a, b: a <= b,
    "ON": lambda a, b: a == b,
    "BEFORE": lambda a, b: a < b,
    "AFTER": lambda a, b: a > b,
    "ON_OR_BEFORE": lambda a, b: a <= b,
    "ON_OR_AFTER": lambda a, b: a >= b,
}


def _matches(rt: RecordType, record: dict[str, Any], term: Term) -> bool:
    spec = rt.field_ci(term.field)
    if spec is None:
        raise _bad(f"Invalid search query: unknown field {term.field!r} for {rt.name}.")
    stored = record.get(spec.name)
    if spec.kind == "ref" and isinstance(stored, dict):
        stored = stored.get("id")
    if term.operator == "EMPTY":
        return stored in (None, "")
    if term.operator == "EMPTY_NOT":
        return stored not in (None, "")
    if term.operator == "ANY_OF":
        options = term.value if isinstance(term.value, list) else [term.value]
        return stored is not None and str(stored) in {str(o) for o in options}
    if stored is None:
        return term.operator in ("IS_NOT", "NOT_EQUAL", "DOES_NOT_CONTAIN")
    if term.operator in _TEXT:
        if spec.kind == "boolean":
            wanted = term.value if isinstance(term.value, bool) else str(term.value) == "true"
            return bool((stored == wanted) == (term.operator == "IS"))
        return _TEXT[term.operator](str(stored).lower(), str(term.value).lower())
    if term.operator in _ORDER:
        if spec.kind == "date":
            return bool(_ORDER[term.operator](_day(stored), _day(term.value)))
        return bool(_ORDER[term.operator](_number(stored), _number(term.value)))
    raise _bad(f"Invalid search query: unknown operator {term.operator!r}.")


def select(rt: RecordType, records: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    if not text:
        return records
    groups = parse(text)
    return [r for r in records if any(all(_matches(rt, r, t) for t in g) for g in groups)]
