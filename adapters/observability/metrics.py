"""The worker's Prometheus endpoint: the Temporal SDK's runtime metrics and q2c's business metrics.

One `temporalio.runtime.Runtime` per process exports everything on `Q2C_METRICS_BIND` (`/metrics`):
the SDK's own metrics, named `temporal_*` (its `metric_prefix`), and q2c's, named `q2c_*`, which
the SDK exports as they are created (the prefix applies to the SDK's metrics only). Counters get
the OpenMetrics `_total` suffix and durations are in seconds.

Business metrics (the names as scraped; `deploy/grafana/q2c-dashboard.json` shows each):

- `q2c_quote_to_bill_latency_seconds` (histogram): from closed-won (the start of the contract's
  workflow by the closed-won webhook or `q2c start`) to its first invoice journal posted to the
  ERP; once per contract, from the workflow (the SDK emits nothing while a workflow replays).
- `q2c_invoice_postings_total{kind, outcome}` and `q2c_journal_postings_total{outcome}`:
  documents issued in billing and journals posted to the ERP, by outcome: `posted`, `duplicate`
  (already in the ledger: the effect is returned as recorded), `retrying` (a transient error;
  Temporal retries), `failed` (a business error) and `parked` (the contract parked on it).
- `q2c_amendment_backlog` (gauge): amendments received by the contracts this worker holds and not
  yet applied or refused; sum over workers.
- `q2c_contracts_needs_attention{reason}` (gauge): running contracts in `NeedsAttention`, by
  `AttentionReason`, counted through Temporal visibility every `Q2C_METRICS_REFRESH_SECONDS`; every
  worker reports the same count, so take the max over workers.
- `q2c_reconciliation_mismatches{kind}` (gauge): differences the last reconciliation run
  recorded in the ledger found, by check (every kind of `domain.reconciliation.KINDS`, 0 where
  none), read from the ledger (`q2c_recon_run`, `q2c_recon_difference`) every
  `Q2C_METRICS_REFRESH_SECONDS`; no series before the first run. Every worker reads the same
  ledger and reports the same numbers, whichever worker ran the run: take the max over workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import MetricMeter, SearchAttributeKey
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from adapters.reconciliation_store import ReconciliationStore
from adapters.settings import ConfigError
from domain.reconciliation import KINDS

log = logging.getLogger("q2c.metrics")

# As created (counters are scraped with `_total` appended).
QUOTE_TO_BILL = "q2c_quote_to_bill_latency_seconds"
INVOICE_POSTINGS = "q2c_invoice_postings"
JOURNAL_POSTINGS = "q2c_journal_postings"
AMENDMENT_BACKLOG = "q2c_amendment_backlog"
NEEDS_ATTENTION = "q2c_contracts_needs_attention"
RECONCILIATION_MISMATCHES = "q2c_reconciliation_mismatches"

# As scraped by Prometheus (what the dashboard queries).
BUSINESS_METRICS: tuple[str, ...] = (
    QUOTE_TO_BILL,
    f"{INVOICE_POSTINGS}_total",
    f"{JOURNAL_POSTINGS}_total",
    AMENDMENT_BACKLOG,
    NEEDS_ATTENTION,
    RECONCILIATION_MISMATCHES,
)

DESCRIPTIONS = {
    QUOTE_TO_BILL: "Closed-won to the contract's first invoice posted to the ERP.",
    INVOICE_POSTINGS: "Invoices and credit notes issued in billing, by outcome.",
    JOURNAL_POSTINGS: "Journal entries posted to the ERP, by outcome.",
    AMENDMENT_BACKLOG: "Amendments received and not yet applied (contracts this worker holds).",
    NEEDS_ATTENTION: "Running contracts parked in NeedsAttention, by reason.",
    RECONCILIATION_MISMATCHES: "Differences the last reconciliation run found, by check.",
}

# Seconds: a contract that catches up bills within seconds, one starting next quarter in months.
QUOTE_TO_BILL_BUCKETS: tuple[float, ...] = (
    1,
    10,
    60,
    300,
    900,
    3600,
    4 * 3600,
    86400,
    7 * 86400,
    30 * 86400,
    90 * 86400,
)

POSTED, DUPLICATE, RETRYING, FAILED, PARKED = "posted", "duplicate", "retrying", "failed", "parked"
DOCUMENT_KINDS = frozenset({"invoice", "credit_note"})

_runtimes: dict[str, Runtime] = {}


def worker_runtime(bind: str) -> Runtime:
    """The worker's runtime, created once per process and address.

    The core SDK's own log lines are forwarded to the Python logger `temporalio.core` (so they
    are JSON and redacted like every other line), and with `bind` (`host:port`) it serves the
    Prometheus endpoint. Only the worker passes it to its client: the CLI, the webhook receiver
    and tests connect with the SDK's default runtime, so nothing else listens on the port.
    """
    bind = bind.strip()
    if bind not in _runtimes:
        metrics = None
        if bind:
            metrics = PrometheusConfig(
                bind_address=bind,
                counters_total_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides={QUOTE_TO_BILL: list(QUOTE_TO_BILL_BUCKETS)},
            )
        logs = LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
        try:
            _runtimes[bind] = Runtime(telemetry=TelemetryConfig(logging=logs, metrics=metrics))
        except Exception as exc:  # the core SDK raises plain errors: port taken, bad address
            raise ConfigError(
                f"Q2C_METRICS_BIND: cannot serve metrics on {bind!r}: {exc}"
            ) from None
    return _runtimes[bind]


def metrics_runtime(bind: str) -> Runtime | None:
    """`worker_runtime(bind)` when metrics are on (`bind` set), else None."""
    return worker_runtime(bind) if bind.strip() else None


def record_posting(kind: str, outcome: str) -> None:
    """Count an invoice, credit note or journal posting by outcome (in an activity; else no-op)."""
    if not activity.in_activity():
        return
    meter = activity.metric_meter()
    if kind in DOCUMENT_KINDS:
        counter = meter.create_counter(INVOICE_POSTINGS, DESCRIPTIONS[INVOICE_POSTINGS])
        counter.add(1, {"kind": kind, "outcome": outcome})
    else:
        counter = meter.create_counter(JOURNAL_POSTINGS, DESCRIPTIONS[JOURNAL_POSTINGS])
        counter.add(1, {"outcome": outcome})


class ReconciliationGauge:
    """`q2c_reconciliation_mismatches{kind}` from the last run recorded in the ledger.

    Every worker reads the same ledger, so every worker reports the last run's differences,
    whichever worker ran it (the gauge is not set from the workflow: a worker that did not run
    the last reconciliation would keep an older run's numbers). Every kind is set, 0 where the
    run found none; before any run is recorded nothing is set. The ledger is read in a thread
    (SQLAlchemy blocks).
    """

    def __init__(self, meter: MetricMeter, ledger: Engine) -> None:
        self.store = ReconciliationStore(ledger)
        self._gauge = meter.create_gauge(
            RECONCILIATION_MISMATCHES, DESCRIPTIONS[RECONCILIATION_MISMATCHES]
        )

    async def refresh(self) -> dict[str, int] | None:
        """Set the gauge from the newest run; its mismatches by kind, None before any run."""
        found = await asyncio.to_thread(self._last_run)
        if found is None:
            return None
        for kind, count in found.items():
            self._gauge.set(count, {"kind": kind})
        return found

    def _last_run(self) -> dict[str, int] | None:
        runs = self.store.runs(limit=1)
        if not runs:
            return None
        counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        counts.update(self.store.differences_by_kind(runs[0].run_id))
        return counts


class ContractGauges:
    """Gauges refreshed in the worker's background: parked contracts by reason, the backlog,
    and (with `ledger`) the last reconciliation run's mismatches (`ReconciliationGauge`).

    Parked contracts are listed through Temporal visibility (only those in NeedsAttention, a
    handful in a healthy book), read by their `AttentionReason`; a reason seen once is reported
    as 0 when no contract has it any more, so its line on the dashboard drops to zero.
    """

    LIMIT = 10_000

    def __init__(
        self,
        client: Client,
        meter: MetricMeter,
        *,
        interval_seconds: float,
        backlog: Callable[[], int],
        attention_query: str,
        reason_key: SearchAttributeKey[str],
        ledger: Engine | None = None,
    ) -> None:
        self.client = client
        self.interval = interval_seconds
        self.backlog = backlog
        self.query = attention_query
        self.reason_key = reason_key
        self.reconciliation = ReconciliationGauge(meter, ledger) if ledger is not None else None
        self._attention = meter.create_gauge(NEEDS_ATTENTION, DESCRIPTIONS[NEEDS_ATTENTION])
        self._backlog = meter.create_gauge(AMENDMENT_BACKLOG, DESCRIPTIONS[AMENDMENT_BACKLOG])
        self._reasons: set[str] = set()
        self._warned: set[str] = set()

    async def refresh(self) -> dict[str, int]:
        """Every gauge once (the attention counts are returned); raises what failed."""
        counts = await self.refresh_attention()
        if self.reconciliation is not None:
            await self.reconciliation.refresh()
        return counts

    async def refresh_attention(self) -> dict[str, int]:
        """The backlog, and the parked contracts by reason (counted through visibility)."""
        self._backlog.set(max(self.backlog(), 0))
        counts: Counter[str] = Counter()
        async for execution in self.client.list_workflows(self.query, limit=self.LIMIT):
            reason = execution.typed_search_attributes.get(self.reason_key)
            counts[reason or "unknown"] += 1
        self._reasons |= set(counts)
        for reason in sorted(self._reasons):
            self._attention.set(counts.get(reason, 0), {"reason": reason})
        return dict(counts)

    async def run(self) -> None:
        """Refresh every interval until cancelled; each part refreshes on its own (a ledger
        down does not stop the parked contracts' count), a failure is logged once and retried."""
        while True:
            await self._guarded("cannot count parked contracts", self.refresh_attention)
            if self.reconciliation is not None:
                await self._guarded(
                    "cannot read the last reconciliation run", self.reconciliation.refresh
                )
            await asyncio.sleep(self.interval)

    async def _guarded(self, what: str, refresh: Callable[[], Awaitable[object]]) -> None:
        try:
            await refresh()
            self._warned.discard(what)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if what not in self._warned:
                log.warning("metrics: %s: %s", what, _first_line(exc))
                self._warned.add(what)


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def scraped_names(page: str) -> Sequence[str]:
    """The metric names of a Prometheus text page (for tests and `q2c doctor`-like checks)."""
    names = []
    for line in page.splitlines():
        if line.startswith("# TYPE "):
            names.append(line.split()[2])
    return names
