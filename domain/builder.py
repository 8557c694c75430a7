"""The engine room of `build_schedule`: the business days of one contract, in order.

On each day the amendments received that day apply first (arrival order), then the usage of the
period that ended the day before is invoiced, then the period that starts that day (DESIGN.md
§5). Billing math lives in `domain.billing`, the terms in force in `domain.terms`, recognition
in `domain.revenue`; this module orders them and does the modification accounting: booking
allocation, separate contracts, prospective reallocation, cancellation true-ups and refusals.
Amounts are integer minor units, dates proleptic ordinals.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from domain.billing import (
    Charge,
    block_billing_from,
    block_fee,
    full_period_fee,
    one_time_fee,
    ssp_weight,
    usage_amount,
)
from domain.calendar import FREQUENCY_MONTHS, PeriodGrid
from domain.errors import InputError
from domain.models import Amendment, Contract, UsageRecord
from domain.money import allocate_ratios, currency_exponent, format_minor
from domain.revenue import Obligation, Treatment
from domain.terms import Block, LineTerms, Terms, apply_amendment, initial_terms
from domain.validation import check_amendment

__all__ = [
    "NEGATIVE_REMAINING_CONSIDERATION",
    "AppliedAmendment",
    "Attention",
    "Doc",
    "ScheduleBuilder",
    "order_amendments",
]

NEGATIVE_REMAINING_CONSIDERATION = "negative_remaining_consideration"

RANK_USAGE, RANK_AMENDMENT, RANK_PERIOD, RANK_ONE_TIME = 0, 1, 2, 3


def _d(ordinal: int) -> date:
    return date.fromordinal(ordinal)


@dataclass(slots=True)
class Doc:
    """A billing document inside the engine (amounts in minor units, dates as ordinals)."""

    source: Literal["period", "usage", "amendment", "one_time"]
    day: int
    available_on: int
    first: int
    last: int
    charges: list[Charge]
    total: int
    rank: int
    seq: int
    amendment_id: str | None = None

    @property
    def kind(self) -> Literal["invoice", "credit_note"]:
        return "invoice" if self.total > 0 else "credit_note"

    @property
    def key(self) -> str:
        """The document's deterministic key: `invoice:2026-03-15` (a period's invoice),
        `usage:2026-02-15`, `one_time:2026-05-20`, `amendment:AMD-1`."""
        if self.source == "amendment":
            return f"amendment:{self.amendment_id}"
        prefix = "invoice" if self.source == "period" else self.source
        return f"{prefix}:{date.fromordinal(self.day).isoformat()}"

    @property
    def non_usage_total(self) -> int:
        return sum(c.amount for c in self.charges if c.kind != "usage")


@dataclass(frozen=True, slots=True)
class Attention:
    """An amendment the schedule could not apply; the contract parks for an operator."""

    amendment_id: str
    effective_date: date
    received_on: date
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class AppliedAmendment:
    """How one amendment was treated (`refused` when it parked the contract)."""

    amendment_id: str
    effective_date: date
    received_on: date
    kind: Literal["separate", "prospective", "cancellation", "none", "refused"]


def order_amendments(amendments: Sequence[Amendment]) -> list[tuple[int, Amendment]]:
    seen: dict[str, int] = {}
    for i, a in enumerate(amendments):
        check_amendment(a, f"amendments[{i}]")
        if a.id in seen:
            raise InputError(
                f"amendments[{i}].id: duplicate amendment id {a.id!r} "
                f"(also amendments[{seen[a.id]}])"
            )
        seen[a.id] = i
    ordered = sorted(
        enumerate(amendments), key=lambda ia: (ia[1].effective_date, ia[1].received, ia[0])
    )
    for (_, prev), (i, cur) in itertools.pairwise(ordered):
        if cur.received < prev.received:
            raise InputError(
                f"amendments[{i}].received_on: {cur.id} takes effect on {cur.effective_date}, "
                f"after {prev.id} ({prev.effective_date}), but was received before it; "
                "amendments must arrive in the order they take effect"
            )
    return ordered


class ScheduleBuilder:
    """Runs the business days of one contract and collects what they bill and recognize.

    Use `domain.schedule.build_schedule`; this class is its engine room.
    """

    def __init__(self, contract: Contract, usage: Sequence[UsageRecord]) -> None:
        self.contract = contract
        self.exp = currency_exponent(contract.currency)
        self.grid = PeriodGrid(contract.start_date, FREQUENCY_MONTHS[contract.billing_frequency])
        self.terms = initial_terms(contract)
        self.blocks = self.terms.blocks()
        self.one_time_dirty = True
        self.one_time_next: int | None = None
        # the whole-period fee of each single-piece block under the current terms
        self.full_fees: dict[str, int] = {}
        self.history: list[tuple[int, Terms]] = [(self.terms.first, self.terms)]
        self.docs: list[Doc] = []
        self.seq = 0
        self.billed_periods: list[int] = []
        self.next_period = 0
        self.one_time_billed: set[str] = set()
        self.billed_non_usage = 0
        self.obligations: dict[str, Obligation] = {}
        self.usage_revenue: list[tuple[int, int]] = []
        self.attention: list[Attention] = []
        self.applied: list[AppliedAmendment] = []
        self.cancellation: tuple[int, int] | None = None
        self.usage = usage
        self.usage_by_period: dict[int, list[tuple[int, int, UsageRecord]]] = {}

    # -- usage records -------------------------------------------------------------------------

    def group_usage(self, amendments: Sequence[Amendment]) -> None:
        kinds = {line.id: line.kind for line in self.contract.lines}
        for a in amendments:
            for line in a.add_lines:
                kinds.setdefault(line.id, line.kind)
        first = self.terms.first
        for i, rec in enumerate(self.usage):
            kind = kinds.get(rec.line_id)
            if kind is None:
                raise InputError(f"usage[{i}].line_id: unknown line {rec.line_id!r}")
            if kind != "usage":
                raise InputError(f"usage[{i}].line_id: line {rec.line_id!r} is not a usage line")
            day = rec.date.toordinal()
            if day < first:
                raise InputError(
                    f"usage[{i}].date: {rec.date} is before the start of the term "
                    f"{self.contract.start_date}"
                )
            j = self.grid.index_of(day)
            self.usage_by_period.setdefault(j, []).append((day, i, rec))

    def check_usage(self) -> None:
        terms = self.terms
        for i, rec in enumerate(self.usage):
            day = rec.date.toordinal()
            if day > terms.last:
                raise InputError(
                    f"usage[{i}].date: {rec.date} is outside the term "
                    f"{_d(terms.first)}..{_d(terms.last)}"
                )
            line = terms.lines.get(rec.line_id)
            if line is None or not line.first <= day <= line.last:
                raise InputError(
                    f"usage[{i}].date: line {rec.line_id!r} is not in service on {rec.date}"
                )

    # -- documents -----------------------------------------------------------------------------

    def add_doc(
        self,
        source: Literal["period", "usage", "amendment", "one_time"],
        day: int,
        available_on: int,
        first: int,
        last: int,
        charges: list[Charge],
        rank: int,
        amendment_id: str | None = None,
    ) -> int:
        total = non_usage = 0
        for c in charges:
            total += c.amount
            if c.kind != "usage":
                non_usage += c.amount
        if total:
            self.seq += 1
            self.docs.append(
                Doc(
                    source,
                    day,
                    available_on,
                    first,
                    last,
                    charges,
                    total,
                    rank,
                    self.seq,
                    amendment_id,
                )
            )
            self.billed_non_usage += non_usage
        return total

    def sub_charge(
        self,
        line: LineTerms,
        block: Block,
        index: int,
        first: int,
        last: int,
        sign: int,
        amount: int,
        note: str,
    ) -> Charge:
        grid = self.grid
        lo = max(first, grid.start(index), block.first or first)
        hi = min(last, grid.end(index), block.last or last)
        qty = block.qty_at(lo)
        return Charge(
            block.obligation_id,
            line.id,
            line.product_code,
            "subscription",
            note,
            qty,
            line.price,
            sign * amount,
            lo,
            hi,
        )

    def one_time_charge(
        self, line: LineTerms, block: Block, sign: int, amount: int, note: str = ""
    ) -> Charge:
        day = block.first if block.first is not None else line.first
        qty = block.pieces[0].qty if block.pieces else Decimal(0)
        return Charge(
            block.obligation_id,
            line.id,
            line.product_code,
            "one_time",
            note,
            qty,
            line.price,
            sign * amount,
            day,
            day,
        )

    def set_terms(self, terms: Terms) -> None:
        self.terms = terms
        self.blocks = terms.blocks()
        self.one_time_dirty = True
        self.full_fees = {}

    def bill_period(self, index: int, processed_on: int) -> None:
        grid, terms, exp, months = self.grid, self.terms, self.exp, self.grid.months
        full_fees = self.full_fees
        first, p_last = grid.start(index), grid.end(index)
        last = min(p_last, terms.last)
        charges: list[Charge] = []
        total = 0
        for line, block in self.blocks:
            pieces = block.pieces
            if not pieces:
                continue
            if line.kind == "subscription":
                if pieces[0].first > last or pieces[-1].last < first:
                    continue
                if len(pieces) == 1:
                    p = pieces[0]
                    if p.first <= first and p.last >= p_last:  # the whole period: no proration
                        oid = block.obligation_id
                        amount = full_fees.get(oid, -1)
                        if amount < 0:
                            amount = full_fees[oid] = full_period_fee(
                                line.price, p.qty, months, exp
                            )
                        if amount:
                            total += amount
                            charges.append(
                                Charge(
                                    block.obligation_id,
                                    line.id,
                                    line.product_code,
                                    "subscription",
                                    "",
                                    p.qty,
                                    line.price,
                                    amount,
                                    first,
                                    p_last,
                                )
                            )
                        continue
                amount = block_fee(line.price, block, grid, index, first, last, exp)
                if amount:
                    total += amount
                    charges.append(self.sub_charge(line, block, index, first, last, 1, amount, ""))
            elif pieces[0].first == first and block.obligation_id not in self.one_time_billed:
                self.one_time_billed.add(block.obligation_id)
                self.one_time_dirty = True
                amount = one_time_fee(line.price, pieces[0].qty, exp)
                if amount:
                    total += amount
                    charges.append(self.one_time_charge(line, block, 1, amount))
        self.billed_periods.append(index)
        if total:  # a period invoice has no usage: all of it counts for the transaction price
            self.seq += 1
            self.docs.append(
                Doc(
                    "period",
                    first,
                    processed_on,
                    first,
                    last,
                    charges,
                    total,
                    RANK_PERIOD,
                    self.seq,
                )
            )
            self.billed_non_usage += total

    def bill_one_time_due(self, day: int) -> None:
        """One-time fees whose date has come and that no period invoice or amendment billed."""
        due: dict[int, list[Charge]] = {}
        for line, block in self.blocks:
            if line.kind != "one_time" or not block.pieces:
                continue
            s = block.pieces[0].first
            if s <= day and block.obligation_id not in self.one_time_billed:
                self.one_time_billed.add(block.obligation_id)
                self.one_time_dirty = True
                amount = one_time_fee(line.price, block.pieces[0].qty, self.exp)
                if amount:
                    due.setdefault(s, []).append(self.one_time_charge(line, block, 1, amount))
        for s in sorted(due):
            self.add_doc("one_time", s, day, s, s, due[s], RANK_ONE_TIME)

    def next_one_time(self) -> int | None:
        if not self.one_time_dirty:
            return self.one_time_next
        best: int | None = None
        for line, block in self.blocks:
            if (
                line.kind == "one_time"
                and block.pieces
                and block.obligation_id not in self.one_time_billed
            ):
                s = block.pieces[0].first
                if best is None or s < best:
                    best = s
        self.one_time_next = best
        self.one_time_dirty = False
        return best

    def usage_end(self, index: int) -> int:
        return min(self.grid.end(index), self.terms.last)

    def bill_usage(self, index: int, processed_on: int) -> None:
        end = self.usage_end(index)
        snapshot = self.history[0][1]
        for eff, snap in self.history:
            if eff <= end:
                snapshot = snap
        records = sorted(self.usage_by_period.pop(index), key=lambda r: (r[0], r[1]))
        by_line: dict[str, list[tuple[int, int, UsageRecord]]] = {}
        for r in records:
            by_line.setdefault(r[2].line_id, []).append(r)
        charges: list[Charge] = []
        first = self.grid.start(index)
        for line_id, recs in by_line.items():
            line = snapshot.lines.get(line_id)
            if line is None:
                continue  # refused by check_usage
            used = Decimal(0)
            recognized = 0
            for day, _, rec in recs:
                used += rec.quantity
                over = used - line.included
                amount = usage_amount(over, line.price, self.exp) if over > 0 else 0
                if amount != recognized:
                    self.usage_revenue.append((day, amount - recognized))
                    recognized = amount
            if recognized:
                over = used - line.included
                charges.append(
                    Charge(
                        None,
                        line_id,
                        line.product_code,
                        "usage",
                        "",
                        over,
                        line.price,
                        recognized,
                        first,
                        end,
                    )
                )
        self.add_doc("usage", end + 1, processed_on, first, end, charges, RANK_USAGE)

    # -- revenue -------------------------------------------------------------------------------

    def tranche_for(
        self, ob: Obligation, line: LineTerms, block: Block, first: int, amount: int
    ) -> None:
        if line.kind == "one_time":
            ob.add_point(block.pieces[0].first, amount)
        else:
            assert block.last is not None
            ob.add_straight_line(max(first, block.first or first), block.last, amount)

    def obligation(self, line: LineTerms, block: Block, treatment: Treatment) -> Obligation:
        ob = self.obligations.get(block.obligation_id)
        if ob is None:
            kind: Literal["subscription", "one_time"] = (
                "one_time" if line.kind == "one_time" else "subscription"
            )
            ob = Obligation(block.obligation_id, line.id, line.product_code, kind, treatment)
            self.obligations[block.obligation_id] = ob
        return ob

    def share_out(
        self, parts: list[tuple[LineTerms, Block]], amount: int, from_day: int
    ) -> list[int]:
        """Split `amount` over `parts` by relative SSP of their days from `from_day`.

        Parts that deliver nothing get nothing. When every SSP is zero the parts' prices stand
        in for them, and failing those, equal shares: the parts must still sum to the amount.
        """
        grid = self.grid
        weights = [
            ssp_weight(ln, b, grid, max(from_day, b.first)) if b.first is not None else (0, 1)
            for ln, b in parts
        ]
        if not any(n for n, _ in weights):
            weights = [
                ssp_weight(ln, b, grid, max(from_day, b.first), at_price=True)
                if b.first is not None
                else (0, 1)
                for ln, b in parts
            ]
        if not any(n for n, _ in weights):
            weights = [(1 if b.pieces else 0, 1) for _, b in parts]
        if not any(n for n, _ in weights):
            if amount:
                raise InputError(
                    f"cannot allocate {format_minor(amount, self.exp)}: no obligation delivers"
                )
            return [0] * len(parts)
        return allocate_ratios(amount, weights)

    def book(self) -> None:
        """The allocation at booking: the projected billing shared out by relative SSP."""
        blocks = self.terms.blocks()
        tp = self.projected(self.terms, 0, set())
        shares = self.share_out(blocks, tp, self.terms.first)
        for (line, block), share in zip(blocks, shares, strict=True):
            ob = self.obligation(line, block, "original")
            if block.pieces:
                self.tranche_for(ob, line, block, self.terms.first, share)

    def projected(self, terms: Terms, from_index: int, exclude: set[str]) -> int:
        """What `terms` will bill from period `from_index` on, plus one-time fees not billed."""
        total = 0
        for line, block in terms.blocks():
            total += self.projected_block(line, block, from_index, exclude)
        return total

    def projected_block(
        self, line: LineTerms, block: Block, from_index: int, exclude: set[str]
    ) -> int:
        if line.kind == "one_time":
            if (
                block.pieces
                and block.obligation_id not in self.one_time_billed
                and block.obligation_id not in exclude
            ):
                return one_time_fee(line.price, block.pieces[0].qty, self.exp)
            return 0
        return block_billing_from(line, block, self.grid, from_index, self.exp)

    def true_up(self, old: Terms, eff: int, amount: int) -> None:
        """Recognize `amount` on the last day of service, shared by SSP over the days cut."""
        if not amount:
            return
        day = eff - 1
        active = [
            (line, b)
            for line, b in old.blocks()
            if line.kind == "subscription" and b.qty_at(day) > 0
        ]
        if not active:
            active = [(line, b) for line, b in old.blocks() if b.obligation_id in self.obligations]
        if not active:
            raise InputError(
                f"cannot recognize {format_minor(amount, self.exp)} on {_d(day)}: "
                "no obligation is in service"
            )
        weights = [ssp_weight(line, b, self.grid, eff) for line, b in active]
        if not any(n for n, _ in weights):
            weights = [(1, 1)] * len(active)
        day = max(day, self.terms.first)
        for (line, b), share in zip(active, allocate_ratios(amount, weights), strict=True):
            self.obligation(line, b, "original").add_point(day, share)

    # -- amendments ----------------------------------------------------------------------------

    def amend(self, index: int, amendment: Amendment) -> None:
        path = f"amendments[{index}]"
        old = self.terms
        new, mod = apply_amendment(old, amendment, path)
        eff = amendment.effective_date.toordinal()
        received = amendment.received.toordinal()
        record = AppliedAmendment(
            amendment.id, amendment.effective_date, amendment.received, mod.kind
        )
        if not mod.changed:
            self.applied.append(record)
            return
        grid, exp = self.grid, self.exp
        charges: list[Charge] = []
        doc_first, doc_last = eff, eff
        windows = False
        horizon = max(old.last, new.last)
        # Re-bill every invoiced period from the effective date on: old fee out, new fee in.
        before = {b.obligation_id: (ln, b) for ln, b in self.blocks if ln.kind == "subscription"}
        after = {b.obligation_id: (ln, b) for ln, b in new.blocks() if ln.kind == "subscription"}
        oids = list(before) + [o for o in after if o not in before]
        unchanged = {
            oid
            for oid in oids
            if oid in before
            and oid in after
            and before[oid][0].price == after[oid][0].price
            and before[oid][1].pieces == after[oid][1].pieces
        }
        rebilled = []
        for j in reversed(self.billed_periods):  # the periods the effective date cuts or follows
            if grid.end(j) < eff:
                break
            rebilled.append(j)
        for j in reversed(rebilled):
            p_first, p_last = grid.start(j), grid.end(j)
            w_first, w_last = max(eff, p_first), min(p_last, horizon)
            if w_first > w_last:
                continue
            touched = False
            for oid in oids:
                if oid in unchanged:
                    continue
                o_amt = n_amt = 0
                if oid in before:
                    ln, b = before[oid]
                    o_amt = block_fee(ln.price, b, grid, j, w_first, w_last, exp)
                if oid in after:
                    ln2, b2 = after[oid]
                    n_amt = block_fee(ln2.price, b2, grid, j, w_first, w_last, exp)
                if o_amt == n_amt:
                    continue
                touched = True
                if o_amt:
                    ln, b = before[oid]
                    charges.append(
                        self.sub_charge(ln, b, j, w_first, w_last, -1, o_amt, " (previous terms)")
                    )
                if n_amt:
                    ln2, b2 = after[oid]
                    charges.append(self.sub_charge(ln2, b2, j, w_first, w_last, 1, n_amt, ""))
            if touched:
                if not windows:
                    doc_first, doc_last, windows = w_first, w_last, True
                doc_first, doc_last = min(doc_first, w_first), max(doc_last, w_last)
        # One-time fees: re-bill those billed for a day from the effective date on, and bill
        # those whose day has passed (or is today, off a period start) on this document.
        before_ot = {b.obligation_id: (ln, b) for ln, b in old.blocks() if ln.kind == "one_time"}
        after_ot = {b.obligation_id: (ln, b) for ln, b in new.blocks() if ln.kind == "one_time"}
        on_doc: set[str] = set()
        for oid in list(before_ot) + [o for o in after_ot if o not in before_ot]:
            if oid in self.one_time_billed:
                ln, b = before_ot.get(oid) or after_ot[oid]
                if not b.pieces or b.pieces[0].first < eff:
                    continue
                o_amt = one_time_fee(ln.price, b.pieces[0].qty, exp) if oid in before_ot else 0
                n_amt = 0
                if oid in after_ot and after_ot[oid][1].pieces:
                    ln2, b2 = after_ot[oid]
                    n_amt = one_time_fee(ln2.price, b2.pieces[0].qty, exp)
                if o_amt != n_amt:
                    if o_amt:
                        charges.append(self.one_time_charge(ln, b, -1, o_amt, " (previous terms)"))
                    if n_amt:
                        ln2, b2 = after_ot[oid]
                        charges.append(self.one_time_charge(ln2, b2, 1, n_amt))
                continue
            if oid not in after_ot or not after_ot[oid][1].pieces:
                continue
            ln2, b2 = after_ot[oid]
            s = b2.pieces[0].first
            period_start = grid.start(grid.index_of(s)) == s
            if s < received or (s == eff == received and not period_start):
                on_doc.add(oid)
                amount = one_time_fee(ln2.price, b2.pieces[0].qty, exp)
                if amount:
                    charges.append(self.one_time_charge(ln2, b2, 1, amount))
        total = sum(c.amount for c in charges)

        kind = mod.kind
        if kind == "separate":
            parts = [(ln, b) for ln, b in new.blocks() if b.obligation_id in mod.new_obligations]
            billed = []
            for ln, b in parts:
                on_this = sum(c.amount for c in charges if c.obligation_id == b.obligation_id)
                billed.append(on_this + self.projected_block(ln, b, self.next_period, on_doc))
            shares = self.share_out(parts, sum(billed), eff)
            for (ln, b), share in zip(parts, shares, strict=True):
                ob = self.obligation(ln, b, "separate")
                if b.pieces:
                    self.tranche_for(ob, ln, b, eff, share)
        elif kind == "prospective":
            tp = self.billed_non_usage + total + self.projected(new, self.next_period, on_doc)
            recognized = sum(o.cum(eff - 1) for o in self.obligations.values())
            remainder = tp - recognized
            if remainder < 0:
                self.attention.append(
                    Attention(
                        amendment.id,
                        amendment.effective_date,
                        amendment.received,
                        NEGATIVE_REMAINING_CONSIDERATION,
                        f"{amendment.id} would leave {format_minor(remainder, exp)} "
                        f"{self.contract.currency} to recognize from {amendment.effective_date}: "
                        f"the new transaction price {format_minor(tp, exp)} is less than the "
                        f"{format_minor(recognized, exp)} already recognized",
                    )
                )
                self.applied.append(
                    AppliedAmendment(
                        amendment.id, amendment.effective_date, amendment.received, "refused"
                    )
                )
                return
            for o in self.obligations.values():
                o.cut(eff - 1)
            delivering = [
                (ln, b)
                for ln, b in new.blocks()
                if b.pieces
                and (
                    b.pieces[-1].last >= eff
                    if ln.kind == "subscription"
                    else b.pieces[0].first >= eff
                )
            ]
            if delivering:
                shares = self.share_out(delivering, remainder, eff)
                for (ln, b), share in zip(delivering, shares, strict=True):
                    ob = self.obligation(ln, b, "prospective")
                    ob.treatment = "prospective"
                    self.tranche_for(ob, ln, b, eff, share)
            else:
                self.true_up(old, eff, remainder)
        elif kind == "cancellation":
            tp = self.billed_non_usage + total + self.projected(new, self.next_period, on_doc)
            recognized = sum(o.cum(eff - 1) for o in self.obligations.values())
            for o in self.obligations.values():
                o.cut(eff - 1)
            self.true_up(old, eff, tp - recognized)
            self.cancellation = (eff, received)
        # Commit.
        self.one_time_billed |= on_doc
        self.set_terms(new)
        self.history.append((eff, new))
        self.applied.append(record)
        self.add_doc(
            "amendment",
            eff,
            received,
            doc_first,
            doc_last,
            charges,
            RANK_AMENDMENT,
            amendment.id,
        )

    # -- the days ------------------------------------------------------------------------------

    def run(self, ordered: list[tuple[int, Amendment]]) -> None:
        self.book()
        grid = self.grid
        k, n = 0, len(ordered)
        received = [a.received.toordinal() for _, a in ordered]
        pending = sorted(self.usage_by_period, reverse=True)  # next period last, to pop()
        never = date.max.toordinal()
        while True:
            last = self.terms.last
            start = grid.start(self.next_period)
            day = start if start <= last else never
            if k < n and received[k] < day:
                day = received[k]
            if pending and grid.start(pending[-1]) <= last:
                usage_day = min(grid.end(pending[-1]), last) + 1
                if usage_day < day:
                    day = usage_day
            one_time = self.next_one_time()
            if one_time is not None and one_time < day:
                day = one_time
            if day == never:
                break
            while k < n and received[k] == day:
                self.amend(*ordered[k])
                k += 1
            while (
                pending
                and grid.start(pending[-1]) <= self.terms.last
                and self.usage_end(pending[-1]) < day
            ):
                self.bill_usage(pending.pop(), day)
            while True:
                start = grid.start(self.next_period)
                if start > day or start > self.terms.last:
                    break
                self.bill_period(self.next_period, day)
                self.next_period += 1
            one_time = self.next_one_time()
            if one_time is not None and one_time <= day:
                self.bill_one_time_due(day)
