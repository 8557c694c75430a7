"""deploy/prometheus/alerts.yml: well-formed rules on metrics q2c really exports, each with its
runbook section in docs/OPERATIONS.md, loaded by the compose stack's Prometheus.

promtool is not available (nothing may be downloaded) and PyPI has no PromQL parser we could
take, so the expressions go through the small PromQL parser below: the grammar of Prometheus's
own (operator precedence, aggregations with `by`/`without`, vector matching, range vectors,
subqueries, `offset`), with the type checks that make Prometheus refuse a rule (`rate` of an
instant vector, a scalar comparison without `bool`, a rule that is not an instant vector) and
the list of its functions. The parser is itself tested on the dashboard's queries and on broken
expressions. The last test runs a real worker (the production metrics runtime) on the dev
server, fails a workflow task and an activity, and checks that every `temporal_*` series the
rules use, with the labels they match on, is on its /metrics page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import yaml
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.observability import metrics
from adapters.settings import Settings
from starter.binaries import temporal_cli
from tests.observability.conftest import _free_port

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
OPERATIONS = REPO / "docs" / "OPERATIONS.md"
COMPOSE = REPO / "docker-compose.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "q2c.json"

SEVERITIES = {"critical", "warning"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
RUNBOOK = re.compile(r"^docs/OPERATIONS\.md#([a-z0-9_-]+)$")

# Series scraped by Prometheus itself (not exported by q2c or the SDK), and their jobs.
PROMETHEUS_SERIES = {"up"}
JOBS = {"q2c-worker", "temporal-server"}

# q2c's series as scraped, with their labels (adapters/observability/metrics.py, OPERATIONS §9).
Q2C_LABELS: dict[str, set[str]] = {
    metrics.QUOTE_TO_BILL: set(),
    f"{metrics.INVOICE_POSTINGS}_total": {"kind", "outcome"},
    f"{metrics.JOURNAL_POSTINGS}_total": {"outcome"},
    metrics.AMENDMENT_BACKLOG: set(),
    metrics.NEEDS_ATTENTION: {"reason"},
    metrics.RECONCILIATION_MISMATCHES: {"kind"},
}
OUTCOMES = {metrics.POSTED, metrics.DUPLICATE, metrics.RETRYING, metrics.FAILED, metrics.PARKED}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


# --- PromQL --------------------------------------------------------------------------------


class PromQLError(ValueError):
    pass


# Functions of Prometheus 3 (promql/parser/functions.go): argument types, how many of the last
# may be left out, result type. v = instant vector, m = range vector, s = scalar, str = string.
FUNCTIONS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "abs": (("v",), 0, "v"),
    "absent": (("v",), 0, "v"),
    "absent_over_time": (("m",), 0, "v"),
    "acos": (("v",), 0, "v"),
    "asin": (("v",), 0, "v"),
    "atan": (("v",), 0, "v"),
    "avg_over_time": (("m",), 0, "v"),
    "ceil": (("v",), 0, "v"),
    "changes": (("m",), 0, "v"),
    "clamp": (("v", "s", "s"), 0, "v"),
    "clamp_max": (("v", "s"), 0, "v"),
    "clamp_min": (("v", "s"), 0, "v"),
    "cos": (("v",), 0, "v"),
    "count_over_time": (("m",), 0, "v"),
    "day_of_month": (("v",), 1, "v"),
    "day_of_week": (("v",), 1, "v"),
    "day_of_year": (("v",), 1, "v"),
    "days_in_month": (("v",), 1, "v"),
    "deg": (("v",), 0, "v"),
    "delta": (("m",), 0, "v"),
    "deriv": (("m",), 0, "v"),
    "exp": (("v",), 0, "v"),
    "floor": (("v",), 0, "v"),
    "histogram_avg": (("v",), 0, "v"),
    "histogram_count": (("v",), 0, "v"),
    "histogram_fraction": (("s", "s", "v"), 0, "v"),
    "histogram_quantile": (("s", "v"), 0, "v"),
    "histogram_sum": (("v",), 0, "v"),
    "hour": (("v",), 1, "v"),
    "idelta": (("m",), 0, "v"),
    "increase": (("m",), 0, "v"),
    "irate": (("m",), 0, "v"),
    "label_join": (("v", "str", "str", "str", "str", "str", "str"), 3, "v"),
    "label_replace": (("v", "str", "str", "str", "str"), 0, "v"),
    "last_over_time": (("m",), 0, "v"),
    "ln": (("v",), 0, "v"),
    "log10": (("v",), 0, "v"),
    "log2": (("v",), 0, "v"),
    "max_over_time": (("m",), 0, "v"),
    "min_over_time": (("m",), 0, "v"),
    "minute": (("v",), 1, "v"),
    "month": (("v",), 1, "v"),
    "predict_linear": (("m", "s"), 0, "v"),
    "present_over_time": (("m",), 0, "v"),
    "quantile_over_time": (("s", "m"), 0, "v"),
    "rad": (("v",), 0, "v"),
    "rate": (("m",), 0, "v"),
    "resets": (("m",), 0, "v"),
    "round": (("v", "s"), 1, "v"),
    "scalar": (("v",), 0, "s"),
    "sgn": (("v",), 0, "v"),
    "sin": (("v",), 0, "v"),
    "sort": (("v",), 0, "v"),
    "sort_desc": (("v",), 0, "v"),
    "sqrt": (("v",), 0, "v"),
    "stddev_over_time": (("m",), 0, "v"),
    "stdvar_over_time": (("m",), 0, "v"),
    "sum_over_time": (("m",), 0, "v"),
    "tan": (("v",), 0, "v"),
    "time": ((), 0, "s"),
    "timestamp": (("v",), 0, "v"),
    "vector": (("s",), 0, "v"),
    "year": (("v",), 1, "v"),
}
# Aggregations; those taking a parameter before the vector, with its type.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count"}
PARAM_AGGREGATIONS = {
    "topk": "s",
    "bottomk": "s",
    "limitk": "s",
    "limit_ratio": "s",
    "quantile": "s",
    "count_values": "str",
}
COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPERATORS = {"and", "or", "unless"}
# Binary operators by precedence, lowest first (`^` is right-associative).
PRECEDENCE: list[set[str]] = [
    {"or"},
    {"and", "unless"},
    COMPARISONS,
    {"+", "-"},
    {"*", "/", "%", "atan2"},
    {"^"},
]
TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|s|m|h|d|w|y))+(?![\w.]))
  | (?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE,
)


@dataclass
class Selector:
    name: str | None
    matchers: list[tuple[str, str, str]]  # (label, operator, value)


@dataclass
class Parsed:
    type: str  # "v", "m", "s" or "str"
    selectors: list[Selector] = field(default_factory=list)
    functions: set[str] = field(default_factory=set)


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expr):
        match = TOKEN.match(expr, position)
        if not match:
            raise PromQLError(f"unexpected character {expr[position]!r} at {position}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


class Parser:
    """Recursive descent over PromQL; `parse` returns the expression's type and selectors."""

    def __init__(self, expr: str) -> None:
        self.tokens = tokenize(expr)
        self.position = 0
        self.selectors: list[Selector] = []
        self.functions: set[str] = set()

    def parse(self) -> Parsed:
        kind = self.expression(0)
        if self.position != len(self.tokens):
            raise PromQLError(f"unexpected {self.peek()!r} after the expression")
        return Parsed(kind, self.selectors, self.functions)

    # tokens

    def peek(self, ahead: int = 0) -> str:
        index = self.position + ahead
        return self.tokens[index][1] if index < len(self.tokens) else ""

    def kind(self) -> str:
        return self.tokens[self.position][0] if self.position < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        if self.position >= len(self.tokens):
            raise PromQLError(f"unexpected end of expression (expected {expected or 'more'})")
        value = self.tokens[self.position][1]
        if expected is not None and value != expected:
            raise PromQLError(f"expected {expected!r}, found {value!r}")
        self.position += 1
        return value

    def label_list(self) -> list[str]:
        self.take("(")
        labels = []
        while self.peek() != ")":
            if self.kind() != "ident" or ":" in self.peek():
                raise PromQLError(f"expected a label name, found {self.peek()!r}")
            labels.append(self.take())
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        return labels

    # expressions

    def expression(self, level: int) -> str:
        if level == len(PRECEDENCE):
            return self.unary()
        left = self.expression(level + 1)
        while self.peek() in PRECEDENCE[level]:
            operator = self.take()
            returns_bool = False
            if self.peek() == "bool":
                if operator not in COMPARISONS:
                    raise PromQLError(f"bool modifier on {operator!r}")
                self.take()
                returns_bool = True
            if self.peek() in ("on", "ignoring"):
                self.take()
                self.label_list()
                if self.peek() in ("group_left", "group_right"):
                    self.take()
                    if self.peek() == "(":
                        self.label_list()
            # `^` is right-associative: its right side is parsed at the same level.
            right = self.expression(level if operator == "^" else level + 1)
            left = self.binary_type(operator, left, right, returns_bool)
        return left

    @staticmethod
    def binary_type(operator: str, left: str, right: str, returns_bool: bool) -> str:
        for side in (left, right):
            if side not in ("v", "s"):
                raise PromQLError(f"{operator!r} on a {_TYPE_NAMES[side]}")
        if operator in SET_OPERATORS and "s" in (left, right):
            raise PromQLError(f"set operator {operator!r} needs instant vectors on both sides")
        if operator in COMPARISONS and left == right == "s" and not returns_bool:
            raise PromQLError("comparisons between scalars must use the bool modifier")
        return "v" if "v" in (left, right) else "s"

    def unary(self) -> str:
        if self.peek() in ("-", "+"):
            self.take()
            operand = self.unary()
            if operand not in ("v", "s"):
                raise PromQLError(f"unary sign on a {_TYPE_NAMES[operand]}")
            return operand
        return self.postfix()

    def postfix(self) -> str:
        kind, is_selector = self.primary()
        while True:
            if self.peek() == "[":
                self.take()
                self.duration()
                if self.peek() == ":":  # subquery: [range:resolution]
                    self.take()
                    if self.kind() == "duration":
                        self.take()
                    if kind != "v":
                        raise PromQLError(f"subquery of a {_TYPE_NAMES[kind]}")
                elif not is_selector:
                    raise PromQLError("a range [..] applies to a vector selector only")
                self.take("]")
                kind, is_selector = "m", False
            elif self.peek() == "offset":
                self.take()
                if self.peek() == "-":
                    self.take()
                self.duration()
                if kind not in ("v", "m"):
                    raise PromQLError("offset on a scalar")
            elif self.peek() == "@":
                self.take()
                if self.peek() in ("start", "end"):
                    self.take()
                    self.take("(")
                    self.take(")")
                elif self.kind() == "number":
                    self.take()
                else:
                    raise PromQLError(f"bad @ modifier {self.peek()!r}")
            else:
                return kind

    def duration(self) -> None:
        if self.kind() != "duration":
            raise PromQLError(f"expected a duration, found {self.peek()!r}")
        self.take()

    def primary(self) -> tuple[str, bool]:
        """(type, whether it is a bare vector selector, which takes a range)."""
        kind, token = self.kind(), self.peek()
        if kind == "number" or token in ("Inf", "NaN"):
            self.take()
            return "s", False
        if kind == "string":
            self.take()
            return "str", False
        if token == "(":
            self.take()
            inner = self.expression(0)
            self.take(")")
            return inner, False
        if token == "{":
            return self.selector(None), True
        if kind != "ident":
            raise PromQLError(f"unexpected {token or 'end of expression'!r}")
        aggregation = token in AGGREGATIONS or token in PARAM_AGGREGATIONS
        if aggregation and self.peek(1) in ("(", "by", "without"):
            return self.aggregation(), False
        if self.peek(1) == "(":
            return self.function(), False
        self.take()
        return self.selector(token), True

    def aggregation(self) -> str:
        name = self.take()
        grouped = False
        if self.peek() in ("by", "without"):
            self.take()
            self.label_list()
            grouped = True
        self.take("(")
        if name in PARAM_AGGREGATIONS:
            parameter = self.expression(0)
            if parameter != PARAM_AGGREGATIONS[name]:
                raise PromQLError(f"{name}: first argument must be a {PARAM_AGGREGATIONS[name]}")
            self.take(",")
        operand = self.expression(0)
        if operand != "v":
            raise PromQLError(f"{name} over a {_TYPE_NAMES[operand]}")
        self.take(")")
        if self.peek() in ("by", "without"):
            if grouped:
                raise PromQLError(f"{name}: by/without given twice")
            self.take()
            self.label_list()
        return "v"

    def function(self) -> str:
        name = self.take()
        if name not in FUNCTIONS:
            raise PromQLError(f"unknown function {name!r}")
        expected, optional, result = FUNCTIONS[name]
        self.functions.add(name)
        self.take("(")
        arguments: list[str] = []
        while self.peek() != ")":
            arguments.append(self.expression(0))
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        if not len(expected) - optional <= len(arguments) <= len(expected):
            raise PromQLError(f"{name}: {len(arguments)} arguments")
        for index, (got, wanted) in enumerate(zip(arguments, expected, strict=False)):
            if got != wanted:
                raise PromQLError(
                    f"{name}: argument {index + 1} must be a {_TYPE_NAMES[wanted]}, "
                    f"not a {_TYPE_NAMES[got]}"
                )
        return result

    def selector(self, name: str | None) -> str:
        matchers: list[tuple[str, str, str]] = []
        if self.peek() == "{":
            self.take()
            while self.peek() != "}":
                if self.kind() != "ident":
                    raise PromQLError(f"expected a label name, found {self.peek()!r}")
                label = self.take()
                operator = self.take()
                if operator not in ("=", "!=", "=~", "!~"):
                    raise PromQLError(f"bad label matcher operator {operator!r}")
                if self.kind() != "string":
                    raise PromQLError(f"label {label}: the value must be a quoted string")
                value = self.take()[1:-1]
                if operator in ("=~", "!~"):
                    try:
                        re.compile(value)
                    except re.error as exc:
                        raise PromQLError(f"label {label}: bad regex {value!r}: {exc}") from None
                matchers.append((label, operator, value))
                if self.peek() != "}":
                    self.take(",")
            self.take("}")
        if name is None and not any(op == "=" and value for _, op, value in matchers):
            raise PromQLError("a selector without a name needs a non-empty matcher")
        self.selectors.append(Selector(name, matchers))
        return "v"


_TYPE_NAMES = {"v": "instant vector", "m": "range vector", "s": "scalar", "str": "string"}


def parse(expr: str) -> Parsed:
    return Parser(expr).parse()


def alternatives(regex: str) -> set[str]:
    """The values a simple alternation (`a|b|c`) matches; refuses anything fancier."""
    if not re.fullmatch(r"[\w|]+", regex):
        raise ValueError(f"not a plain alternation: {regex!r}")
    return set(regex.split("|"))


# --- the rules -----------------------------------------------------------------------------


def load_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert isinstance(document, dict) and set(document) == {"groups"}, "only `groups:`"
    rules = []
    for group in document["groups"]:
        assert set(group) <= {"name", "rules", "interval", "labels"}, group.get("name")
        assert group["name"] and group["rules"], group
        rules.extend(group["rules"])
    return rules


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes of a document's headings (code blocks are not headings)."""
    anchors, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            text = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def section(markdown: str, heading: str) -> str:
    """The text of a `## ` section, up to the next `## ` heading."""
    start = markdown.index(f"\n{heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else len(markdown)]


def q2c_metric_problems(expr: str) -> list[str]:
    """What is wrong with the q2c_* series `expr` reads: unknown names, unknown labels, posting
    outcomes q2c does not count."""
    problems = []
    for selector in parse(expr).selectors:
        name = selector.name or ""
        if not name.startswith("q2c_"):
            continue
        base = name
        if name.endswith(HISTOGRAM_SUFFIXES) and name.rsplit("_", 1)[0] == metrics.QUOTE_TO_BILL:
            base = metrics.QUOTE_TO_BILL
        if base not in Q2C_LABELS:
            problems.append(f"{name}: not a metric q2c exports")
            continue
        if name == metrics.QUOTE_TO_BILL:
            problems.append(f"{name}: a histogram is read as _bucket, _count or _sum")
            continue
        allowed = Q2C_LABELS[base] | {"job", "instance"}
        if name == f"{metrics.QUOTE_TO_BILL}_bucket":
            allowed |= {"le"}
        for label, operator, value in selector.matchers:
            if label not in allowed:
                problems.append(f"{name}: no label {label!r}")
            elif label == "outcome":
                values = alternatives(value) if operator in ("=~", "!~") else {value}
                if values - OUTCOMES:
                    problems.append(f"{name}: outcome(s) {sorted(values - OUTCOMES)} never counted")
    return problems


def sdk_series(rules: list[dict[str, Any]]) -> dict[str, set[str]]:
    """temporal_* series the rules read → the labels they match on."""
    used: dict[str, set[str]] = {}
    for rule in rules:
        for selector in parse(rule["expr"]).selectors:
            if selector.name and selector.name.startswith("temporal_"):
                used.setdefault(selector.name, set()).update(m[0] for m in selector.matchers)
    return used


# --- tests ---------------------------------------------------------------------------------


def test_every_rule_is_complete_and_unique() -> None:
    rules = load_rules()
    assert len(rules) >= 15
    names = [rule.get("alert") for rule in rules]
    assert all(names), "recording rules do not belong in this file; every rule is an alert"
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"Q2C[A-Z][A-Za-z0-9]+", name), name
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), name
        assert DURATION.match(str(rule.get("for", ""))), f"{name}: `for:` missing or malformed"
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        for text in annotations.values():
            assert text.count("{{") == text.count("}}"), f"{name}: unbalanced template"
            for variable in re.findall(r"\{\{\s*(\$\w+)", text):
                assert variable in ("$value", "$labels"), f"{name}: {variable}"


def test_every_expression_is_valid_promql_giving_an_instant_vector() -> None:
    for rule in load_rules():
        try:
            parsed = parse(rule["expr"])
        except PromQLError as exc:
            pytest.fail(f"{rule['alert']}: {exc}\n{rule['expr']}")
        assert parsed.type == "v", f"{rule['alert']}: an alert needs an instant vector"
        for selector in parsed.selectors:
            assert selector.name, f"{rule['alert']}: name the metric"


def test_every_metric_is_one_q2c_the_sdk_or_prometheus_exports() -> None:
    assert set(Q2C_LABELS) == set(metrics.BUSINESS_METRICS)  # the table above follows the code
    known_sdk = set(SDK_METRICS)
    for rule in load_rules():
        assert not q2c_metric_problems(rule["expr"]), (
            rule["alert"],
            q2c_metric_problems(rule["expr"]),
        )
        for selector in parse(rule["expr"]).selectors:
            name = selector.name or ""
            if name.startswith("temporal_"):
                assert name in known_sdk, f"{rule['alert']}: {name} (add it to SDK_METRICS)"
            elif not name.startswith("q2c_"):
                assert name in PROMETHEUS_SERIES, f"{rule['alert']}: unknown metric {name}"
                for label, _, value in selector.matchers:
                    if label == "job":
                        assert value in JOBS, f"{rule['alert']}: no job {value!r}"
    # Each business metric has at least one alert.
    used = {s.name for rule in load_rules() for s in parse(rule["expr"]).selectors}
    for metric in metrics.BUSINESS_METRICS:
        assert any(name and name.startswith(metric) for name in used), f"no alert on {metric}"


def test_the_scraped_jobs_are_the_ones_the_rules_name() -> None:
    prometheus = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert {job["job_name"] for job in prometheus["scrape_configs"]} == JOBS


def test_the_sticky_cache_threshold_follows_the_cache_size() -> None:
    (rule,) = [r for r in load_rules() if r["alert"] == "Q2CStickyCacheFull"]
    size = Settings.model_fields["worker_sticky_cache_size"].default
    stack = dict(
        line.split("=", 1)
        for line in (REPO / "deploy" / "stack.env").read_text().splitlines()
        if line.startswith("Q2C_WORKER_STICKY_CACHE_SIZE=")
    )
    assert int(stack.get("Q2C_WORKER_STICKY_CACHE_SIZE", size)) == size
    assert re.search(rf">=\s*{int(size * 0.95)}\b", rule["expr"]), (
        f"the threshold must be 95% of the sticky cache size ({size})"
    )


def test_every_alert_has_its_runbook_section_and_every_section_its_alert() -> None:
    rules = load_rules()
    doc = OPERATIONS.read_text()
    anchors = github_anchors(doc)
    alerts_section = section(doc, "## 12. Alerts")
    for rule in rules:
        match = RUNBOOK.match(rule["annotations"]["runbook_url"])
        assert match, f"{rule['alert']}: runbook_url must be docs/OPERATIONS.md#<anchor>"
        assert match.group(1) == rule["alert"].lower(), rule["alert"]
        assert match.group(1) in anchors, f"{rule['alert']}: no section #{match.group(1)}"
        assert f"\n### {rule['alert']}\n" in alerts_section, f"{rule['alert']}: not in §12"
        row = re.search(rf"^\| `{rule['alert']}` \| (\w+) \|", alerts_section, re.M)
        assert row, f"{rule['alert']}: not in §12's table"
        assert row.group(1) == rule["labels"]["severity"], f"{rule['alert']}: severity differs"
    documented = set(re.findall(r"^### (Q2C\w+)$", alerts_section, re.M))
    assert documented == {rule["alert"] for rule in rules}, "§12 and the rules differ"


def test_the_compose_prometheus_loads_the_rule_file() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["prometheus"]
    command = service["command"]
    arguments = shlex.split(command) if isinstance(command, str) else command
    (config_path,) = [a.split("=", 1)[1] for a in arguments if a.startswith("--config.file=")]
    mounts = {}
    for volume in service["volumes"]:
        host, inside, *_ = volume.split(":")
        if host.startswith("./"):
            mounts[inside] = (REPO / host).resolve()
    assert mounts[config_path] == (PROMETHEUS_DIR / "prometheus.yml").resolve()
    config = yaml.safe_load(mounts[config_path].read_text())
    loaded = set()
    for pattern in config["rule_files"]:
        inside = PurePosixPath(config_path).parent / pattern  # relative to the config's folder
        assert str(inside) in mounts, f"rule file {inside} is not mounted into the container"
        loaded.add(mounts[str(inside)])
    assert RULES.resolve() in loaded


# --- the parser itself ---------------------------------------------------------------------


def test_the_parser_accepts_the_dashboards_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 10
    for query in queries:
        query = query.replace("$__rate_interval", "5m").replace("$__range", "1h")
        assert parse(query).type == "v", query


@pytest.mark.parametrize(
    "expr",
    [
        'sum(rate(x{a="b"}[5m]) by (le)',  # unbalanced
        "sum(rate(x[5m])))",
        "rate(x)",  # rate of an instant vector
        "rate(sum(x)[5m])",  # a range on an aggregation (needs a subquery)
        "histogram_quantile(0.99, x[5m])",
        "histogram_quantile(x, y)",
        "x{a=b}",  # unquoted label value
        'x{a~"b"}',
        'x{a=~"("}',  # bad regex
        "1 > 2",  # scalar comparison without bool
        "x and 1",
        "x >",
        "x[5m] > 0",
        "sum by le (x)",
        "sum by (le) (x) by (le)",
        "rates(x[5m])",  # unknown function
        "topk(x, y)",
        "absent()",
        "x offset",
        "x[5x]",
        "{}",
        'x{a="b",,}',
    ],
)
def test_the_parser_refuses_broken_expressions(expr: str) -> None:
    with pytest.raises(PromQLError):
        parse(expr)


def test_the_parser_reads_what_the_rules_use() -> None:
    parsed = parse(
        'max by (instance) (a{b=~"c|d"} offset 5m) >= 475 and on (instance) '
        "sum without (x) (rate(e_total[15m])) > bool 0 "
        "or -vector(1) ^ 2 ^ 3 unless min_over_time(sum(f)[1h:1m]) / ignoring (g) "
        'group_left (h) label_replace(i, "j", "$1", "k", "(.*)")'
    )
    assert parsed.type == "v"
    assert [s.name for s in parsed.selectors] == ["a", "e_total", "f", "i"]
    assert parsed.selectors[0].matchers == [("b", "=~", "c|d")]
    assert {"rate", "min_over_time", "vector", "label_replace"} <= parsed.functions


def test_metric_checks_catch_what_q2c_does_not_export() -> None:
    assert q2c_metric_problems("sum(rate(q2c_journal_postings_total[5m])) > 0") == []
    assert q2c_metric_problems("sum(rate(q2c_journal_posting_total[5m])) > 0")
    assert q2c_metric_problems('q2c_contracts_needs_attention{attention_reason="x"} > 0')
    assert q2c_metric_problems('rate(q2c_invoice_postings_total{outcome=~"failed|error"}[5m])')
    assert q2c_metric_problems("q2c_quote_to_bill_latency_seconds_buckets > 0")
    assert q2c_metric_problems("q2c_quote_to_bill_latency_seconds > 0")
    assert not q2c_metric_problems('q2c_quote_to_bill_latency_seconds_bucket{le="60"} > 0')


# --- the SDK's metric names, from a real worker ---------------------------------------------

# Every temporal_* series the rules may read: each is checked on a real worker's page below.
SDK_METRICS = (
    "temporal_workflow_task_execution_failed_total",
    "temporal_activity_execution_failed_total",
    "temporal_activity_task_received_total",
    "temporal_activity_schedule_to_start_latency_bucket",
    "temporal_workflow_task_schedule_to_start_latency_bucket",
    "temporal_worker_task_slots_available",
    "temporal_sticky_cache_size",
    "temporal_sticky_cache_total_forced_eviction_total",
    "temporal_request_failure_total",
)


@activity.defn(name="alert_probe_fails")
async def failing_activity() -> None:
    raise ApplicationError("refused", non_retryable=True)


@workflow.defn(name="AlertProbe", sandboxed=False)
class FailingWorkflow:
    """Runs a failing activity, then fails its workflow task (Temporal retries it)."""

    @workflow.run
    async def run(self) -> None:
        with contextlib.suppress(Exception):
            await workflow.execute_activity(
                failing_activity, start_to_close_timeout=timedelta(seconds=10)
            )
        raise RuntimeError("this workflow task fails")


def _series(page: str) -> dict[str, set[str]]:
    """Series name → its label names, from a Prometheus text page."""
    found: dict[str, set[str]] = {}
    for line in page.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? ", line)
        if match:
            labels = set(re.findall(r'(\w+)="', match.group(2) or ""))
            found.setdefault(match.group(1), set()).update(labels)
    return found


@pytest.mark.devserver
async def test_a_real_worker_exports_every_sdk_series_the_rules_use() -> None:
    used = sdk_series(load_rules())
    assert set(used) <= set(SDK_METRICS), set(used) - set(SDK_METRICS)
    bind = f"127.0.0.1:{_free_port()}"
    runtime = metrics.worker_runtime(bind)  # the worker's own exporter settings
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()), dev_server_log_level="error"
    )
    async with env:
        client = await Client.connect(
            env.client.service_client.config.target_host,
            namespace=env.client.namespace,
            runtime=runtime,
        )
        queue = f"alert-probe-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client, task_queue=queue, workflows=[FailingWorkflow], activities=[failing_activity]
        ):
            handle = await client.start_workflow(
                FailingWorkflow.run, id=f"alert-probe-{uuid.uuid4().hex}", task_queue=queue
            )
            with pytest.raises(RPCError):  # NOT_FOUND: a request failure
                await client.get_workflow_handle("alert-probe-missing").describe()
            series: dict[str, set[str]] = {}
            async with httpx.AsyncClient(timeout=10) as http:
                for _ in range(150):  # bounded: up to 30 s
                    series = _series((await http.get(f"http://{bind}/metrics")).text)
                    if set(SDK_METRICS) <= set(series):
                        break
                    await asyncio.sleep(0.2)
            await handle.terminate("probe done")
    missing = set(SDK_METRICS) - set(series)
    assert not missing, f"not on a real worker's page: {sorted(missing)}"
    for name, labels in used.items():
        assert labels <= series[name] | {"job", "instance"}, (name, labels - series[name])
