"""The terms in force: which units of which line are delivered on which days, at what price.

A `Terms` snapshot is the contract as it stands after some amendments, valid from the last
amendment's effective date on. Each subscription or one-time line holds *blocks* of units, one
per performance obligation: the line's own units (obligation id = line id) and the units or days
a separate-contract amendment adds (`<line_id>@<amendment_id>`). A block is a list of pieces
(first day, last day, quantity), so units added mid-term and days added to the term are exact.

`apply_amendment` checks an amendment against the terms in force (refusing it with the field
path when it is invalid input), classifies it (ASC 606-10-25-10 to 13: separate contract,
prospective, cancellation, or no revenue effect) and returns the new snapshot.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from domain.errors import InputError
from domain.models import Amendment, Contract, ContractLine

__all__ = [
    "Block",
    "LineTerms",
    "Modification",
    "Piece",
    "Terms",
    "apply_amendment",
    "initial_terms",
]

ModificationKind = Literal["separate", "prospective", "cancellation", "none"]

SEPARATE_PRICE_FLOOR = Decimal("0.85")
ZERO = Decimal(0)


@dataclass(slots=True)
class Piece:
    """`qty` units delivered every day from `first` to `last` (proleptic ordinals, inclusive)."""

    first: int
    last: int
    qty: Decimal


@dataclass(slots=True)
class Block:
    """The units of one performance obligation on one line."""

    obligation_id: str
    pieces: list[Piece] = field(default_factory=list)

    def qty_at(self, day: int) -> Decimal:
        for p in self.pieces:
            if p.first <= day <= p.last:
                return p.qty
        return ZERO

    @property
    def first(self) -> int | None:
        return self.pieces[0].first if self.pieces else None

    @property
    def last(self) -> int | None:
        return self.pieces[-1].last if self.pieces else None

    def copy(self) -> Block:
        return Block(self.obligation_id, [Piece(p.first, p.last, p.qty) for p in self.pieces])

    def add(self, first: int, last: int, delta: Decimal) -> None:
        """Add `delta` units on every day of [first, last] (filling days without a piece)."""
        out: list[Piece] = []
        cursor = first
        for p in self.pieces:
            if p.last < first or p.first > last:
                out.append(p)
                continue
            if p.first < first:
                out.append(Piece(p.first, first - 1, p.qty))
            lo, hi = max(p.first, first), min(p.last, last)
            if cursor < lo:
                out.append(Piece(cursor, lo - 1, delta))
            out.append(Piece(lo, hi, p.qty + delta))
            cursor = hi + 1
            if p.last > last:
                out.append(Piece(last + 1, p.last, p.qty))
        if cursor <= last:
            out.append(Piece(cursor, last, delta))
        self.pieces = _normalise(out)

    def clip(self, last: int) -> None:
        """Stop delivering after day `last`."""
        out = []
        for p in self.pieces:
            if p.first > last:
                continue
            out.append(Piece(p.first, min(p.last, last), p.qty))
        self.pieces = out

    def extend(self, old_last: int, new_last: int) -> None:
        """Continue the piece that ends on `old_last` until `new_last`."""
        if self.pieces and self.pieces[-1].last == old_last:
            self.pieces[-1] = Piece(self.pieces[-1].first, new_last, self.pieces[-1].qty)


def _normalise(pieces: list[Piece]) -> list[Piece]:
    pieces = sorted((p for p in pieces if p.qty != 0), key=lambda p: p.first)
    out: list[Piece] = []
    for p in pieces:
        if out and out[-1].last + 1 == p.first and out[-1].qty == p.qty:
            out[-1] = Piece(out[-1].first, p.last, p.qty)
        else:
            out.append(p)
    return out


@dataclass(slots=True)
class LineTerms:
    """One contract line as it stands: price, SSP, allowance, dates and its blocks of units."""

    id: str
    kind: Literal["subscription", "one_time", "usage"]
    product_code: str
    description: str | None
    price: Decimal
    ssp: Decimal | None
    included: Decimal
    first: int
    last: int
    follows_term: bool
    blocks: list[Block]
    removed: bool = False
    added_by: str | None = None

    @property
    def effective_ssp(self) -> Decimal:
        """The SSP, or the current unit price when the line has none."""
        return self.price if self.ssp is None else self.ssp

    def qty_at(self, day: int) -> Decimal:
        return sum((b.qty_at(day) for b in self.blocks), ZERO)

    def copy(self) -> LineTerms:
        return LineTerms(
            self.id,
            self.kind,
            self.product_code,
            self.description,
            self.price,
            self.ssp,
            self.included,
            self.first,
            self.last,
            self.follows_term,
            [b.copy() for b in self.blocks],
            self.removed,
            self.added_by,
        )

    def clip(self, last: int) -> None:
        """End the line after day `last` (a one-time line not yet delivered disappears)."""
        self.last = min(self.last, last)
        for b in self.blocks:
            b.clip(last)


@dataclass(slots=True)
class Terms:
    """The contract as it stands: term [first, last], cancellation, and lines by id."""

    first: int
    last: int
    lines: dict[str, LineTerms]
    cancelled_on: int | None = None

    def copy(self) -> Terms:
        return Terms(
            self.first,
            self.last,
            {k: v.copy() for k, v in self.lines.items()},
            self.cancelled_on,
        )

    def blocks(self) -> list[tuple[LineTerms, Block]]:
        """Every (line, block) of subscription and one-time lines, in creation order."""
        return [
            (line, block)
            for line in self.lines.values()
            if line.kind != "usage"
            for block in line.blocks
        ]


@dataclass(frozen=True, slots=True)
class Modification:
    """How an amendment changed the terms, for billing and revenue."""

    kind: ModificationKind
    new_obligations: tuple[str, ...]
    changed: bool


def _line_terms(line: ContractLine, first: int, last: int, follows: bool, obl: str) -> LineTerms:
    qty = line.quantity if line.quantity is not None else ZERO
    blocks: list[Block] = []
    if line.kind == "subscription":
        blocks = [Block(obl, _normalise([Piece(first, last, qty)]))]
    elif line.kind == "one_time":
        last = first
        follows = False
        blocks = [Block(obl, _normalise([Piece(first, first, qty)]))]
    return LineTerms(
        id=line.id,
        kind=line.kind,
        product_code=line.product_code,
        description=line.description,
        price=line.unit_price,
        ssp=line.ssp,
        included=line.included,
        first=first,
        last=last,
        follows_term=follows,
        blocks=blocks,
    )


def initial_terms(contract: Contract) -> Terms:
    """The terms at booking (the contract must have passed `check_contract`)."""
    start = contract.start_date.toordinal()
    end = contract.end_date.toordinal()
    lines: dict[str, LineTerms] = {}
    for line in contract.lines:
        first = line.start_date.toordinal() if line.start_date else start
        last = line.end_date.toordinal() if line.end_date else end
        lines[line.id] = _line_terms(line, first, last, line.end_date is None, line.id)
    return Terms(start, end, lines)


def _d(ordinal: int) -> date:
    return date.fromordinal(ordinal)


def _check_effective(terms: Terms, amendment: Amendment, path: str) -> int:
    eff = amendment.effective_date.toordinal()
    if terms.cancelled_on is not None and eff >= terms.cancelled_on:
        raise InputError(
            f"{path}.effective_date: {amendment.effective_date} is on or after the cancellation "
            f"effective {_d(terms.cancelled_on)}"
        )
    if not terms.first <= eff <= terms.last:
        raise InputError(
            f"{path}.effective_date: {amendment.effective_date} is outside the term "
            f"{_d(terms.first)}..{_d(terms.last)}"
        )
    if amendment.received.toordinal() > terms.last:
        raise InputError(
            f"{path}.received_on: {amendment.received} is after the term ended on "
            f"{_d(terms.last)}; an ended contract is not amended"
        )
    return eff


def _existing_line(terms: Terms, line_id: str, eff: int, path: str) -> LineTerms:
    line = terms.lines.get(line_id)
    if line is None:
        raise InputError(f"{path}: unknown line {line_id!r}")
    if line.removed:
        raise InputError(f"{path}: line {line_id!r} was already removed")
    if line.kind == "one_time":
        if line.first < eff:
            raise InputError(f"{path}: one-time line {line_id!r} was delivered on {_d(line.first)}")
    elif line.last < eff:
        raise InputError(f"{path}: line {line_id!r} ended on {_d(line.last)}")
    return line


def apply_amendment(terms: Terms, amendment: Amendment, path: str) -> tuple[Terms, Modification]:
    """Check `amendment` against `terms`, classify it, and return the terms it leads to.

    The input snapshot is never modified. An amendment that changes nothing (or only restates an
    SSP) returns the same snapshot with `changed=False`.
    """
    eff = _check_effective(terms, amendment, path)
    amd = amendment.id
    if amendment.cancel:
        new = terms.copy()
        new.last = eff - 1
        new.cancelled_on = eff
        for line in new.lines.values():
            line.clip(eff - 1)
        return new, Modification("cancellation", (), True)

    old_end = terms.last
    new_end = amendment.end_date.toordinal() if amendment.end_date else old_end

    # What the amendment does, before doing it: ASC 606 classification.
    added_prices_ok: list[bool] = []
    structural_add = False
    reduction = new_end < old_end
    price_change = False
    other_change = False
    restated_ssp: dict[str, Decimal] = {}
    changes = []
    for j, change in enumerate(amendment.changes):
        cpath = f"{path}.changes[{j}]"
        line = _existing_line(terms, change.line_id, eff, f"{cpath}.line_id")
        changes.append((line, change, cpath))
        if change.ssp is not None:
            restated_ssp[line.id] = change.ssp
        if line.kind == "usage":
            if change.quantity is not None:
                raise InputError(f"{cpath}.quantity: a usage line has no quantity")
            if change.unit_price is not None and change.unit_price != line.price:
                other_change = True
            if change.included is not None and change.included != line.included:
                other_change = True
            continue
        if change.unit_price is not None and change.unit_price != line.price:
            price_change = True
        if change.quantity is not None:
            now = line.qty_at(max(eff, line.first))
            if change.quantity > now:
                structural_add = True
                ssp = change.ssp if change.ssp is not None else line.effective_ssp
                added_prices_ok.append(line.price >= SEPARATE_PRICE_FLOOR * ssp)
            elif change.quantity < now:
                reduction = True
    removals = []
    for j, line_id in enumerate(amendment.remove_lines):
        line = _existing_line(terms, line_id, eff, f"{path}.remove_lines[{j}]")
        removals.append(line)
        if line.kind == "usage":
            other_change = True
        else:
            reduction = True
    for j, added in enumerate(amendment.add_lines):
        apath = f"{path}.add_lines[{j}]"
        if added.id in terms.lines:
            raise InputError(f"{apath}.id: line {added.id!r} already exists")
        first = added.start_date.toordinal() if added.start_date else eff
        if first < eff:
            raise InputError(
                f"{apath}.start_date: {added.start_date} is before the effective date "
                f"{amendment.effective_date}"
            )
        if first > new_end:
            raise InputError(
                f"{apath}.start_date: {_d(first)} is after the end of the term {_d(new_end)}"
            )
        if added.end_date is not None and added.kind != "one_time":
            if added.end_date.toordinal() < first:
                raise InputError(f"{apath}.end_date: {added.end_date} is before its start")
            if added.end_date.toordinal() > new_end:
                raise InputError(
                    f"{apath}.end_date: {added.end_date} is after the end of the term {_d(new_end)}"
                )
        if added.kind == "usage":
            other_change = True
        else:
            structural_add = True
            if added.quantity:
                ssp = added.ssp if added.ssp is not None else added.unit_price
                added_prices_ok.append(added.unit_price >= SEPARATE_PRICE_FLOOR * ssp)
    if new_end != old_end:
        other_change = True  # the term itself changes, whatever it does to revenue
    if new_end > old_end:
        for line in terms.lines.values():
            if line.removed or not line.follows_term or line.last != old_end:
                continue
            if line.kind == "usage":
                other_change = True
            elif line.kind == "subscription" and line.qty_at(old_end) > 0:
                structural_add = True
                ssp = restated_ssp.get(line.id, line.effective_ssp)
                added_prices_ok.append(line.price >= SEPARATE_PRICE_FLOOR * ssp)

    kind: ModificationKind
    if reduction or price_change:
        kind = "prospective"
    elif structural_add:
        kind = "separate" if all(added_prices_ok) else "prospective"
    else:
        kind = "none"
    if kind == "none" and not other_change:
        return terms, Modification("none", (), False)

    separate = kind == "separate"
    new = terms.copy()
    created: list[str] = []

    def separate_block(line: LineTerms) -> Block:
        oid = f"{line.id}@{amd}"
        for b in line.blocks:
            if b.obligation_id == oid:
                return b
        block = Block(oid)
        line.blocks.append(block)
        created.append(oid)
        return block

    # 1. The term's end.
    if new_end > old_end:
        for line in new.lines.values():
            if line.removed or not line.follows_term or line.last != old_end:
                continue
            if line.kind == "subscription":
                if separate:
                    qty = line.qty_at(old_end)
                    if qty > 0:
                        separate_block(line).add(old_end + 1, new_end, qty)
                else:
                    for b in line.blocks:
                        b.extend(old_end, new_end)
            line.last = new_end
    elif new_end < old_end:
        for line in new.lines.values():
            line.clip(new_end)
    new.last = new_end

    # 2. Changes to existing lines.
    for old_line, change, _cpath in changes:
        line = new.lines[old_line.id]
        if change.ssp is not None:
            line.ssp = change.ssp
        if change.included is not None and line.kind == "usage":
            line.included = change.included
        if change.unit_price is not None:
            line.price = change.unit_price
        if change.quantity is not None and line.kind != "usage":
            _set_quantity(line, change.quantity, eff, separate_block if separate else None)

    # 3. Removals.
    for old_line in removals:
        line = new.lines[old_line.id]
        line.removed = True
        line.clip(eff - 1)

    # 4. New lines.
    for added in amendment.add_lines:
        first = added.start_date.toordinal() if added.start_date else eff
        last = added.end_date.toordinal() if added.end_date else new_end
        oid = f"{added.id}@{amd}" if separate else added.id
        line = _line_terms(added, first, last, added.end_date is None, oid)
        line.added_by = amd
        new.lines[added.id] = line
        if line.kind != "usage":
            created.append(oid)

    return new, Modification(kind, tuple(created), True)


def _set_quantity(
    line: LineTerms,
    qty: Decimal,
    eff: int,
    separate_block: Callable[[LineTerms], Block] | None,
) -> None:
    """Make the line deliver `qty` units on every remaining day from the effective date.

    Added units go to the amendment's own block (separate contract) or to the line's block in
    service (prospective); removed units come off the most recently added blocks first.
    """
    first = max(eff, line.first)
    last = line.last
    if first > last:
        return
    points = {first, last + 1}
    for b in line.blocks:
        for p in b.pieces:
            if first < p.first <= last:
                points.add(p.first)
            if first <= p.last < last:
                points.add(p.last + 1)
    bounds = sorted(points)
    for a, nxt in itertools.pairwise(bounds):
        b_last = nxt - 1
        delta = qty - line.qty_at(a)
        if delta > 0:
            if separate_block is not None:
                target: Block = separate_block(line)
            else:
                target = _growth_block(line, first)
            target.add(a, b_last, delta)
        elif delta < 0:
            left = -delta
            for b in reversed(line.blocks):
                have = b.qty_at(a)
                take = min(have, left)
                if take:
                    b.add(a, b_last, -take)
                    left -= take
                if not left:
                    break


def _growth_block(line: LineTerms, day: int) -> Block:
    """Where a prospective increase goes: the earliest block in service that day."""
    for b in line.blocks:
        if b.qty_at(day) > 0:
            return b
    if line.blocks:
        return line.blocks[0]
    block = Block(line.id)
    line.blocks.append(block)
    return block
