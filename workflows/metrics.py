"""Business metrics of the contract workflow (names as in adapters/observability/metrics.py).

Emitted through `workflow.metric_meter()`, the worker's runtime: on the worker's Prometheus
endpoint next to the SDK's metrics. The SDK drops a workflow's metric updates while it replays,
so an event is counted once, when it happens. Nothing here adds a command to the history.

The amendment backlog is a value, not an event: each contract reports its count of amendments
received and not yet taken into this module (imported through the sandbox, so one table per
process, replays included), and the worker publishes the sum as a gauge. A contract's entry
leaves with its instance when the worker evicts it from the cache.
"""

from __future__ import annotations

import itertools
import threading
import weakref

from temporalio import workflow

QUOTE_TO_BILL = "q2c_quote_to_bill_latency_seconds"
INVOICE_POSTINGS = "q2c_invoice_postings"
JOURNAL_POSTINGS = "q2c_journal_postings"
PARKED = "parked"

# The posting activities, by name, and what they post.
POSTINGS = {"issue_document": INVOICE_POSTINGS, "post_journal": JOURNAL_POSTINGS}

_lock = threading.Lock()
_tokens = itertools.count()
_backlog: dict[str, tuple[int, int]] = {}  # workflow id → (owner token, amendments waiting)


def quote_to_bill(seconds: float) -> None:
    """Closed-won to first invoice posted to the ERP, for this contract (once).

    Closed-won is when the contract's workflow started: the closed-won webhook (or `q2c start`)
    starts it, with the second's precision. The opportunity's `CloseDate` is a date only, set
    by sales (often back-dated to the contract's start), so it would measure how far back a
    deal was dated, not how long q2c took to bill it.
    """
    workflow.metric_meter().create_histogram_float(
        QUOTE_TO_BILL, "Closed-won to the contract's first invoice posted to the ERP.", "s"
    ).record(max(seconds, 0.0))


def posting_parked(activity_name: str, kind: str | None) -> None:
    """A posting the contract parked on (a business error, or an outage past the window)."""
    name = POSTINGS.get(activity_name)
    if name is None:
        return
    attributes = {"outcome": PARKED}
    if name == INVOICE_POSTINGS:
        attributes["kind"] = kind or "invoice"
    workflow.metric_meter().create_counter(name, "Postings by outcome.").add(1, attributes)


def track(instance: object) -> int:
    """A token owning this workflow instance's backlog entry, dropped with the instance."""
    token = next(_tokens)
    weakref.finalize(instance, _forget, workflow.info().workflow_id, token)
    return token


def amendment_backlog(token: int, waiting: int) -> None:
    """This contract has `waiting` amendments received and not yet applied or refused."""
    workflow_id = workflow.info().workflow_id
    with _lock:
        if waiting > 0:
            _backlog[workflow_id] = (token, waiting)
        else:
            _backlog.pop(workflow_id, None)


def backlog_total() -> int:
    with _lock:
        return sum(waiting for _, waiting in _backlog.values())


def _forget(workflow_id: str, token: int) -> None:
    with _lock:
        entry = _backlog.get(workflow_id)
        if entry is not None and entry[0] == token:
            del _backlog[workflow_id]
