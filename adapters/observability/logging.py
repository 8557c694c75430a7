"""Structured logs: one JSON object a line, the contract's id on it, no secret ever written.

`configure_logging(settings, service)` (the worker, `q2c webhook`) puts one handler on the root
logger with two filters, so they apply to every library's records:

- `ContractIdFilter` adds `contract_id` (the opportunity id of the `contract-<id>` workflow) and
  `workflow_id` to each line emitted in a contract's context: in an activity (from
  `activity.info()`), in a workflow (`workflow.info()`, or the SDK logger's extra), or while the
  webhook receiver handles an event for it (`contract_context`, a context variable);
- `RedactingFilter` rewrites the message, its arguments, exception text and extra fields:
  configured secret values (every secret-like Q2C_ setting and environment variable), values of
  secret-like keys (`authorization`, `api_key`, `token`, `secret`, `password`, ...), bearer and
  basic credentials, billing API keys, JWTs, PEM private keys, passwords in URLs, card numbers
  (13-19 digits passing the Luhn check) and IBANs (passing the mod-97 check).

`Q2C_LOG_FORMAT=text` writes the same records as plain lines (the contract id in brackets).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter
from temporalio import activity, workflow

from adapters.settings import Settings

CONTRACT_PREFIX = "contract-"
REDACTED = "[REDACTED]"

_contract: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "q2c_contract_workflow_id", default=None
)

SECRET_NAME = re.compile(
    r"(?i)(secret|password|passwd|token|api[_-]?key|private[_-]?key|encryption[_-]?key|"
    r"authorization|credential|cookie|signature|iban|account[_-]?number|routing[_-]?number|"
    r"card[_-]?number|cvc|cvv|headers)"
)
_KEYED = re.compile(
    r"(?i)\b([\w.-]*(?:secret|password|passwd|pwd|token|api[_-]?key|private[_-]?key|"
    r"authorization|credential|cookie|x-q2c-signature|stripe-signature|iban|account[_-]?number|"
    r"routing[_-]?number|card[_-]?number|cvc|cvv)[\w.-]*)"
    r"([\"']?\s*[:=]\s*)"
    r"(?:([\"'])((?:bearer|basic)\s+)?[^\"']*\3|((?:bearer|basic)\s+)?[^\s\"',;&)}\]]+)"
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    (
        re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9_]{4,}|\bwhsec_[A-Za-z0-9_]{4,}"),
        REDACTED,
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+"), REDACTED),
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
        ),
        REDACTED,
    ),
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
]
# Card numbers: 13-19 digits (spaces or dashes between), issuer digit 2-6 (Mastercard 2 and 5,
# Amex 3, Visa 4, Discover 6; not epoch milliseconds, which start with 1), Luhn-valid.
_PAN = re.compile(r"(?<![\w.])[2-6](?:[ -]?\d){12,18}(?![\w.])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")

# LogRecord's own attributes: everything else on a record is an `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    text = candidate.replace(" ", "")
    if not 15 <= len(text) <= 34:
        return False
    moved = text[4:] + text[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _pan(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[REDACTED-PAN]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _iban(match: re.Match[str]) -> str:
    return "[REDACTED-IBAN]" if iban_valid(match.group(0)) else match.group(0)


class Redactor:
    """Rewrites text so that no secret value, credential, card number or IBAN survives."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        value = _KEYED.sub(_keyed, value)
        for pattern, replacement in _PATTERNS:
            value = pattern.sub(replacement, value)
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        value = _PAN.sub(_pan, value)
        return _IBAN.sub(_iban, value)

    def value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, SecretStr):
            return REDACTED
        if depth > 5:
            return value
        if isinstance(value, dict):
            return {
                k: REDACTED
                if isinstance(k, str) and SECRET_NAME.search(k) and v
                else self.value(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v, depth + 1) for v in value)
        return value


def _keyed(match: re.Match[str]) -> str:
    name, sep, quote, quoted_scheme, scheme = match.groups()
    if quote:
        return f"{name}{sep}{quote}{quoted_scheme or ''}{REDACTED}{quote}"
    return f"{name}{sep}{scheme or ''}{REDACTED}"


def secret_values(settings: Settings | None, environ: dict[str, str] | None = None) -> list[str]:
    """Values never to log: secret-like settings and environment variables, URL passwords."""
    values: list[str] = []
    if settings is not None:
        for name in type(settings).model_fields:
            value = getattr(settings, name)
            if isinstance(value, SecretStr):
                values.append(value.get_secret_value())
            elif isinstance(value, str) and SECRET_NAME.search(name):
                values.append(value)
            if isinstance(value, str) and "://" in value:
                values.extend(_url_passwords(value))
    for name, value in (os.environ if environ is None else environ).items():
        if SECRET_NAME.search(name) and not name.endswith(("_PATH", "_FILE")):
            values.append(value)
        elif "://" in value:
            values.extend(_url_passwords(value))
    return [v for v in values if v]


def _url_passwords(url: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"://[^/\s:@]+:([^@\s/]+)@", url)]


class RedactingFilter(logging.Filter):
    """Redacts a record in place before any formatter sees it (never drops it)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is
            message = f"{record.msg} {record.args}"
        record.msg = self.redactor.text(message)
        record.args = None
        if record.exc_info:
            record.exc_text = self.redactor.text(_EXC_FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        for name, value in list(vars(record).items()):
            if name in _STANDARD:
                continue
            if SECRET_NAME.search(name) and value:
                setattr(record, name, REDACTED)
            else:
                setattr(record, name, self.redactor.value(value))
        return True


_EXC_FORMATTER = logging.Formatter()


def contract_id_of(workflow_id: str | None) -> str | None:
    if workflow_id and workflow_id.startswith(CONTRACT_PREFIX):
        return workflow_id[len(CONTRACT_PREFIX) :]
    return None


@contextlib.contextmanager
def contract_context(workflow_id: str) -> Iterator[None]:
    """Lines logged inside the block carry this contract's id (the webhook receiver's events)."""
    token = _contract.set(workflow_id)
    try:
        yield
    finally:
        _contract.reset(token)


def _current_workflow_id(record: logging.LogRecord) -> str | None:
    bound = _contract.get()
    if bound:
        return bound
    for extra in ("temporal_activity", "temporal_workflow"):
        info = getattr(record, extra, None)
        if isinstance(info, dict) and info.get("workflow_id"):
            return str(info["workflow_id"])
    if activity.in_activity():
        return activity.info().workflow_id
    if workflow.in_workflow():
        return workflow.info().workflow_id
    return None


class ContractIdFilter(logging.Filter):
    """`contract_id` and `workflow_id` on every record emitted in a contract's context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "contract_id", None):
            return True
        workflow_id = _current_workflow_id(record)
        contract_id = contract_id_of(workflow_id)
        if contract_id is not None:
            record.contract_id = contract_id
            record.workflow_id = workflow_id
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(contract)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        contract_id = getattr(record, "contract_id", None)
        record.contract = f" [{contract_id}]" if contract_id else ""
        return super().format(record)


def json_formatter(service: str) -> JsonFormatter:
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        timestamp="time",  # ISO 8601 in UTC, e.g. 2026-11-27T18:59:31.328000+00:00
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"service": service},
        # `contract` is the text formatter's; `color_message` is uvicorn's duplicate message;
        # `temporal_log` the core SDK's record, whose fields are already in the message.
        reserved_attrs=[*sorted(_STANDARD), "contract", "color_message", "temporal_log"],
    )


_HANDLER_NAME = "q2c"


def configure_logging(
    settings: Settings,
    service: str,
    *,
    log_format: str | None = None,
    level: int = logging.INFO,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """One handler on the root logger (replacing an earlier one of ours), JSON or text."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    fmt = log_format or settings.log_format
    handler.setFormatter(json_formatter(service) if fmt == "json" else TextFormatter())
    install_filters(handler, settings)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Every vendor call would be a line; their failures surface through the activities.
    for noisy in ("httpx", "httpcore", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def install_filters(handler: logging.Handler, settings: Settings | None) -> None:
    """The contract-id and redaction filters, on a handler (applies to every logger's records)."""
    handler.addFilter(ContractIdFilter())
    handler.addFilter(RedactingFilter(Redactor(secret_values(settings))))
