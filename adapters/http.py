"""What every vendor adapter shares: one pooled `httpx.AsyncClient`, an OAuth 2.0
client-credentials token cache, and the one mapping of HTTP failures to q2c's typed errors.

The mapping is the contract activities rely on (see `adapters.errors`): timeouts, connection
errors, 5xx and 429 are `TransientError` (with the server's `Retry-After`, seconds or HTTP
date), so Temporal retries them; a refusal (4xx) is a `BusinessError` carrying the vendor's own
code and message, `NotFoundError` for 404. A 401 invalidates the cached token and the request is
sent once more with a fresh one; a second 401 is a `BusinessError` (credentials are wrong, and
retrying will not fix them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from adapters.errors import BusinessError, NotFoundError, TransientError
from adapters.settings import Settings

USER_AGENT = "q2c/0.1 (+quote-to-cash orchestrator)"
TOKEN_EXPIRY_MARGIN_SECONDS = 60.0


def make_http_client(settings: Settings, *, timeout: float | None = None) -> httpx.AsyncClient:
    """The pooled client every adapter of one worker shares (connections are kept alive).

    One total timeout per request phase from `Q2C_HTTP_TIMEOUT_SECONDS`; connecting gets at most
    5 s so an unreachable vendor fails fast as a transient error.
    """
    seconds = timeout if timeout is not None else settings.http_timeout_seconds
    return httpx.AsyncClient(
        timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP date; None when absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class VendorFault:
    """A vendor's error body reduced to what activities need."""

    code: str | None
    message: str


ErrorParser = Callable[[httpx.Response], VendorFault]


def transport_error(system: str, method: str, url: str, exc: httpx.HTTPError) -> TransientError:
    """A request that got no usable answer: it may or may not have been applied."""
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
    detail = str(exc) or type(exc).__name__
    return TransientError(system, f"{method} {url}: {detail}", code=kind)


def status_error(
    system: str,
    response: httpx.Response,
    parse: ErrorParser,
    *,
    transient_codes: frozenset[str] = frozenset(),
) -> TransientError | BusinessError:
    """Map a non-2xx answer to a typed error, with the vendor's code and message."""
    fault = parse(response)
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path}"
    message = f"{fault.message} ({status} on {where})"
    if status == 429 or status >= 500 or status == 408 or fault.code in transient_codes:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        code = fault.code or f"http_{status}"
        return TransientError(system, message, code=code, retry_after=retry_after)
    if status == 404:
        return NotFoundError(system, message, code=fault.code or "NOT_FOUND")
    return BusinessError(system, message, code=fault.code or f"http_{status}")


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def read_json(system: str, response: httpx.Response) -> Any:
    """A success answer's JSON, numbers as `Decimal` (money never becomes a float)."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise TransientError(system, f"answer is not JSON: {exc}", code="bad_json") from exc


def to_wire(system: str, value: Any, *, drop_none: bool = False) -> Any:
    """A body for the wire: Decimal as a JSON number (only when exact), dates as ISO strings.

    Vendors take amounts as JSON numbers; a Decimal whose float prints back differently (more
    than ~15 significant digits) is refused rather than silently rounded.
    """
    if isinstance(value, Mapping):
        items = value.items()
        return {
            k: to_wire(system, v, drop_none=drop_none)
            for k, v in items
            if not (drop_none and v is None)
        }
    if isinstance(value, list | tuple):
        return [to_wire(system, v, drop_none=drop_none) for v in value]
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        if Decimal(repr(number)) != value:
            raise BusinessError(system, f"{value} cannot be sent exactly", code="PRECISION")
        return number
    if isinstance(value, date):
        return value.isoformat()
    return value


_M = TypeVar("_M", bound=BaseModel)


def parse_record(system: str, model: type[_M], data: Any, what: str) -> _M:
    """A record that does not fit the model is a data problem for a person, not a retry."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = f"{what}: {where}: {first['msg']}"
        raise BusinessError(system, message, code="INVALID_RECORD") from None


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic(); inf when the server gave no lifetime


class TokenCache:
    """OAuth 2.0 client-credentials token, fetched once and shared by concurrent requests.

    The grant form is client id and secret unless `grant` builds another (a signed client
    assertion, say), fresh for every token request.

    The lock makes concurrent callers wait for one token request instead of each fetching its
    own. `invalidate(token)` only drops the token it was given, so when many requests see the
    same expired token at once, exactly one new token is fetched.
    """

    def __init__(
        self,
        system: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        parse_error: ErrorParser,
        *,
        grant: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.system = system
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._parse_error = parse_error
        self._grant = grant
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were requested (observability, tests)

    async def get(self, http: httpx.AsyncClient) -> str:
        async with self._lock:
            token = self._token
            if token is None or time.monotonic() >= token.expires_at:
                token = self._token = await self._fetch(http)
            return token.value

    async def invalidate(self, value: str) -> None:
        async with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    async def _fetch(self, http: httpx.AsyncClient) -> _Token:
        form = (
            self._grant()
            if self._grant
            else {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
        )
        self.fetches += 1
        try:
            response = await http.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise transport_error(self.system, "POST", self.token_url, exc) from exc
        if response.status_code != 200:
            raise status_error(self.system, response, _oauth_error(self._parse_error))
        body = json_or_none(response)
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise TransientError(self.system, "token answer without access_token", code="token")
        lifetime = body.get("expires_in")
        expires_at = float("inf")
        if isinstance(lifetime, int | float | str) and str(lifetime).strip():
            try:
                seconds = float(lifetime)
            except ValueError:
                seconds = float("inf")
            margin = min(TOKEN_EXPIRY_MARGIN_SECONDS, seconds / 10)
            expires_at = time.monotonic() + seconds - margin
        return _Token(body["access_token"], expires_at)


def _oauth_error(fallback: ErrorParser) -> ErrorParser:
    """Token endpoints answer RFC 6749 errors (`error`, `error_description`)."""

    def parse(response: httpx.Response) -> VendorFault:
        body = json_or_none(response)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return VendorFault(body["error"], str(body.get("error_description") or body["error"]))
        return fallback(response)

    return parse


class VendorApi:
    """Authenticated requests to one vendor with the shared error mapping; adapters build on it.

    `http` is the pooled client (shared, not closed here unless this object created it).
    """

    system: str

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        tokens: TokenCache,
        parse_error: ErrorParser,
        http: httpx.AsyncClient | None,
        settings: Settings,
        transient_codes: frozenset[str] = frozenset(),
        auth_retry_codes: frozenset[str] | None = None,
    ) -> None:
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self._parse_error = parse_error
        self._own_http = http is None
        self.http = http if http is not None else make_http_client(settings)
        self._transient_codes = transient_codes
        self._auth_retry_codes = auth_retry_codes

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send with a bearer token; one fresh token on 401; 2xx (or `ok` statuses) returned.

        Every other outcome raises `TransientError` or `BusinessError` (see module doc).
        """
        url = self.url(path)
        for attempt in (1, 2):
            token = await self.tokens.get(self.http)
            all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
            try:
                response = await self.http.request(
                    method, url, json=json, params=params, headers=all_headers
                )
            except httpx.HTTPError as exc:
                raise transport_error(self.system, method, url, exc) from exc
            if response.status_code == 401 and attempt == 1 and self._expired(response):
                await self.tokens.invalidate(token)
                continue
            if response.is_success or response.status_code in ok:
                return response
            raise status_error(
                self.system, response, self._parse_error, transient_codes=self._transient_codes
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _expired(self, response: httpx.Response) -> bool:
        if self._auth_retry_codes is None:
            return True
        return self._parse_error(response).code in self._auth_retry_codes
