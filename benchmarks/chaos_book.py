"""The chaos run's book: N seeded contracts, their messages, and what the domain says they post.

Each contract is a DESIGN.md §6 scenario dated around today (the business date of the dev
server, whose contracts run on real time): most started months ago, so their workflows catch up
at once on every period already due, as the demo's do; a few ended already (Expired) or start
next month. Some receive, after activation has caught up, amendments (an upsell at SSP, a
discounted added line, a downgrade), a cancellation, and usage records for past periods.

The messages reach the workflow in an order and in groups (one workflow task may take several)
that the chaos decides: redelivered, reordered, delayed. A contract's messages are kept only
when the domain engine says every order and every grouping posts the same documents and journals
(`order_independent`), so the expected postings do not depend on timing; the generator drops
messages until that holds. Everything is drawn from `random.Random(f"{seed}:{n}")`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.documents import BillingDocument, JournalEntry, split_credit
from domain.errors import InputError, PostingConflict
from domain.models import Amendment, Scenario, UsageRecord
from domain.posting import posting_difference
from domain.schedule import Schedule, build_schedule
from starter.demo_book import ENTITIES, PRODUCTS, scenario_line

FREQUENCIES = ("monthly",) * 6 + ("quarterly",) * 3 + ("annual",)
CURRENCIES = tuple(ENTITIES)
DISCOUNTS = (Decimal(0), Decimal(0), Decimal("0.05"), Decimal("0.10"), Decimal("0.20"))


@dataclass(frozen=True)
class Message:
    """One thing that reaches a running contract after activation.

    `amendment`: a Salesforce amendment (a `contract.amended` or `contract.cancelled` webhook);
    `usage`: a usage record (the `usage` signal, with its id).
    """

    kind: str  # "amendment" | "cancellation" | "usage"
    amendment: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None

    @property
    def ident(self) -> str:
        if self.amendment is not None:
            return str(self.amendment["id"])
        assert self.usage is not None
        return str(self.usage["id"])


@dataclass
class Expected:
    """What must be posted by `today` (keys without the workflow prefix), and the stage."""

    documents: dict[str, BillingDocument]
    journals: dict[str, JournalEntry]
    stage: str
    schedule: Schedule


@dataclass
class ChaosContract:
    number: str
    raw: dict[str, Any]  # the §6 scenario, without amendments (booked at the start)
    messages: list[Message] = field(default_factory=list)

    @property
    def amendments(self) -> list[dict[str, Any]]:
        return [m.amendment for m in self.messages if m.amendment is not None]

    @property
    def usage(self) -> list[dict[str, Any]]:
        return [m.usage for m in self.messages if m.usage is not None]

    @property
    def currency(self) -> str:
        return str(self.raw["contract"]["currency"])

    def scenario(self, with_messages: bool = True) -> Scenario:
        raw = dict(self.raw)
        if with_messages:
            raw["amendments"] = self.amendments
            raw["usage"] = [{k: v for k, v in u.items() if k != "id"} for u in self.usage]
        return Scenario.model_validate(raw)


def _month_start(day: dt.date, months_back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _contract(n: int, rng: random.Random, today: dt.date, max_months_back: int) -> dict[str, Any]:
    currency = rng.choice(CURRENCIES)
    shape = rng.random()
    term_months = rng.choice((12, 12, 24))
    if shape < 0.05:  # ended last month or before: Expired
        months_back, term_months = 13 + rng.randrange(2), 12
    elif shape < 0.10:  # starts next month
        months_back = -1
    else:
        months_back = rng.randint(1, max_months_back)
    start = _month_start(today, months_back).replace(day=rng.randint(1, 28))
    end_month = _month_start(start, -term_months)
    end = end_month.replace(day=min(start.day, 28)) - dt.timedelta(days=1)
    lines = [("SEAT-PRO", rng.randint(5, 200), rng.choice(DISCOUNTS))]
    for code, chance in (("ANALYTICS", 0.3), ("SUPPORT-PREM", 0.2), ("ONBOARD", 0.3)):
        if rng.random() < chance:
            quantity = rng.randint(5, 150) if code == "ANALYTICS" else 1
            lines.append((code, quantity, rng.choice(DISCOUNTS)))
    if rng.random() < 0.35:
        lines.append(("API-CALLS", rng.choice((100_000, 500_000, 1_000_000)), Decimal(0)))
    number = f"CHAOS-{n:04d}"
    return {
        "contract": {
            "id": number,
            "customer": {"id": f"ACC-CH-{n:04d}", "name": f"Chaos Customer {n:04d}"},
            "currency": currency,
            "legal_entity": ENTITIES[currency],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "billing_frequency": rng.choice(FREQUENCIES),
            "lines": [
                scenario_line(i, code, qty, off, currency)
                for i, (code, qty, off) in enumerate(lines, start=1)
            ],
        },
        "amendments": [],
        "as_of": today.isoformat(),
    }


def _messages(raw: dict[str, Any], rng: random.Random, today: dt.date) -> list[Message]:
    contract = raw["contract"]
    start = dt.date.fromisoformat(contract["start_date"])
    end = dt.date.fromisoformat(contract["end_date"])
    if not start < today <= end:
        return []
    currency = contract["currency"]
    earliest = max(start + dt.timedelta(days=1), today - dt.timedelta(days=75))
    span = (today - earliest).days
    if span < 1:
        return []
    days = sorted(rng.sample(range(span + 1), k=min(span + 1, 3)))
    dates = [earliest + dt.timedelta(days=d) for d in days]
    seats = next(line for line in contract["lines"] if line["id"] == "L1")
    messages: list[Message] = []
    kinds = ["upsell", "add_discounted", "downgrade"]
    wanted = rng.choices((0, 1, 2), weights=(55, 30, 15))[0]
    for i in range(wanted):
        kind = rng.choice(kinds)
        kinds.remove(kind)
        effective = dates[i].isoformat()
        amendment: dict[str, Any] = {"id": f"AMD-{i + 1}", "effective_date": effective}
        if kind == "upsell":
            amendment["changes"] = [{"line_id": "L1", "quantity": seats["quantity"] + 10 * (i + 1)}]
        elif kind == "downgrade":
            amendment["changes"] = [{"line_id": "L1", "quantity": max(1, seats["quantity"] // 2)}]
        else:
            ssp = PRODUCTS["ANALYTICS"].price(currency)
            amendment["add_lines"] = [
                {
                    "id": f"L{9 + i}",
                    "product_code": "ANALYTICS",
                    "kind": "subscription",
                    "quantity": rng.randint(5, 50),
                    "unit_price": str((ssp * Decimal("0.55")).quantize(Decimal("0.01"))),
                    "ssp": str(ssp),
                }
            ]
        messages.append(Message("amendment", amendment=amendment))
    if rng.random() < 0.12:
        cancel_on = dates[-1] if len(dates) > wanted else today
        last = messages[-1].amendment if messages else None
        if last is None or cancel_on > dt.date.fromisoformat(last["effective_date"]):
            cancel = {"id": f"AMD-{wanted + 1}", "effective_date": cancel_on.isoformat()}
            messages.append(Message("cancellation", amendment={**cancel, "cancel": True}))
    usage_line = next((line for line in contract["lines"] if line["kind"] == "usage"), None)
    if usage_line is not None:
        first = max(start, today - dt.timedelta(days=120))
        span = (today - first).days
        for j in range(rng.choice((0, 1, 2, 2))):
            day = first + dt.timedelta(days=rng.randrange(max(span, 1)))
            quantity = int(usage_line["included"] * rng.choice((0.5, 1.5, 2, 3)))
            usage = {"id": f"U{j + 1}", "line_id": usage_line["id"], "date": day.isoformat()}
            messages.append(Message("usage", usage={**usage, "quantity": quantity}))
    return messages


def _compositions(items: Sequence[Message]) -> Iterator[list[list[Message]]]:
    """Every way to cut a sequence into consecutive non-empty groups."""
    n = len(items)
    for cuts in itertools.product((False, True), repeat=max(n - 1, 0)):
        groups, current = [], [items[0]]
        for item, cut in zip(items[1:], cuts, strict=True):
            if cut:
                groups.append(current)
                current = [item]
            else:
                current.append(item)
        groups.append(current)
        yield groups


def _rewrites(schedule: Schedule, posted: dict[str, BillingDocument]) -> bool:
    """Whether the schedule drops or changes a document already issued."""
    planned = {d.key: d for d in schedule.documents()}
    for key, doc in posted.items():
        now = planned.get(key)
        if now is None or (now.kind, now.date, now.total) != (doc.kind, doc.date, doc.total):
            return True
    return False


def _post_in_groups(
    contract: ChaosContract, groups: Sequence[Sequence[Message]], today: dt.date
) -> tuple[dict[str, BillingDocument], dict[str, JournalEntry], Schedule]:
    """What the workflow posts when activation catches up, then each group arrives at once.

    As ContractWorkflow takes them: a group's amendments one by one in arrival order (each
    received today, or left for tomorrow when it would change a document already issued), then
    its usage, then one posting of the difference.
    """
    base = contract.scenario(with_messages=False).contract
    schedule = build_schedule(base)
    plan = posting_difference(schedule, {}, {}, today)
    documents = {d.key: d for d in plan.documents}
    journals = {j.key: j for j in plan.journals}
    accepted: list[Amendment] = []
    usage: list[UsageRecord] = []
    for group in groups:
        for message in group:
            if message.amendment is None:
                continue
            amendment = Amendment.model_validate({**message.amendment, "received_on": today})
            others = [a for a in accepted if a.id != amendment.id]
            if _rewrites(build_schedule(base, [*others, amendment], usage), documents):
                continue  # taken tomorrow, after this run's business day
            accepted = [*others, amendment]
        usage += [UsageRecord.model_validate(m.usage) for m in group if m.usage is not None]
        schedule = build_schedule(base, accepted, usage)
        if schedule.attention:
            raise InputError(f"refused: {schedule.attention[0].detail}")
        plan = posting_difference(schedule, documents, journals, today)
        documents.update({d.key: d for d in plan.documents})
        journals.update({j.key: j for j in plan.journals})
    return documents, journals, schedule


def credit_notes_fit(documents: dict[str, BillingDocument]) -> bool:
    """Whether each credit note, in posting order, fits on the invoices posted before it, split
    over several if need be (the latest first, as the workflow offers them to billing, which
    credits each invoice at most its total).

    The domain never credits more than was billed, so this holds but for credits refused by
    billing's rules (a usage invoice is not offered: a usage-only remainder would not fit);
    such a contract parks `credit_exceeds_invoice`, so the chaos book leaves it out.
    """
    credited: dict[str, Decimal] = {}
    posted: list[BillingDocument] = []
    for doc in documents.values():
        if doc.kind == "credit_note":
            candidates = sorted(
                (p for p in posted if p.kind == "invoice" and p.source != "usage"),
                key=lambda p: (p.date, p.key),
                reverse=True,
            )
            rooms = [p.total - credited.get(p.key, Decimal(0)) for p in candidates]
            try:
                parts = split_credit(doc.total, rooms)
            except ValueError:
                return False
            for invoice, part in zip(candidates, parts, strict=True):
                credited[invoice.key] = credited.get(invoice.key, Decimal(0)) + part
        posted.append(doc)
    return True


def _fingerprint(
    documents: dict[str, BillingDocument], journals: dict[str, JournalEntry]
) -> tuple[Any, ...]:
    docs = sorted((k, d.kind, d.date, d.total) for k, d in documents.items())
    entries = sorted((k, j.date, j.amount) for k, j in journals.items())
    return tuple(docs), tuple(entries)


def order_independent(contract: ChaosContract, today: dt.date) -> bool:
    """Whether every arrival order and grouping of the messages posts the same (and is valid)."""
    messages = contract.messages
    if not messages:
        return True
    outcomes = set()
    try:
        for order in itertools.permutations(messages):
            for groups in _compositions(order):
                documents, journals, _ = _post_in_groups(contract, groups, today)
                if not credit_notes_fit(documents):
                    return False
                outcomes.add(_fingerprint(documents, journals))
                if len(outcomes) > 1:
                    return False
    except (InputError, PostingConflict, ValueError):
        return False
    return True


def expected(contract: ChaosContract, today: dt.date) -> Expected:
    """Activation's catch-up, then every message: the documents, journals and final stage."""
    groups = [contract.messages] if contract.messages else []
    documents, journals, schedule = _post_in_groups(contract, groups, today)
    stage, _ = schedule.status(today)
    due = {d.key for d in schedule.documents() if d.date <= today and d.available_on <= today}
    assert set(documents) == due, f"{contract.number}: posted documents are not the due ones"
    return Expected(documents, journals, stage, schedule)


def make_book(
    count: int, seed: int, today: dt.date, max_months_back: int = 9
) -> list[ChaosContract]:
    """`count` contracts; each keeps only messages whose outcome does not depend on timing."""
    book = []
    for n in range(1, count + 1):
        rng = random.Random(f"{seed}:{n}")
        raw = _contract(n, rng, today, max_months_back)
        contract = ChaosContract(raw["contract"]["id"], raw)
        messages = _messages(raw, rng, today)
        while messages:
            contract.messages = messages
            if order_independent(contract, today):
                break
            messages = messages[:-1]
        contract.messages = messages
        book.append(contract)
    return book
