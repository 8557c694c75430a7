"""Stripe's search query language, for `GET /v1/<resource>/search`.

Supported: `field:'value'` (exact; case-insensitive for text), `field~'sub'` (substring),
`field>n`, `>=`, `<`, `<=` on numbers, `metadata['key']:'value'`, `-` to negate a clause, and
clauses joined by `AND` or by `OR` (Stripe does not allow mixing the two). Values are quoted with
single or double quotes; a backslash escapes a quote. Unlike Stripe (whose search index lags by
up to a minute), the sandbox finds an object as soon as it is written.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sandbox.billing.errors import invalid
from sandbox.billing.models import JsonObject

FieldKind = Literal["text", "exact", "number", "bool"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<join>AND|OR)(?=\s)
      | (?P<neg>-)?(?P<field>[a-z_]+)(?:\[(?P<mkey>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")\])?
        (?P<op>:|~|>=|<=|>|<)
        (?P<value>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|-?\d+(?:\.\d+)?|null)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    field: str
    metadata_key: str | None
    op: str
    value: str | None
    negate: bool
    kind: FieldKind

    def matches(self, obj: JsonObject) -> bool:
        return self._test(obj) != self.negate

    def _test(self, obj: JsonObject) -> bool:
        if self.metadata_key is not None:
            actual: Any = (obj.get("metadata") or {}).get(self.metadata_key)
        else:
            actual = obj.get(self.field)
            if isinstance(actual, dict):
                actual = actual.get("id")
        if self.value is None:
            return actual is None
        if actual is None:
            return False
        if self.kind == "number":
            number, wanted = float(actual), float(self.value)
            return {
                ":": number == wanted,
                ">": number > wanted,
                ">=": number >= wanted,
                "<": number < wanted,
                "<=": number <= wanted,
            }[self.op]
        text = str(actual).lower() if isinstance(actual, bool) else str(actual)
        if self.op == "~":
            return self.value.lower() in text.lower()
        if self.kind == "text":
            return text.lower() == self.value.lower()
        return text == self.value


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    mode: Literal["AND", "OR"]

    def matches(self, obj: JsonObject) -> bool:
        results = (clause.matches(obj) for clause in self.clauses)
        return all(results) if self.mode == "AND" else any(results)

    def metadata_equality(self) -> tuple[str, str] | None:
        """A `metadata['k']:'v'` clause every match must satisfy, to look candidates up by."""
        if self.mode != "AND" and len(self.clauses) > 1:
            return None
        for clause in self.clauses:
            key, value = clause.metadata_key, clause.value
            if key is not None and value is not None and clause.op == ":" and not clause.negate:
                return key, value
        return None


def _unquote(token: str) -> str:
    if token[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def _bad(message: str) -> Exception:
    return invalid(f"Invalid search query: {message}", param="query")


def parse_query(text: str, fields: Mapping[str, FieldKind]) -> Query:
    """Parse `text` against the searchable `fields` of a resource (plus `metadata[...]`)."""
    position, clauses, joins = 0, [], set()
    expect_clause = True
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _bad(f"cannot parse at position {position}: {text[position : position + 20]!r}")
        position = match.end()
        if match.group("join"):
            if expect_clause:
                raise _bad(f"unexpected {match.group('join')} at position {match.start('join')}")
            joins.add(match.group("join"))
            expect_clause = True
            continue
        if not expect_clause:
            raise _bad(f"expected AND or OR before position {match.start()}")
        clauses.append(_clause(match, fields))
        expect_clause = False
    if not clauses or expect_clause:
        raise _bad("a query needs at least one complete clause")
    if len(joins) > 1:
        raise _bad("AND and OR cannot be combined in one query")
    return Query(tuple(clauses), "OR" if joins == {"OR"} else "AND")


def _clause(match: re.Match[str], fields: Mapping[str, FieldKind]) -> Clause:
    field, op, raw_value = match.group("field"), match.group("op"), match.group("value")
    mkey = match.group("mkey")
    value = None if raw_value == "null" else _unquote(raw_value)
    if field == "metadata":
        if mkey is None:
            raise _bad("metadata needs a key: metadata['key']:'value'")
        if op not in (":", "~"):
            raise _bad(f"metadata does not support the {op} operator")
        return Clause(field, _unquote(mkey), op, value, bool(match.group("neg")), "exact")
    if mkey is not None or field not in fields:
        raise _bad(f"{field} is not a searchable field (use one of: {', '.join(sorted(fields))})")
    kind = fields[field]
    if op in (">", ">=", "<", "<=") and kind != "number":
        raise _bad(f"{field} does not support the {op} operator")
    if kind == "number" and value is not None:
        try:
            float(value)
        except ValueError:
            raise _bad(f"{field} takes a number, got {value!r}") from None
    if op == "~" and (value is None or len(value) < 3):
        raise _bad("a substring search (~) needs at least 3 characters")
    return Clause(field, None, op, value, bool(match.group("neg")), kind)


def page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode()


def read_page_token(token: str) -> str:
    """The id a `page` token continues after."""
    try:
        decoded = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"Invalid page: {token}", param="page") from None
    if not decoded.startswith("after:"):
        raise invalid(f"Invalid page: {token}", param="page")
    return decoded.removeprefix("after:")
