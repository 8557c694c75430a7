"""Checks that need more than one field: they raise `InputError` naming the field path.

Type and range errors come from pydantic and are translated by `domain.inputs`; these are the
rules of DESIGN.md §5 "Refused as invalid input" that can be checked without running the
schedule. Checks that depend on the term in force at an amendment live in `domain.terms`.
"""

from __future__ import annotations

from datetime import date, timedelta

from domain.errors import InputError
from domain.models import Amendment, Contract, ContractLine

# Dates the engine's calendar arithmetic handles with room to spare (periods, proration and
# months run past a term's end; year 9999 + a month is an overflow), and the longest term:
# longer contracts are typing errors, and would bill and recognize for millennia.
EARLIEST = date(1900, 1, 1)
LATEST = date(9000, 12, 31)
MAX_TERM_YEARS = 100

__all__ = ["check_amendment", "check_contract", "check_day", "check_line_fields"]


def check_line_fields(line: ContractLine, path: str) -> None:
    """A subscription or one-time line needs a quantity."""
    if line.kind in ("subscription", "one_time") and line.quantity is None:
        raise InputError(f"{path}.quantity: is required for a {line.kind} line")


def check_contract(contract: Contract, path: str = "contract") -> None:
    """The term runs forwards, line ids are unique, and each line lies inside the term."""
    check_day(contract.start_date, f"{path}.start_date")
    if contract.end_date < contract.start_date:
        raise InputError(
            f"{path}.end_date: {contract.end_date} is before the start date {contract.start_date}"
        )
    if contract.end_date - contract.start_date > timedelta(days=MAX_TERM_YEARS * 366):
        raise InputError(
            f"{path}.end_date: a term of more than {MAX_TERM_YEARS} years "
            f"({contract.start_date}..{contract.end_date})"
        )
    seen: set[str] = set()
    for i, line in enumerate(contract.lines):
        lpath = f"{path}.lines[{i}]"
        if line.id in seen:
            raise InputError(f"{lpath}.id: duplicate line id {line.id!r}")
        seen.add(line.id)
        check_line_fields(line, lpath)
        start = line.start_date or contract.start_date
        if not contract.start_date <= start <= contract.end_date:
            raise InputError(
                f"{lpath}.start_date: {start} is outside the term "
                f"{contract.start_date}..{contract.end_date}"
            )
        if line.end_date is not None and line.kind != "one_time":
            if line.end_date < start:
                raise InputError(f"{lpath}.end_date: {line.end_date} is before its start {start}")
            if line.end_date > contract.end_date:
                raise InputError(
                    f"{lpath}.end_date: {line.end_date} is after the contract's end "
                    f"{contract.end_date}"
                )


def check_day(day: date, path: str) -> None:
    """A date the engine can compute with (see EARLIEST and LATEST)."""
    if not EARLIEST <= day <= LATEST:
        raise InputError(f"{path}: {day} is outside {EARLIEST}..{LATEST}")


def check_amendment(amendment: Amendment, path: str) -> None:
    """Rules of one amendment on its own: dates in order, no contradictions within it."""
    check_day(amendment.effective_date, f"{path}.effective_date")
    for field, day in (("received_on", amendment.received_on), ("end_date", amendment.end_date)):
        if day is not None:
            check_day(day, f"{path}.{field}")
    if amendment.received_on is not None and amendment.received_on < amendment.effective_date:
        raise InputError(
            f"{path}.received_on: {amendment.received_on} is before the effective date "
            f"{amendment.effective_date}"
        )
    if amendment.cancel and (
        amendment.changes
        or amendment.add_lines
        or amendment.remove_lines
        or amendment.end_date is not None
    ):
        raise InputError(f"{path}.cancel: a cancellation cannot be combined with other changes")
    if amendment.end_date is not None and amendment.end_date < amendment.effective_date:
        raise InputError(
            f"{path}.end_date: {amendment.end_date} is before the effective date "
            f"{amendment.effective_date}"
        )
    changed: set[str] = set()
    for j, change in enumerate(amendment.changes):
        if change.line_id in changed:
            raise InputError(
                f"{path}.changes[{j}].line_id: line {change.line_id!r} is changed twice"
            )
        changed.add(change.line_id)
    removed: set[str] = set()
    for j, line_id in enumerate(amendment.remove_lines):
        if line_id in changed:
            raise InputError(
                f"{path}.remove_lines[{j}]: line {line_id!r} is both changed and removed"
            )
        if line_id in removed:
            raise InputError(f"{path}.remove_lines[{j}]: line {line_id!r} is removed twice")
        removed.add(line_id)
    added: set[str] = set()
    for j, line in enumerate(amendment.add_lines):
        lpath = f"{path}.add_lines[{j}]"
        if line.id in added:
            raise InputError(f"{lpath}.id: duplicate line id {line.id!r}")
        added.add(line.id)
        check_line_fields(line, lpath)
