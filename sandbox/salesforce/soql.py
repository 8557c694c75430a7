"""A real subset of SOQL: what q2c's adapter needs, parsed and checked like Salesforce does.

Supported: `SELECT` of fields, relationship paths (`Product2.ProductCode`, `Account.Name`),
child subqueries (`(SELECT Id FROM OpportunityLineItems)`) and `COUNT()`; `FROM` one object;
`WHERE` with =, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN, AND, OR, NOT and parentheses (AND and
OR are not mixed without parentheses, as in SOQL), literals: 'strings', numbers, true, false,
null, dates, datetimes and TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n;
`ORDER BY` with ASC/DESC and NULLS FIRST/LAST; `LIMIT`; `OFFSET`. Names are case-insensitive.
Errors are Salesforce's: MALFORMED_QUERY for syntax, INVALID_TYPE for an unknown object,
INVALID_FIELD for an unknown field or a filter value of the wrong type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.salesforce.errors import SalesforceError, malformed_query
from sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, Field, SObject, sobject_ci
from sandbox.salesforce.store import Snapshot, record_url
from sandbox.salesforce.values import comparable, normalize_id, parse_datetime, render

KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "COUNT",
}  # fmt: skip
RELATIVE_DATES = {"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:\-])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def _syntax_error(source: str, token: Token) -> SalesforceError:
    shown = token.text or "<EOF>"
    return malformed_query(
        f"\n{source}\n{' ' * token.pos}^\nERROR at Row:1:Column:{token.pos + 1}\n"
        f"unexpected token: '{shown}'"
    )


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise _syntax_error(source, Token("bad", source[pos], pos))
        kind = match.lastgroup or "ws"
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", "", len(source)))
    return tokens


# --- syntax tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | date | datetime | relative
    value: Any
    days: int = 0  # for LAST_N_DAYS:n / NEXT_N_DAYS:n


@dataclass
class Comparison:
    path: str
    op: str  # = != < <= > >= LIKE IN NOTIN
    values: list[Literal]
    bound: Path | None = None


@dataclass
class Logical:
    op: str  # AND | OR
    parts: list[Condition]


@dataclass
class Negation:
    part: Condition


Condition = Comparison | Logical | Negation


@dataclass
class OrderItem:
    path: str
    descending: bool = False
    nulls_last: bool | None = None
    bound: Path | None = None


@dataclass
class Query:
    sobject_name: str
    items: list[str | Query] = field(default_factory=list)
    count: bool = False
    where: Condition | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    # filled in by `bind`
    sobject: SObject | None = None
    paths: list[Path | Query] = field(default_factory=list)
    child_field: str | None = None  # for a subquery: the child's field pointing at the parent
    relationship: str | None = None  # for a subquery: the relationship name to answer under


@dataclass(frozen=True)
class Path:
    hops: tuple[Field, ...]  # lookup fields followed
    field: Field


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.i += 1
        return token

    def error(self, token: Token | None = None) -> SalesforceError:
        return _syntax_error(self.source, token or self.peek())

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "ident" and token.upper == word:
            self.i += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.error()

    def expect(self, text: str) -> None:
        if self.peek().text != text:
            raise self.error()
        self.i += 1

    def identifier(self) -> str:
        token = self.peek()
        if token.kind != "ident" or token.upper in KEYWORDS:
            raise self.error()
        self.i += 1
        return token.text

    def query(self, nested: bool = False) -> Query:
        self.expect_keyword("SELECT")
        items: list[str | Query] = []
        count = False
        while True:
            if self.peek().upper == "COUNT" and self.peek(1).text == "(":
                self.i += 2
                self.expect(")")
                count = True
            elif self.peek().text == "(":
                self.i += 1
                items.append(self.query(nested=True))
                self.expect(")")
            else:
                items.append(self.identifier())
            if self.peek().text != ",":
                break
            self.i += 1
        if count and items:
            raise self.error()
        self.expect_keyword("FROM")
        query = Query(self.identifier(), items, count)
        if self.keyword("WHERE"):
            query.where = self.condition()
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            query.order = self.order_items()
        if self.keyword("LIMIT"):
            query.limit = self.integer()
        if self.keyword("OFFSET"):
            query.offset = self.integer()
        if not nested and self.peek().kind != "eof":
            raise self.error()
        return query

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or "." in token.text:
            raise self.error(token)
        return int(token.text)

    def order_items(self) -> list[OrderItem]:
        items: list[OrderItem] = []
        while True:
            item = OrderItem(self.identifier())
            if self.keyword("DESC"):
                item.descending = True
            else:
                self.keyword("ASC")
            if self.keyword("NULLS"):
                if self.keyword("LAST"):
                    item.nulls_last = True
                else:
                    self.expect_keyword("FIRST")
                    item.nulls_last = False
            items.append(item)
            if self.peek().text != ",":
                return items
            self.i += 1

    def condition(self) -> Condition:
        parts = [self.term()]
        operator: str | None = None
        while self.peek().kind == "ident" and self.peek().upper in ("AND", "OR"):
            token = self.take()
            if operator is not None and token.upper != operator:
                raise self.error(token)  # SOQL needs parentheses to mix AND and OR
            operator = token.upper
            parts.append(self.term())
        return parts[0] if operator is None else Logical(operator, parts)

    def term(self) -> Condition:
        if self.keyword("NOT"):
            return Negation(self.term())
        if self.peek().text == "(":
            self.i += 1
            inner = self.condition()
            self.expect(")")
            return inner
        path = self.identifier()
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Comparison(path, op, [self.literal()])
        word = token.upper if token.kind == "ident" else ""
        if word == "LIKE":
            return Comparison(path, "LIKE", [self.literal()])
        if word == "NOT" and self.keyword("IN"):
            return Comparison(path, "NOTIN", self.literal_list())
        if word == "IN":
            return Comparison(path, "IN", self.literal_list())
        raise self.error(token)

    def literal_list(self) -> list[Literal]:
        self.expect("(")
        if self.peek().upper == "SELECT":
            raise malformed_query("semi-join subqueries are not supported by the q2c sandbox")
        values = [self.literal()]
        while self.peek().text == ",":
            self.i += 1
            values.append(self.literal())
        self.expect(")")
        return values

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("string", _unquote(token.text))
        if token.text == "-" and self.peek().kind == "number":
            return Literal("number", -Decimal(self.take().text))
        if token.kind == "number":
            return Literal("number", Decimal(token.text))
        if token.kind == "date":
            try:
                return Literal("date", date.fromisoformat(token.text))
            except ValueError:
                raise self.error(token) from None
        if token.kind == "datetime":
            moment = parse_datetime(token.text)
            if moment is None:
                raise self.error(token)
            return Literal("datetime", moment)
        word = token.upper if token.kind == "ident" else ""
        if word in ("TRUE", "FALSE"):
            return Literal("boolean", word == "TRUE")
        if word == "NULL":
            return Literal("null", None)
        if word in RELATIVE_DATES:
            days = 0
            if word in ("LAST_N_DAYS", "NEXT_N_DAYS"):
                self.expect(":")
                days = self.integer()
            return Literal("relative", word, days)
        raise self.error(token)


def _unquote(text: str) -> str:
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def parse(source: str) -> Query:
    """Parse one SOQL statement (names not yet checked against the schema)."""
    if not source.strip():
        raise malformed_query("A query must be provided (q parameter)")
    return _Parser(source).query()


# --- binding to the schema --------------------------------------------------------------------


def _no_column(name: str, sobject: SObject) -> SalesforceError:
    return SalesforceError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{sobject.name}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def resolve_path(sobject: SObject, text: str) -> Path:
    parts = text.split(".")
    own_name = len(parts) > 1 and parts[0].lower() == sobject.name.lower()
    if own_name and sobject.relationship_ci(parts[0]) is None:
        parts = parts[1:]
    current, hops = sobject, []
    for part in parts[:-1]:
        lookup = current.relationship_ci(part)
        if lookup is None or lookup.reference_to is None:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"Didn't understand relationship '{part}' in field path. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        hops.append(lookup)
        target = sobject_ci(lookup.reference_to)
        assert target is not None
        current = target
    final = current.field_ci(parts[-1])
    if final is None:
        raise _no_column(parts[-1], current)
    return Path(tuple(hops), final)


_EXPECTED = {
    "date": ("date", "date", False),
    "datetime": ("dateTime", "datetime", False),
    "boolean": ("boolean", "boolean", False),
}


def _check_literal(path: Path, literal: Literal, op: str) -> None:
    f = path.field
    if literal.kind == "null":
        if op not in ("=", "!=", "IN", "NOTIN"):
            raise malformed_query(f"invalid operator on null value for field {f.name}")
        return
    if f.type in TEXT_TYPES:
        ok, expected, quoted = literal.kind == "string", "string", True
    elif f.type in NUMBER_TYPES:
        ok, expected, quoted = literal.kind == "number", "double", False
    else:
        expected, kind, quoted = _EXPECTED[f.type]
        ok = literal.kind == kind or (literal.kind == "relative" and f.type != "boolean")
    if op == "LIKE" and f.type not in TEXT_TYPES:
        raise SalesforceError(
            400, "INVALID_FIELD", f"invalid operator on field '{f.name}': LIKE needs a text field"
        )
    if not ok:
        enclosed = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        raise SalesforceError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{f.name}' must be of type {expected} and "
            f"{enclosed}",
        )


def _bind_condition(sobject: SObject, condition: Condition) -> None:
    if isinstance(condition, Comparison):
        condition.bound = resolve_path(sobject, condition.path)
        for literal in condition.values:
            _check_literal(condition.bound, literal, condition.op)
    elif isinstance(condition, Logical):
        for part in condition.parts:
            _bind_condition(sobject, part)
    else:
        _bind_condition(sobject, condition.part)


def bind(query: Query, parent: SObject | None = None) -> Query:
    """Check every name against the schema and resolve paths (Salesforce's errors if not)."""
    if parent is None:
        found = sobject_ci(query.sobject_name)
        if found is None:
            raise SalesforceError(
                400,
                "INVALID_TYPE",
                f"sObject type '{query.sobject_name}' is not supported. If you are attempting "
                "to use a custom object, be sure to append the '__c' after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        query.sobject = found
    else:
        child = parent.child_ci(query.sobject_name)
        if child is None:
            raise SalesforceError(
                400,
                "INVALID_TYPE",
                f"Didn't understand relationship '{query.sobject_name}' in FROM part of query "
                "call. If you are attempting to use a custom relationship, be sure to append "
                "the '__r' after the custom relationship name.",
            )
        found = sobject_ci(child.child)
        assert found is not None
        query.sobject, query.child_field, query.relationship = found, child.field, child.name
    sobject = query.sobject
    query.paths = []
    for item in query.items:
        if isinstance(item, Query):
            if parent is not None:
                raise malformed_query("Nesting of semi join sub-selects is not supported")
            query.paths.append(bind(item, sobject))
        else:
            query.paths.append(resolve_path(sobject, item))
    if query.where is not None:
        _bind_condition(sobject, query.where)
    for order in query.order:
        order.bound = resolve_path(sobject, order.path)
    return query


# --- evaluation -------------------------------------------------------------------------------


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


class Evaluator:
    """Runs bound queries over a snapshot; `today` anchors relative date literals."""

    def __init__(self, snapshot: Snapshot, now: datetime, version: str) -> None:
        self.snapshot = snapshot
        self.today = now.astimezone(UTC).date()
        self.version = version

    def value(self, record: dict[str, Any], path: Path) -> Any:
        current: dict[str, Any] | None = record
        for hop in path.hops:
            current = self.snapshot.record(current.get(hop.name)) if current else None
        return current.get(path.field.name) if current else None

    def _range(self, literal: Literal) -> tuple[date, date]:
        offsets = {"TODAY": (0, 0), "YESTERDAY": (-1, -1), "TOMORROW": (1, 1)}
        if literal.value == "LAST_N_DAYS":
            start, end = -literal.days, 0
        elif literal.value == "NEXT_N_DAYS":
            start, end = 0, literal.days
        else:
            start, end = offsets[literal.value]
        return self.today + timedelta(days=start), self.today + timedelta(days=end)

    def _compare(self, f: Field, stored: Any, op: str, literal: Literal) -> bool:
        if literal.kind == "null":
            return (stored is None) == (op in ("=", "IN"))
        if stored is None:
            return op in ("!=", "NOTIN")
        if op == "LIKE":
            return bool(_like(str(literal.value)).fullmatch(str(stored)))
        mine = comparable(f, stored)
        if literal.kind == "relative":
            day = mine.astimezone(UTC).date() if isinstance(mine, datetime) else mine
            low, high = self._range(literal)
            results = {
                "=": low <= day <= high,
                "!=": not low <= day <= high,
                "<": day < low,
                "<=": day <= high,
                ">": day > high,
                ">=": day >= low,
            }
            return results["=" if op == "IN" else "!=" if op == "NOTIN" else op]
        other: Any = literal.value
        if f.type in ("id", "reference"):
            other = normalize_id(str(other)) or other
        elif isinstance(other, str):
            other = other.lower()
        if op in ("=", "IN"):
            return bool(mine == other)
        if op in ("!=", "NOTIN"):
            return bool(mine != other)
        try:
            return bool(
                {"<": mine < other, "<=": mine <= other, ">": mine > other, ">=": mine >= other}[op]
            )
        except TypeError:
            return False

    def matches(self, record: dict[str, Any], condition: Condition | None) -> bool:
        if condition is None:
            return True
        if isinstance(condition, Negation):
            return not self.matches(record, condition.part)
        if isinstance(condition, Logical):
            results = (self.matches(record, part) for part in condition.parts)
            return all(results) if condition.op == "AND" else any(results)
        assert condition.bound is not None
        stored = self.value(record, condition.bound)
        f = condition.bound.field
        if condition.op == "NOTIN":
            return all(self._compare(f, stored, "NOTIN", v) for v in condition.values)
        if condition.op == "IN":
            return any(self._compare(f, stored, "IN", v) for v in condition.values)
        return self._compare(f, stored, condition.op, condition.values[0])

    def rows(self, query: Query, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Filter, sort, offset and limit."""
        rows = [r for r in candidates if self.matches(r, query.where)]
        for item in reversed(query.order):
            assert item.bound is not None
            bound = item.bound
            nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
            present = [r for r in rows if self.value(r, bound) is not None]
            absent = [r for r in rows if self.value(r, bound) is None]
            present.sort(
                key=lambda r: comparable(bound.field, self.value(r, bound)),
                reverse=item.descending,
            )
            rows = present + absent if nulls_last else absent + present
        rows = rows[query.offset :]
        return rows if query.limit is None else rows[: query.limit]

    def top_level(self, query: Query) -> list[dict[str, Any]]:
        assert query.sobject is not None
        return self.rows(query, self._candidates(query.sobject, query.where))

    def _candidates(self, sobject: SObject, where: Condition | None) -> list[dict[str, Any]]:
        """The records `where` may match: by id for `Id = '...'` (the usual read of one record,
        which would otherwise test every record of the type), else all of the type."""
        if (
            isinstance(where, Comparison)
            and where.op == "="
            and where.bound is not None
            and not where.bound.hops
            and where.bound.field.name == "Id"
            and where.values[0].kind == "string"
        ):
            record_id = normalize_id(str(where.values[0].value))
            found = self.snapshot.by_id.get(record_id) if record_id else None
            return [found[1]] if found is not None and found[0] == sobject.name else []
        return self.snapshot.by_type.get(sobject.name, [])

    def render(self, query: Query, record: dict[str, Any]) -> dict[str, Any]:
        """One result row: `attributes`, then each selected field, nested by relationship."""
        assert query.sobject is not None
        out: dict[str, Any] = {
            "attributes": {
                "type": query.sobject.name,
                "url": record_url(self.version, query.sobject.name, record["Id"]),
            }
        }
        for item in query.paths:
            if isinstance(item, Query):
                assert item.sobject is not None and item.relationship and item.child_field
                children = [
                    child
                    for child in self.snapshot.by_type.get(item.sobject.name, [])
                    if child.get(item.child_field) == record["Id"]
                ]
                rows = self.rows(item, children)
                out[item.relationship] = (
                    {
                        "totalSize": len(rows),
                        "done": True,
                        "records": [self.render(item, row) for row in rows],
                    }
                    if rows
                    else None
                )
            else:
                self._put(out, record, item)
        return out

    def _put(self, out: dict[str, Any], record: dict[str, Any], path: Path) -> None:
        target, current = out, record
        for hop in path.hops:
            name = hop.relationship_name or hop.name
            related = self.snapshot.record(current.get(hop.name))
            if related is None:
                target.setdefault(name, None)
                return
            if not isinstance(target.get(name), dict):
                target[name] = {
                    "attributes": {
                        "type": hop.reference_to,
                        "url": record_url(self.version, hop.reference_to or "", related["Id"]),
                    }
                }
            target, current = target[name], related
        target[path.field.name] = render(path.field, current.get(path.field.name))
