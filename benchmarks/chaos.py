"""Chaos: N contracts through q2c while everything around it fails, then money checked to the cent.

    python -m benchmarks.chaos --contracts 200 --seed 1        # the benchmark (docs/RELIABILITY.md)
    make chaos                                                 # the same, 200 contracts
    tests/chaos/test_chaos.py                                  # CI: 30 contracts, same harness

One harness, sized by flags. A seeded book of contracts (benchmarks/chaos_book.py) is booked in
the Salesforce sandbox and closed-won through the real webhook receiver; the contracts started
months ago, so each workflow catches up at once on every period already due, as in the demo.
Once activation has caught up, amendments and cancellations arrive through the receiver and
usage as signals, some delivered twice (after a delay) and some out of order; then invoices are
paid in billing, whose signed `invoice.paid` webhooks reach the contracts (some twice).
Meanwhile:
- the sandbox injects faults on Salesforce, billing and the ERP: 5xx, 429 with Retry-After,
  commit-then-fail (processed, then a 500 or a dropped connection), latency spikes, hanging
  requests;
- two worker processes poll the same task queue against the PostgreSQL ledger, and one of them
  is SIGKILLed at random moments and restarted;
- the Temporal dev server (history in a SQLite file) is stopped and restarted once on it.
At the end, with faults off, every contract must be in the stage its scenario implies with no
workflow failed, and billing and the ERP must hold, one to one, what the domain engine says
(duplicates 0, missing 0), every journal balanced and the three systems reconciled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from adapters.billing import BillingAdapter
from benchmarks.chaos_book import ChaosContract, Expected, expected, make_book
from benchmarks.chaos_check import Findings, Paid, compare_contract, read_back
from benchmarks.chaos_stack import ChaosStack, chaos_stack
from sandbox.billing.webhooks import signature_header
from starter.catalog import map_products
from starter.demo_book import CATALOG
from starter.webhooks import signature
from workflows.contract import ContractWorkflow, workflow_id_for
from workflows.contract_models import ContractStatus, PendingUsage
from workflows.reconciliation import reconcile_contracts

SYSTEMS = ("salesforce", "billing", "erp")
SEND_CONCURRENCY = 8
QUERY_CONCURRENCY = 6
POLL_SECONDS = 2.0


WRITES = ("POST", "PATCH", "PUT", "DELETE")


def fault_rules(commit_mode: str) -> list[dict[str, Any]]:
    """On every write (where money is made): 10% 5xx, 5% 429, 3% commit-then-fail, 0.5% hanging;
    on reads 2% 5xx, 1% 429, 0.2% hanging; on every request 2% latency spikes of 1.5 s.

    Reads fail less: one activity may read a dozen records (a credit note looks for an earlier
    one on every invoice of the contract) and fails whole when any read fails, so at the write
    rates it would rarely finish an attempt (Temporal retries the attempt, not the request).
    """
    write = {
        "hang_rate": 0.005,
        "rate_limit_rate": 0.05,
        "retry_after": 1,
        "error_rate": 0.10,
        "error_status": 503,
        "commit_then_fail_rate": 0.03,
        "commit_then_fail_mode": commit_mode,
        "spike_rate": 0.02,
        "spike_ms": 1500,
    }
    read = {
        "hang_rate": 0.002,
        "rate_limit_rate": 0.01,
        "retry_after": 1,
        "error_rate": 0.02,
        "error_status": 502,
        "spike_rate": 0.02,
        "spike_ms": 1500,
    }
    return [{"method": m, **write} for m in WRITES] + [{"method": "GET", **read}]


@dataclass
class ChaosConfig:
    contracts: int = 200
    seed: int = 1
    faults: bool = True
    kills: bool = True
    kill_every: tuple[float, float] = (6.0, 20.0)  # seconds between two kills
    restart_server: bool = True
    workers: int = 2
    duplicate_rate: float = 0.10
    reorder: bool = True
    pay_rate: float = 0.3
    max_months_back: int = 6
    ledger_url: str | None = None  # default: a fresh schema in the PostgreSQL `test` database
    settle_timeout: float = 3600.0
    http_timeout: float = 5.0
    keep_dir: bool = False
    today: dt.date | None = None


@dataclass
class Figures:
    contracts: int = 0
    seed: int = 0
    faults_injected: dict[str, dict[str, int]] = field(default_factory=dict)
    kills: int = 0
    worker_restarts: int = 0
    worker_start_failures: int = 0
    server_restarts: int = 0
    server_down_seconds: float = 0.0
    webhooks_sent: int = 0
    webhooks_duplicated: int = 0
    webhooks_reordered: int = 0
    webhook_answers: dict[str, int] = field(default_factory=dict)
    usage_signals: int = 0
    usage_duplicated: int = 0
    payments: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    stage_mismatches: int = 0
    workflows_failed: int = 0
    documents: int = 0
    journals: int = 0
    duplicates: int = 0
    missing: int = 0
    unexpected: int = 0
    mismatched: int = 0
    unbalanced: int = 0
    drafts: int = 0
    reconciliation_breaks: int = 0
    reconciled: int = 0
    reconciliation_mismatches: int = 0
    reconciliation_skipped: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def faults_total(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for counts in self.faults_injected.values():
            total.update(counts)
        return dict(total)

    def lines(self) -> list[str]:
        total = self.faults_total()
        return [
            f"contracts                {self.contracts} (seed {self.seed})",
            f"stages                   {dict(sorted(self.stages.items()))}",
            "faults injected          "
            + ", ".join(f"{k} {v}" for k, v in total.items())
            + f" (total {sum(v for k, v in total.items() if k != 'latency_spike')} failures)",
            *(
                f"  {system:22} {', '.join(f'{k} {v}' for k, v in counts.items())}"
                for system, counts in self.faults_injected.items()
            ),
            f"worker kills (SIGKILL)   {self.kills}, restarts {self.worker_restarts} "
            f"({self.worker_start_failures} starts refused while Temporal was down)",
            f"Temporal restarts        {self.server_restarts} "
            f"(down {self.server_down_seconds:.1f}s, same SQLite file and port)",
            f"webhooks sent            {self.webhooks_sent}, "
            f"duplicated {self.webhooks_duplicated}, reordered {self.webhooks_reordered}, "
            f"answers {dict(sorted(self.webhook_answers.items()))}",
            f"usage signals            {self.usage_signals}, duplicated {self.usage_duplicated}",
            f"invoices paid            {self.payments}",
            f"documents                {self.documents} (billing)",
            f"journals                 {self.journals} (ERP)",
            f"duplicates               {self.duplicates}",
            f"missing                  {self.missing}",
            f"unexpected / mismatched  {self.unexpected} / {self.mismatched}",
            f"unbalanced journals      {self.unbalanced}",
            f"draft invoices left      {self.drafts}",
            f"reconciliation breaks    {self.reconciliation_breaks} (harness three-way check)",
            f"ReconciliationWorkflow   {self.reconciled} contracts, "
            f"{self.reconciliation_mismatches} mismatches, {self.reconciliation_skipped} skipped",
            f"stage mismatches         {self.stage_mismatches}",
            f"workflows failed         {self.workflows_failed}",
            "phases                   "
            + ", ".join(f"{k} {v:.0f}s" for k, v in self.phases.items()),
            f"wall time                {self.wall_seconds:.0f}s",
            f"result                   {'PASS' if self.ok else 'FAIL'}",
        ]


Log = Callable[[str], None]


class Harness:
    def __init__(self, config: ChaosConfig, stack: ChaosStack, log: Log) -> None:
        self.config = config
        self.stack = stack
        self.log = log
        self.rng = random.Random(f"chaos:{config.seed}")
        self.today = config.today or dt.datetime.now(dt.UTC).date()
        self.figures = Figures(seed=config.seed)
        self.started = time.monotonic()
        self.opportunities: dict[str, str] = {}
        self.answers: Counter[str] = Counter()
        self.background: set[asyncio.Task[Any]] = set()

    def say(self, message: str) -> None:
        self.log(f"{time.monotonic() - self.started:7.1f}s {message}")

    def workflow_id(self, number: str) -> str:
        return workflow_id_for(self.opportunities[number])

    # -- booking ---------------------------------------------------------------------------

    async def book(self, book: list[ChaosContract]) -> None:
        limit = asyncio.Semaphore(SEND_CONCURRENCY)
        product_ids: dict[str, str] = {}

        async def one(contract: ChaosContract) -> None:
            async with limit:
                answer = await self.stack.admin(
                    "salesforce", "POST", "seed", {"scenario": contract.raw}
                )
            self.opportunities[contract.number] = answer["opportunity_id"]
            product_ids.update(answer["product_ids"])

        await asyncio.gather(*(one(c) for c in book))
        sold = [p for p in CATALOG if p.code in product_ids]
        await map_products(self.stack.settings, sold, product_ids)
        await self.stack.admin(
            "billing",
            "POST",
            "webhook_endpoints",
            {
                "url": f"{self.stack.urls['webhooks']}/webhooks/billing",
                "secret": self.stack.settings.billing_webhook_secret,
                "enabled_events": ["invoice.paid"],
            },
        )

    async def set_faults(self, on: bool) -> None:
        for system in SYSTEMS:
            if on:
                mode = "drop" if system == "erp" else "error"
                body = {"rules": fault_rules(mode), "seed": self.config.seed}
                await self.stack.admin(system, "PUT", "faults", body)
            else:
                await self.stack.admin(system, "DELETE", "faults")

    async def read_fault_counts(self) -> None:
        for system in SYSTEMS:
            answer = await self.stack.admin(system, "GET", "faults")
            self.figures.faults_injected[system] = answer.get("injected", {})

    # -- webhooks --------------------------------------------------------------------------

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """POST to the receiver as a sender would: again on 503 or no answer, until 2xx/4xx."""
        url = f"{self.stack.urls['webhooks']}{path}"
        for _ in range(120):
            try:
                response = await self.stack.http.post(url, content=body, headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(1)
                continue
            self.answers[str(response.status_code)] += 1
            if response.status_code == 503:
                await asyncio.sleep(float(response.headers.get("Retry-After", "2")))
                continue
            return response.status_code
        raise RuntimeError(f"{path}: no answer but 503 after 120 attempts")

    async def send_salesforce(self, event: dict[str, Any]) -> int:
        body = json.dumps(event).encode()
        header = signature.sign(body, self.stack.settings.salesforce_webhook_secret)
        headers = {"Content-Type": "application/json", signature.HEADER: header}
        return await self.post("/webhooks/salesforce", body, headers)

    def later(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def duplicate_after(self, delay: float, send: Callable[[], Awaitable[int]]) -> None:
        await asyncio.sleep(delay)
        status = await send()
        if status >= 300:
            self.figures.problems.append(f"a redelivered webhook was answered {status}")

    async def deliver_all(self, sends: list[tuple[str, Callable[[], Awaitable[int]]]]) -> None:
        """Send each (some twice, after a delay); every first delivery must end 2xx."""
        limit = asyncio.Semaphore(SEND_CONCURRENCY)

        async def one(what: str, send: Callable[[], Awaitable[int]]) -> None:
            async with limit:
                status = await send()
            self.figures.webhooks_sent += 1
            if not 200 <= status < 300:
                self.figures.problems.append(f"{what}: answered {status}")
            if self.rng.random() < self.config.duplicate_rate:
                self.figures.webhooks_duplicated += 1
                self.later(self.duplicate_after(self.rng.uniform(0.2, 8.0), send))

        await asyncio.gather(*(one(what, send) for what, send in sends))

    async def close_won(self, book: list[ChaosContract]) -> None:
        sends = []
        for contract in book:
            event = {
                "id": f"evt_{uuid.uuid4().hex[:20]}",
                "type": "opportunity.closed_won",
                "opportunity_id": self.opportunities[contract.number],
            }
            sends.append((f"closed_won {contract.number}", self._sender(event)))
        self.rng.shuffle(sends)
        await self.deliver_all(sends)

    def _sender(self, event: dict[str, Any]) -> Callable[[], Awaitable[int]]:
        return lambda: self.send_salesforce(event)

    async def amend(self, book: list[ChaosContract]) -> None:
        """Book every amendment in Salesforce, then send them (shuffled) and the usage."""
        sends: list[tuple[str, Callable[[], Awaitable[int]]]] = []
        usage: list[tuple[str, PendingUsage]] = []
        for contract in book:
            if not contract.messages:
                continue
            ids: dict[str, str] = {}
            if contract.amendments:
                raw = {**contract.raw, "amendments": contract.amendments}
                answer = await self.stack.admin("salesforce", "POST", "seed", {"scenario": raw})
                ids = answer["amendment_ids"]
            order = list(contract.messages)
            if self.config.reorder and len(order) > 1:
                self.rng.shuffle(order)
                if order != contract.messages:
                    self.figures.webhooks_reordered += 1
            for message in order:
                if message.amendment is not None:
                    event = {
                        "id": f"evt_{uuid.uuid4().hex[:20]}",
                        "type": "contract.cancelled"
                        if message.kind == "cancellation"
                        else "contract.amended",
                        "opportunity_id": self.opportunities[contract.number],
                        "amendment_id": ids[message.amendment["id"]],
                    }
                    sends.append((f"{event['type']} {contract.number}", self._sender(event)))
                else:
                    assert message.usage is not None
                    record = PendingUsage(
                        usage_id=message.usage["id"],
                        line_id=message.usage["line_id"],
                        date=dt.date.fromisoformat(message.usage["date"]),
                        quantity=message.usage["quantity"],
                    )
                    usage.append((contract.number, record))
        # Messages of one contract keep their (shuffled) order; contracts interleave.
        await asyncio.gather(self.deliver_all(sends), self.signal_usage(usage))

    async def signal_usage(self, usage: list[tuple[str, PendingUsage]]) -> None:
        for number, record in usage:
            handle = self.stack.client.get_workflow_handle(self.workflow_id(number))
            times = 2 if self.rng.random() < self.config.duplicate_rate else 1
            for _ in range(times):
                for _attempt in range(60):
                    try:
                        await handle.signal(ContractWorkflow.usage, record)
                        break
                    except RPCError:
                        await asyncio.sleep(1)
                self.figures.usage_signals += 1
            self.figures.usage_duplicated += times - 1

    async def pay(self, book: list[ChaosContract], wants: dict[str, Expected]) -> None:
        """Pay the first open invoice of some active contracts in billing (faults still on)."""
        chosen = [
            c.number
            for c in book
            if wants[c.number].stage == "Active" and self.rng.random() < self.config.pay_rate
        ]
        async with BillingAdapter(self.stack.settings) as billing:
            for number in chosen:
                for _attempt in range(30):
                    try:
                        invoices = await billing.list_invoices_for(contract_id=number)
                        first = next((i for i in invoices if i.status == "open"), None)
                        if first is not None:
                            await billing.pay_invoice(first.id, key=f"chaos:pay:{first.id}")
                            self.figures.payments += 1
                        break
                    except Exception:
                        await asyncio.sleep(0.5)
        # Deliveries that failed (a receiver answer other than 2xx) are sent again, as billing
        # would; then some events are delivered a second time.
        secret = self.stack.settings.billing_webhook_secret
        for _ in range(10):
            deliveries = (await self.stack.admin("billing", "GET", "webhook_deliveries"))["data"]
            latest = {d["event_id"]: d for d in deliveries}
            if all(d["delivered"] for d in latest.values()):
                break
            await self.stack.admin("billing", "POST", "webhook_deliveries/retry")
            await asyncio.sleep(2)
        self.figures.webhooks_sent += len(latest)
        for d in deliveries:
            self.answers[str(d.get("status_code"))] += 1
        api = self.stack.settings.billing_api_key
        for event_id in latest:
            if self.rng.random() >= self.config.duplicate_rate:
                continue
            response = await self.stack.http.get(
                f"{self.stack.urls['billing']}/v1/events/{event_id}",
                headers={"Authorization": f"Bearer {api}"},
            )
            if response.status_code != 200:
                continue
            payload = json.dumps(response.json(), indent=2)
            headers = {
                "Content-Type": "application/json",
                "Stripe-Signature": signature_header(payload, secret),
            }
            self.figures.webhooks_duplicated += 1
            body = payload.encode()

            def send(body: bytes = body, headers: dict[str, str] = headers) -> Awaitable[int]:
                return self.post("/webhooks/billing", body, headers)

            self.later(self.duplicate_after(self.rng.uniform(0.2, 5.0), send))

    # -- chaos in the background -----------------------------------------------------------

    async def kill_loop(self, stop: asyncio.Event) -> None:
        low, high = self.config.kill_every
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(low, high))
            if stop.is_set():
                break
            victim = self.rng.choice(self.stack.workers)
            self.stack.resting.add(victim.name)
            if self.stack.kill(victim):
                self.say(f"SIGKILL {victim.name}")
            await asyncio.sleep(self.rng.uniform(0.5, 3.0))
            self.stack.resting.discard(victim.name)

    async def supervisor(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.stack.supervise()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def restart_server_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.say("stopping the Temporal dev server")
        took = await self.stack.restart_server()
        self.figures.server_down_seconds = took
        self.say(f"Temporal dev server back after {took:.1f}s on the same database file")

    # -- waiting ---------------------------------------------------------------------------

    async def status(self, number: str) -> ContractStatus | None:
        handle = self.stack.client.get_workflow_handle(self.workflow_id(number))
        try:
            return await asyncio.wait_for(handle.query(ContractWorkflow.status), 15)
        except Exception:
            return None

    async def settle(
        self, book: list[ChaosContract], counts: dict[str, tuple[int, int]], what: str
    ) -> dict[str, ContractStatus]:
        """Until each contract has taken its messages, processed today and posted `counts`."""
        deadline = time.monotonic() + self.config.settle_timeout
        waiting = {c.number for c in book}
        statuses: dict[str, ContractStatus] = {}
        limit = asyncio.Semaphore(QUERY_CONCURRENCY)

        async def look(number: str) -> None:
            async with limit:
                status = await self.status(number)
            if status is None:
                return
            statuses[number] = status
            docs, journals = counts[number]
            done = status.finished or (
                status.pending_messages == 0
                and status.processed_through == self.today
                and status.documents_posted == docs
                and status.journals_posted == journals
            )
            if done or status.stage == "NeedsAttention":
                waiting.discard(number)

        while waiting:
            await self.stack.serving.wait()
            await asyncio.gather(*(look(n) for n in sorted(waiting)))
            if not waiting:
                break
            if time.monotonic() > deadline:
                self.figures.problems.append(
                    f"{what}: {len(waiting)} contracts not settled in "
                    f"{self.config.settle_timeout:g}s: {sorted(waiting)[:10]}"
                )
                break
            await asyncio.sleep(max(POLL_SECONDS, len(book) / 20))
        self.say(f"settled: {what}")
        return statuses

    async def drain_background(self) -> None:
        if self.background:
            await asyncio.gather(*list(self.background))

    # -- the end ---------------------------------------------------------------------------

    async def check(
        self, book: list[ChaosContract], wants: dict[str, Expected], paid_counts: dict[str, int]
    ) -> None:
        f = self.figures
        statuses = await self.settle(
            book,
            {
                c.number: (len(wants[c.number].documents), self._journals(wants, paid_counts, c))
                for c in book
            },
            "final",
        )
        stages: Counter[str] = Counter()
        for contract in book:
            status = statuses.get(contract.number)
            stage = status.stage if status else "unknown"
            stages[stage] += 1
            want = wants[contract.number].stage
            if stage != want:
                f.stage_mismatches += 1
                detail = status.attention_detail if status else ""
                f.problems.append(f"{contract.number}: stage {stage}, expected {want} {detail}")
        f.stages = dict(stages)
        async for execution in self.stack.client.list_workflows(
            f"TaskQueue = '{self.stack.settings.task_queue}'"
        ):
            if execution.status not in (
                WorkflowExecutionStatus.RUNNING,
                WorkflowExecutionStatus.COMPLETED,
                WorkflowExecutionStatus.CONTINUED_AS_NEW,
            ):
                f.workflows_failed += 1
                f.problems.append(f"{execution.id}: {execution.status}")
        await self.reconcile(book)
        records = await read_back(self.stack.settings, [c.number for c in book])
        total = Findings()
        for contract in book:
            invoices, notes, entries = records[contract.number]
            paid = [
                Paid(i.id, i.amount_paid, i.paid_at.date())
                for i in invoices
                if i.status == "paid" and i.paid_at is not None and i.amount_paid > 0
            ]  # an invoice settled by credit notes alone moves no cash: no payment journal
            total.add(
                compare_contract(
                    contract.number,
                    wants[contract.number],
                    paid,
                    invoices,
                    notes,
                    entries,
                    self.today,
                )
            )
        f.documents, f.journals = total.documents, total.journals
        f.duplicates, f.missing = total.duplicates, total.missing
        f.unexpected, f.mismatched = total.unexpected, total.mismatched
        f.unbalanced, f.drafts = total.unbalanced, total.drafts
        f.reconciliation_breaks = total.reconciliation_breaks
        f.problems += total.problems

    async def reconcile(self, book: list[ChaosContract]) -> None:
        """q2c's own ReconciliationWorkflow over the book's contracts, as of today."""
        f = self.figures
        report = await reconcile_contracts(
            self.stack.client,
            task_queue=self.stack.settings.task_queue,
            contract_ids=[self.workflow_id(c.number) for c in book],
            as_of=self.today,
            notify=False,
        )
        f.reconciled = report.compared
        f.reconciliation_mismatches = report.mismatches
        f.reconciliation_skipped = len(report.skipped)
        for contract, difference in report.differences:
            f.problems.append(
                f"{contract.contract_id}: ReconciliationWorkflow: {difference.kind} "
                f"expected {difference.expected}, actual {difference.actual} {difference.detail}"
            )
        for contract in report.skipped:
            f.problems.append(f"{contract.contract_id}: not reconciled: {contract.note}")

    @staticmethod
    def _journals(wants: dict[str, Expected], paid: dict[str, int], c: ChaosContract) -> int:
        return len(wants[c.number].journals) + paid.get(c.number, 0)

    async def paid_counts(self, book: list[ChaosContract]) -> dict[str, int]:
        counts: dict[str, int] = {}
        async with BillingAdapter(self.stack.settings) as billing:
            for contract in book:
                invoices = await billing.list_invoices_for(contract_id=contract.number)
                counts[contract.number] = sum(
                    i.status == "paid" and i.amount_paid > 0 for i in invoices
                )
        return counts


async def run_chaos(config: ChaosConfig, log: Log = print) -> Figures:
    """The whole run; returns the figures (`figures.ok` says whether every check held)."""
    began = time.monotonic()
    today = config.today or dt.datetime.now(dt.UTC).date()
    config.today = today
    book = make_book(config.contracts, config.seed, today, config.max_months_back)
    wants = {c.number: expected(c, today) for c in book}
    activation = {c.number: expected(ChaosContract(c.number, c.raw), today) for c in book}
    async with chaos_stack(
        workers=config.workers,
        ledger_url=config.ledger_url,
        keep_dir=config.keep_dir,
        http_timeout_seconds=config.http_timeout,
    ) as stack:
        h = Harness(config, stack, log)
        h.say(f"stack up in {time.monotonic() - began:.1f}s: {stack.state_dir}")
        await h.book(book)
        h.say(f"booked {len(book)} contracts in Salesforce, products mapped")
        stop = asyncio.Event()
        chaos: list[asyncio.Task[Any]] = []
        if config.faults:
            await h.set_faults(True)
        chaos.append(asyncio.create_task(h.supervisor(stop)))
        if config.kills:
            chaos.append(asyncio.create_task(h.kill_loop(stop)))
        try:
            t = time.monotonic()
            if config.restart_server:
                delay = h.rng.uniform(5.0, 20.0 + len(book) / 4)
                chaos.append(asyncio.create_task(h.restart_server_after(delay)))
            await h.close_won(book)
            h.say(f"closed-won: {len(book)} webhooks sent")
            await h.settle(
                book,
                {
                    c.number: (
                        len(activation[c.number].documents),
                        len(activation[c.number].journals),
                    )
                    for c in book
                },
                "activation caught up",
            )
            h.figures.phases["activation"] = time.monotonic() - t
            t = time.monotonic()
            await h.amend(book)
            h.say("amendments, cancellations and usage sent")
            await h.settle(
                book,
                {
                    c.number: (len(wants[c.number].documents), len(wants[c.number].journals))
                    for c in book
                },
                "amendments applied",
            )
            h.figures.phases["amendments"] = time.monotonic() - t
            t = time.monotonic()
            await h.pay(book, wants)
            await h.drain_background()
            h.say(f"{h.figures.payments} invoices paid")
        finally:
            stop.set()
            for task in chaos:
                if not task.done():
                    task.cancel()
            results = await asyncio.gather(*chaos, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
                    h.figures.problems.append(f"chaos task failed: {result!r}")
        await h.set_faults(False)
        await h.read_fault_counts()
        stack.resting.clear()
        for _ in range(60):
            await stack.supervise()
            if all(stack.alive(w) for w in stack.workers):
                break
            await asyncio.sleep(1)
        paid = await h.paid_counts(book)
        h.figures.phases["payments"] = time.monotonic() - t
        t = time.monotonic()
        await h.check(book, wants, paid)
        h.figures.phases["checks"] = time.monotonic() - t
        f = h.figures
        f.contracts = len(book)
        f.kills, f.worker_restarts = stack.kills, stack.worker_restarts
        f.worker_start_failures = stack.worker_start_failures
        f.server_restarts = stack.server_restarts
        f.webhook_answers = dict(h.answers)
        if dt.datetime.now(dt.UTC).date() != today:
            f.problems.append(f"the business date moved past {today} during the run; run again")
    f.wall_seconds = time.monotonic() - began
    return f


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--contracts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-faults", action="store_true", help="no sandbox faults")
    parser.add_argument("--no-kills", action="store_true", help="no worker kills")
    parser.add_argument("--no-restart", action="store_true", help="no Temporal restart")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--months-back", type=int, default=6, help="oldest start, in months")
    parser.add_argument("--ledger-url", default=None, help="default: fresh PostgreSQL schema")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep-dir", action="store_true", help="keep logs and databases")
    args = parser.parse_args(argv)
    if args.contracts < 1 or args.workers < 1:
        parser.error("--contracts and --workers must be at least 1")
    config = ChaosConfig(
        contracts=args.contracts,
        seed=args.seed,
        faults=not args.no_faults,
        kills=not args.no_kills,
        restart_server=not args.no_restart,
        workers=args.workers,
        max_months_back=args.months_back,
        ledger_url=args.ledger_url,
        keep_dir=args.keep_dir,
    )
    # SIGTERM stops the run like Ctrl-C: everything it started is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    figures = asyncio.run(run_chaos(config, log=lambda m: print(m, file=sys.stderr, flush=True)))
    if args.json:
        print(json.dumps(asdict(figures), indent=2, default=str))
    else:
        print("\n".join(figures.lines()))
        for problem in figures.problems[:50]:
            print(f"  ! {problem}")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
