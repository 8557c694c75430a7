"""`q2c demo`: a realistic book of contracts run end to end on the local stack.

Everything goes the way it would in production: the book is booked in the Salesforce sandbox,
its products are mapped (all but one), and each contract is closed-won through the signed
Salesforce webhook, which starts its workflow; the workflows catch up on every period already
due. Then the amendments arrive through the same webhook, a few invoices are paid in billing
(whose signed `invoice.paid` webhooks reach the contracts as payments), and one event is
delivered again to show that nothing happens twice. The demo ends with a summary read from the
workflows and the Web UI query that lists the stuck contract.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from rich.table import Table
from temporalio.client import Client

from adapters.billing import BillingAdapter
from adapters.settings import Settings
from starter.app import OperationFailed, console
from starter.catalog import map_products
from starter.commands.common import stuck_link, workflow_link
from starter.commands.dev import LocalStack
from starter.demo_book import BOOK, CATALOG, Change, Deal, changes, scenario
from starter.webhooks import signature
from workflows.contract import FIXES, ContractWorkflow, workflow_id_for
from workflows.contract_models import ContractStatus

SETTLE_TIMEOUT = 150.0
PAID_INVOICES = 6
CONCURRENCY = 8
DONE = ("Active", "Cancelled", "Expired")


class DemoError(OperationFailed):
    """A step of the demo did not go as it should (the message says which)."""


@dataclass
class Booked:
    deals: dict[str, Deal]
    opportunities: dict[str, str]  # contract number → opportunity Id
    product_ids: dict[str, str] = field(default_factory=dict)

    def workflow_id(self, number: str) -> str:
        return workflow_id_for(self.opportunities[number])


class Demo:
    def __init__(self, stack: LocalStack, http: httpx.AsyncClient, today: dt.date) -> None:
        self.stack = stack
        self.settings: Settings = stack.settings
        self.client: Client = stack.client
        self.http = http
        self.today = today
        self.started = time.monotonic()

    def step(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        console.print(f"[dim]{elapsed:6.1f}s[/] [green]✓[/] {message}", highlight=False)

    async def _admin(self, system: str, path: str, body: Any) -> Any:
        url = getattr(self.settings, f"{system}_url")
        response = await self.http.post(f"{url}/_sandbox/{path}", json=body)
        if response.status_code >= 400:
            raise DemoError(f"{system} sandbox refused {path}: {response.text[:300]}")
        return response.json()

    # -- Salesforce: the book, and the events it sends --------------------------------------

    async def book(self, deals: Sequence[Deal]) -> Booked:
        booked = Booked({d.number: d for d in deals}, {})
        for deal in deals:
            answer = await self._admin(
                "salesforce", "seed", {"scenario": scenario(deal, self.today)}
            )
            booked.opportunities[deal.number] = answer["opportunity_id"]
            booked.product_ids.update(answer["product_ids"])
        currencies = Counter(d.currency for d in deals)
        mix = ", ".join(f"{n} in {c}" for c, n in sorted(currencies.items()))
        self.step(f"Salesforce: {len(deals)} closed-won opportunities booked ({mix})")
        return booked

    async def map_catalog(self, booked: Booked) -> None:
        sold = [p for p in CATALOG if p.code in booked.product_ids]
        await map_products(self.settings, sold, booked.product_ids)
        unmapped = sorted(set(booked.product_ids) - {p.code for p in sold})
        self.step(
            f"catalog: {len(sold)} products mapped to billing and the ERP"
            + (f" ({', '.join(unmapped)} left unmapped on purpose)" if unmapped else "")
        )

    async def send(self, event: dict[str, Any]) -> httpx.Response:
        """POST one event as Salesforce would: signed with the shared secret."""
        body = json.dumps(event).encode()
        header = signature.sign(body, self.settings.salesforce_webhook_secret)
        return await self.http.post(
            f"{self.stack.webhook_url}/webhooks/salesforce",
            content=body,
            headers={"Content-Type": "application/json", signature.HEADER: header},
        )

    async def send_all(self, events: list[dict[str, Any]]) -> Counter[int]:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(event: dict[str, Any]) -> int:
            async with limit:
                response = await self.send(event)
            if response.status_code != 202:
                raise DemoError(
                    f"webhook {event['type']} answered {response.status_code}: "
                    f"{response.text[:300]}"
                )
            return response.status_code

        return Counter(await asyncio.gather(*(one(e) for e in events)))

    async def close_won(self, booked: Booked) -> dict[str, Any]:
        events = [
            {
                "id": f"evt_{uuid.uuid4().hex[:20]}",
                "type": "opportunity.closed_won",
                "opportunity_id": opportunity_id,
            }
            for opportunity_id in booked.opportunities.values()
        ]
        answers = await self.send_all(events)
        self.step(
            f"webhook: {len(events)} × opportunity.closed_won → {answers[202]} × 202 "
            "(signal-with-start)"
        )
        return events[0]

    async def amend(self, booked: Booked, wanted: Sequence[Change]) -> None:
        events = []
        for change in wanted:
            raw = scenario(booked.deals[change.number], self.today)
            raw["amendments"] = [change.amendment]
            answer = await self._admin("salesforce", "seed", {"scenario": raw})
            amendment_id = answer["amendment_ids"][change.amendment["id"]]
            events.append(
                {
                    "id": f"evt_{uuid.uuid4().hex[:20]}",
                    "type": "contract.cancelled" if change.cancels else "contract.amended",
                    "opportunity_id": booked.opportunities[change.number],
                    "amendment_id": amendment_id,
                }
            )
        answers = await self.send_all(events)
        kinds = ", ".join(c.kind for c in wanted)
        self.step(f"webhook: {len(events)} amendments → {answers[202]} × 202 ({kinds})")

    async def redeliver(self, event: dict[str, Any]) -> None:
        response = await self.send(event)
        if response.status_code != 200:
            raise DemoError(f"a redelivered event answered {response.status_code}, not 200")
        self.step(f"webhook: {event['id']} delivered again → 200 duplicate, nothing done twice")

    # -- billing: payments through the signed billing webhook -------------------------------

    async def register_billing_webhook(self) -> None:
        await self._admin(
            "billing",
            "webhook_endpoints",
            {
                "url": f"{self.stack.webhook_url}/webhooks/billing",
                "secret": self.settings.billing_webhook_secret,
                "enabled_events": ["invoice.paid", "invoice.payment_failed"],
            },
        )

    async def pay(self, numbers: Sequence[str]) -> None:
        """Pay the first open invoice of each contract, as a customer would, in billing."""
        paid = 0
        async with BillingAdapter(self.settings) as billing:
            for number in numbers:
                invoices = await billing.list_invoices_for(contract_id=number)
                first = next((i for i in invoices if i.status == "open"), None)
                if first is not None and paid < PAID_INVOICES:
                    await billing.pay_invoice(first.id, key=f"demo:pay:{first.id}")
                    paid += 1
        response = await self.http.get(f"{self.settings.billing_url}/_sandbox/webhook_deliveries")
        deliveries = response.json().get("data", []) if response.status_code == 200 else []
        codes = Counter(d.get("status_code") for d in deliveries)
        self.step(f"billing: {paid} invoices paid → {codes[202]} × invoice.paid webhook → 202")

    # -- waiting and the summary ------------------------------------------------------------

    async def _status(self, workflow_id: str) -> ContractStatus:
        handle = self.client.get_workflow_handle(workflow_id)
        return await handle.query(ContractWorkflow.status)

    async def settle(self, booked: Booked, what: str) -> dict[str, ContractStatus]:
        """Poll until every contract has taken its messages and caught up to today."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            ids = [booked.workflow_id(n) for n in booked.opportunities]
            statuses = dict(
                zip(
                    booked.opportunities,
                    await asyncio.gather(*(self._status(i) for i in ids)),
                    strict=True,
                )
            )
            waiting = [n for n, s in statuses.items() if not _settled(s)]
            if not waiting:
                self.step(what)
                return statuses
            if time.monotonic() > deadline:
                raise DemoError(f"contracts not settled in {SETTLE_TIMEOUT:g}s: {waiting}")
            await asyncio.sleep(0.5)

    async def treatments(self, booked: Booked, wanted: Sequence[Change]) -> Table:
        """How each amendment was treated (ASC 606), as the contract's report says."""
        table = Table(title="Amendments (through the webhook)", title_justify="left")
        for column in ("Contract", "Customer", "Amendment", "Treatment"):
            table.add_column(column)
        for change in wanted:
            handle = self.client.get_workflow_handle(booked.workflow_id(change.number))
            report = await handle.query(ContractWorkflow.report)
            kinds = sorted({o.treatment for o in report.obligations} - {"original"})
            result = report.status if change.cancels else ", ".join(kinds) or "-"
            table.add_row(change.number, booked.deals[change.number].customer, change.kind, result)
        return table

    def summary(
        self, booked: Booked, statuses: dict[str, ContractStatus], amendments: Table
    ) -> None:
        console.print()
        stages = Counter(s.stage for s in statuses.values())
        by_stage = Table(title="Contracts by stage", title_justify="left")
        by_stage.add_column("Stage")
        by_stage.add_column("Contracts", justify="right")
        for stage, count in sorted(stages.items()):
            by_stage.add_row(
                stage, str(count), style="bold red" if stage == "NeedsAttention" else None
            )
        console.print(by_stage)
        console.print(money_table(statuses))
        console.print(amendments)
        namespace = self.client.namespace
        stuck = {n: s for n, s in statuses.items() if s.stage == "NeedsAttention"}
        table = Table(title="Stuck contracts (NeedsAttention)", title_justify="left")
        for column in ("Contract", "Customer", "Reason"):
            table.add_column(column)
        for number, s in stuck.items():
            table.add_row(number, booked.deals[number].customer, s.attention_reason or "-")
        console.print(table)
        for number, s in stuck.items():
            link = workflow_link(self.settings, namespace, booked.workflow_id(number))
            fix = FIXES.get(s.attention_reason or "", "see the detail, then `q2c retry`")
            for label, text in (("why", s.attention_detail), ("fix", fix), ("see", link)):
                console.print(f"  {number} {label}: {text}", highlight=False, soft_wrap=True)
        console.print()
        console.print(f"Web UI: {self.stack.ui_url}", highlight=False)
        console.print(
            f"Stuck contracts in the Web UI: {stuck_link(self.settings, namespace)}",
            highlight=False,
            soft_wrap=True,
        )
        example = next(iter(stuck), "Q2C-1001")
        elapsed = time.monotonic() - self.started
        console.print(
            f"Demo ready in {elapsed:.0f}s. Try `q2c stuck`, `q2c status {example}`, "
            "`q2c report Q2C-1001`. Ctrl-C stops everything.",
            highlight=False,
        )


def _settled(status: ContractStatus) -> bool:
    if status.finished:
        return True
    if status.pending_messages:
        return False
    if status.stage == "NeedsAttention":
        return True
    return status.stage in DONE and status.processed_through == status.business_date


def money_table(statuses: dict[str, ContractStatus]) -> Table:
    """Billed, recognized and deferred to date, per currency, summed over the contracts."""
    totals: dict[str, list[Decimal]] = {}
    counts: Counter[str] = Counter()
    for s in statuses.values():
        if s.currency is None:
            continue
        counts[s.currency] += 1
        row = totals.setdefault(s.currency, [Decimal(0)] * 3)
        for i, value in enumerate((s.billed_to_date, s.recognized_to_date, s.deferred_revenue)):
            row[i] += value or 0
    table = Table(title="Billed, recognized and deferred to date", title_justify="left")
    table.add_column("Currency")
    table.add_column("Contracts", justify="right")
    for column in ("Billed", "Recognized", "Deferred"):
        table.add_column(column, justify="right")
    for currency in sorted(totals):
        table.add_row(currency, str(counts[currency]), *(f"{v:,.2f}" for v in totals[currency]))
    return table


async def run_demo(
    stack: LocalStack,
    deals: Sequence[Deal] = BOOK,
    today: dt.date | None = None,
) -> dict[str, ContractStatus]:
    """The whole demo on a running stack; returns each contract's final status."""
    day = today or dt.datetime.now(dt.UTC).date()
    wanted = [c for c in changes(day) if c.number in {d.number for d in deals}]
    async with httpx.AsyncClient(timeout=30) as http:
        demo = Demo(stack, http, day)
        console.print(f"\n[bold]q2c demo[/]: a book of {len(deals)} contracts, as of {day}\n")
        await demo.register_billing_webhook()
        booked = await demo.book(deals)
        await demo.map_catalog(booked)
        first_event = await demo.close_won(booked)
        caught_up = await demo.settle(
            booked, "contracts activated and caught up on every period already due"
        )
        await demo.amend(booked, wanted)
        await demo.redeliver(first_event)
        changed = {c.number for c in wanted}
        await demo.pay(
            [n for n, s in caught_up.items() if s.stage == "Active" and n not in changed]
        )
        statuses = await demo.settle(booked, "amendments applied, payments posted")
        demo.summary(booked, statuses, await demo.treatments(booked, wanted))
    return statuses
