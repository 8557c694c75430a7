"""Reading scenarios: JSON text → validated `Scenario`, every problem named by its field path.

Pydantic's errors become one `InputError` line such as
`contract.lines[1].quantity: must be ≥ 0`, so the CLI can print it and exit 2 without a
traceback. No file access here: callers pass the text.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from domain.errors import InputError
from domain.models import Scenario
from domain.validation import check_contract

__all__ = ["field_path", "input_error", "load_scenario", "parse_scenario"]


def field_path(loc: tuple[int | str, ...]) -> str:
    """('contract', 'lines', 1, 'quantity') → 'contract.lines[1].quantity'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "scenario"


def _message(error: Any) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx.get('ge')}"
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx.get('le')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind in ("decimal_parsing", "decimal_type", "finite_number"):
        return 'must be a finite number (e.g. "1200.00")'
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"must be a date YYYY-MM-DD (got {error.get('input')!r})"
    if kind == "too_short":
        return "must not be empty"
    message = str(error.get("msg", "is invalid"))
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return message[:1].lower() + message[1:]


def input_error(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> InputError:
    """One InputError for a pydantic ValidationError, naming each field path and problem."""
    parts = []
    errors = exc.errors()
    for error in errors[:5]:
        loc = prefix + tuple(p for p in error.get("loc", ()) if not _is_tag(p))
        parts.append(f"{field_path(loc)}: {_message(error)}")
    if len(errors) > 5:
        parts.append(f"(and {len(errors) - 5} more)")
    return InputError("; ".join(parts))


def _is_tag(part: int | str) -> bool:
    # pydantic inserts union member names like 'decimal' or 'function-after[...]' in locs
    return isinstance(part, str) and ("[" in part or part in {"decimal", "str", "int"})


def parse_scenario(data: object) -> Scenario:
    """Validate parsed JSON as a scenario (types, ranges, then the contract's own rules)."""
    if not isinstance(data, dict):
        raise InputError("scenario: must be a JSON object")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc) from None
    check_contract(scenario.contract)
    return scenario


def load_scenario(text: str | bytes, source: str = "scenario") -> Scenario:
    """Parse scenario JSON text; numbers are read as Decimal, never float."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason})") from None
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply to be a scenario") from None
    except ValueError:  # an integer of more digits than Python converts (4300)
        raise InputError(f"{source}: a number has too many digits") from None
    return parse_scenario(data)
