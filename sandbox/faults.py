"""Fault injection: the failures that real vendors produce, on demand and reproducibly.

Rules are set per system (`salesforce`, `billing`, `erp`) from `Q2C_SANDBOX_FAULTS`, the
`--faults` flag of `q2c sandbox`, or `PUT /_sandbox/faults` on the app. Every rule whose
`route` (fnmatch on the path) and `method` match a request applies, in order: latencies add up,
and the first rule whose dice come up decides the failure. Each system draws from its own
`random.Random` seeded from the configured seed, so a test that sends the same requests in the
same order sees the same faults.

`commit_then_fail` is the case that makes naive retries duplicate money: the request is
processed and committed, then the client gets a 500 (`error`) or a dropped connection (`drop`).
Admin routes (`/_sandbox/...`) are never faulted. A rule's `spike_rate` adds `spike_ms` of
latency to that share of requests. `GET /_sandbox/faults` also says how many faults of each
kind the system has injected so far (`injected`), which chaos runs report.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from adapters.settings import ConfigError

SYSTEMS = ("salesforce", "billing", "erp")
SETTING = "Q2C_SANDBOX_FAULTS"
ADMIN_PREFIX = "/_sandbox"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], tuple[dict[str, Any] | list[Any], dict[str, str]]]


class FaultRule(BaseModel):
    """One fault rule; rates are probabilities per matching request (0..1)."""

    model_config = ConfigDict(extra="forbid")

    route: str = Field("*", description="fnmatch pattern on the request path, e.g. */sobjects/*")
    method: str = Field("*", description="HTTP method, or * for any")
    error_rate: float = Field(0, ge=0, le=1)
    error_status: int = Field(500, ge=500, le=599)
    rate_limit_rate: float = Field(0, ge=0, le=1)
    retry_after: int = Field(1, ge=0, description="Seconds in the Retry-After header of a 429")
    latency_ms: int = Field(0, ge=0)
    hang_rate: float = Field(0, ge=0, le=1)
    commit_then_fail_rate: float = Field(0, ge=0, le=1)
    commit_then_fail_mode: Literal["error", "drop"] = "error"
    spike_rate: float = Field(0, ge=0, le=1, description="Chance of a latency spike")
    spike_ms: int = Field(0, ge=0, description="Latency added by a spike, on top of latency_ms")

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method == "*" or self.method.upper() == method.upper()
        return method_ok and fnmatch.fnmatchcase(path, self.route)


_RULES = TypeAdapter(list[FaultRule])


class FaultConfig(BaseModel):
    """The body of `PUT /_sandbox/faults`."""

    model_config = ConfigDict(extra="forbid")

    rules: list[FaultRule] = Field(default_factory=list)
    seed: int | None = None


Action = Literal["pass", "hang", "rate_limit", "error", "commit_then_fail"]
INJECTED = ("hang", "rate_limit", "error", "commit_then_fail", "latency_spike")


@dataclass(frozen=True)
class Decision:
    """What the fault layer does with one request."""

    action: Action
    latency_seconds: float = 0.0
    rule: FaultRule | None = None


PASS = Decision("pass")


class FaultInjector:
    """Rules per system and one seeded random generator per system; safe across threads."""

    def __init__(
        self, rules: Mapping[str, list[FaultRule]] | None = None, *, seed: int = 0
    ) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, list[FaultRule]] = {s: list(r) for s, r in (rules or {}).items()}
        self._seed = seed
        self._random: dict[str, random.Random] = {}
        self._injected: dict[str, dict[str, int]] = {}

    @property
    def seed(self) -> int:
        return self._seed

    def rules(self, system: str) -> list[FaultRule]:
        with self._lock:
            return list(self._rules.get(system, []))

    def set_rules(self, system: str, rules: list[FaultRule], *, seed: int | None = None) -> None:
        """Replace a system's rules; a new seed restarts its random sequence."""
        with self._lock:
            self._rules[system] = list(rules)
            if seed is not None:
                self._seed = seed
            self._random.pop(system, None)

    def clear(self, system: str | None = None) -> None:
        """Remove the rules of one system (or of all) and restart their random sequences."""
        with self._lock:
            for name in [system] if system else list(self._rules):
                self._rules.pop(name, None)
                self._random.pop(name, None)
            if system is None:
                self._random.clear()

    def injected(self, system: str) -> dict[str, int]:
        """How many faults of each kind this system has injected (kept across rule changes)."""
        with self._lock:
            counts = self._injected.get(system, {})
            return {kind: counts.get(kind, 0) for kind in INJECTED}

    def reset_injected(self, system: str | None = None) -> None:
        with self._lock:
            for name in [system] if system else list(self._injected):
                self._injected.pop(name, None)

    def _count(self, system: str, kind: str) -> None:
        counts = self._injected.setdefault(system, {})
        counts[kind] = counts.get(kind, 0) + 1

    def _rng(self, system: str) -> random.Random:
        rng = self._random.get(system)
        if rng is None:
            rng = self._random[system] = random.Random(f"{self._seed}:{system}")
        return rng

    def decide(self, system: str, method: str, path: str) -> Decision:
        """Roll the dice of every matching rule (always four draws each, for reproducibility;
        a fifth for a rule with latency spikes)."""
        with self._lock:
            rules = [r for r in self._rules.get(system, []) if r.matches(method, path)]
            if not rules:
                return PASS
            rng = self._rng(system)
            latency = 0.0
            chosen: Decision | None = None
            for rule in rules:
                latency += rule.latency_ms / 1000
                hang, limit, error, commit = (rng.random() for _ in range(4))
                if rule.spike_rate and rng.random() < rule.spike_rate:
                    latency += rule.spike_ms / 1000
                    self._count(system, "latency_spike")
                if chosen is not None:
                    continue
                if hang < rule.hang_rate:
                    chosen = Decision("hang", rule=rule)
                elif limit < rule.rate_limit_rate:
                    chosen = Decision("rate_limit", rule=rule)
                elif error < rule.error_rate:
                    chosen = Decision("error", rule=rule)
                elif commit < rule.commit_then_fail_rate:
                    chosen = Decision("commit_then_fail", rule=rule)
            action = chosen.action if chosen else "pass"
            if action != "pass":
                self._count(system, action)
            return Decision(action, latency, chosen.rule if chosen else None)


def parse_faults(text: str, *, setting: str = SETTING) -> tuple[dict[str, list[FaultRule]], int]:
    """Parse `{"salesforce": [rule, ...], "billing": [...], "erp": [...], "seed": 7}`."""
    if not text.strip():
        return {}, 0
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{setting}: not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{setting}: expected an object keyed by system, got {text[:60]!r}")
    seed = raw.pop("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{setting}: seed must be an integer, got {seed!r}")
    rules: dict[str, list[FaultRule]] = {}
    for system, items in raw.items():
        if system not in SYSTEMS:
            raise ConfigError(f"{setting}: unknown system {system!r} (use {', '.join(SYSTEMS)})")
        try:
            rules[system] = _RULES.validate_python(items)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{setting}: {system}[{where}]: {first['msg']}") from None
    return rules, seed


def injector_from_json(text: str, *, setting: str = SETTING) -> FaultInjector:
    rules, seed = parse_faults(text, setting=setting)
    return FaultInjector(rules, seed=seed)


class FaultMiddleware:
    """ASGI middleware applying the injector's decision to each non-admin request."""

    def __init__(
        self, app: ASGIApp, *, system: str, injector: FaultInjector, error_body: ErrorBody
    ) -> None:
        self.app = app
        self.system = system
        self.injector = injector
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        decision = self.injector.decide(self.system, str(scope["method"]), path)
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        rule = decision.rule
        if decision.action == "pass" or rule is None:
            await self.app(scope, receive, send)
        elif decision.action == "hang":
            await _hang(receive)
        elif decision.action == "rate_limit":
            headers = {"Retry-After": str(rule.retry_after)}
            await self._error(send, 429, "Too many requests (injected)", headers)
        elif decision.action == "error":
            await self._error(send, rule.error_status, "Service unavailable (injected)", {})
        else:
            await self.app(scope, receive, _discard)
            if rule.commit_then_fail_mode == "drop":
                await _drop(receive, send)
            else:
                await self._error(send, 500, "Internal server error (injected, committed)", {})

    async def _error(self, send: Send, status: int, message: str, extra: dict[str, str]) -> None:
        body, headers = self.error_body(status, message)
        payload = json.dumps(body).encode()
        raw = [(b"content-type", b"application/json;charset=UTF-8")]
        raw += [(k.lower().encode(), v.encode()) for k, v in {**headers, **extra}.items()]
        raw.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _discard(message: Message) -> None:
    """The committed answer of a commit-then-fail request, which the client never sees."""


async def _hang(receive: Receive) -> None:
    """Never answer; return when the client gives up (or the server shuts down)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _drop(receive: Receive, send: Send) -> None:
    """Close the connection without a response, as if the server died after committing."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        await asyncio.sleep(0)  # let the server see the connection is gone
        return
    # Another server: start an answer it cannot finish, which makes it close the connection.
    headers = [(b"content-type", b"application/json"), (b"content-length", b"1024")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


def install_faults(
    app: FastAPI, system: str, injector: FaultInjector, error_body: ErrorBody
) -> None:
    """Add the fault middleware and the admin routes `GET|PUT|DELETE /_sandbox/faults`."""
    app.add_middleware(
        FaultMiddleware,
        system=system,
        injector=injector,
        error_body=error_body,
    )

    def current() -> dict[str, Any]:
        rules = [r.model_dump() for r in injector.rules(system)]
        injected = injector.injected(system)
        return {"system": system, "seed": injector.seed, "rules": rules, "injected": injected}

    async def get_faults() -> dict[str, Any]:
        return current()

    async def put_faults(request: Request) -> JSONResponse:
        try:
            config = FaultConfig.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return JSONResponse({"error": f"{where}: {first['msg']}"}, status_code=400)
        injector.set_rules(system, config.rules, seed=config.seed)
        return JSONResponse(current())

    async def delete_faults() -> dict[str, Any]:
        injector.clear(system)
        return current()

    app.add_api_route(f"{ADMIN_PREFIX}/faults", get_faults, methods=["GET"], tags=["sandbox"])
    app.add_api_route(f"{ADMIN_PREFIX}/faults", put_faults, methods=["PUT"], tags=["sandbox"])
    app.add_api_route(f"{ADMIN_PREFIX}/faults", delete_faults, methods=["DELETE"], tags=["sandbox"])
