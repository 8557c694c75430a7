"""The observed demo: business metrics on the worker's endpoint, one trace from webhook to HTTP
call, JSON log lines with the contract id, and not one secret, card number or IBAN in any log."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest
from opentelemetry.trace import SpanKind

from adapters.observability.logging import iban_valid, luhn_valid
from adapters.observability.metrics import BUSINESS_METRICS, RECONCILIATION_MISMATCHES
from tests.observability.conftest import SECRETS, Observed, scrape

pytestmark = [pytest.mark.devserver, pytest.mark.slow]


def _samples(page: str, name: str) -> dict[str, float]:
    """`labels → value` of metric `name` on a Prometheus text page."""
    found = {}
    for line in page.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def test_the_worker_endpoint_exposes_every_business_metric_and_the_sdk_ones(
    observed: Observed,
) -> None:
    assert observed.statuses["Q2C-3005"].stage == "NeedsAttention"
    page = await scrape(observed.metrics_url)

    exposed = set(re.findall(r"^# TYPE (\S+) ", page, re.M))
    assert set(BUSINESS_METRICS) <= exposed, set(BUSINESS_METRICS) - exposed

    latency = _samples(page, "q2c_quote_to_bill_latency_seconds_count")
    # One per contract that invoiced: all but the one stuck on its mapping.
    assert sum(latency.values()) == 3
    invoices = _samples(page, "q2c_invoice_postings_total")
    posted = sum(
        v for k, v in invoices.items() if 'outcome="posted"' in k and 'kind="invoice"' in k
    )
    assert posted >= 3
    assert any('kind="credit_note"' in k for k in invoices)  # the cancellation's credit
    journals = _samples(page, "q2c_journal_postings_total")
    assert sum(v for k, v in journals.items() if 'outcome="posted"' in k) > posted
    assert sum(v for k, v in journals.items() if 'outcome="retrying"' in k) > 0  # ERP faults
    attention = _samples(page, "q2c_contracts_needs_attention")
    assert [v for k, v in attention.items() if 'reason="missing_product_mapping"' in k] == [1.0]
    # The demo's amendments were applied; the one sent to the parked contract waits.
    assert sum(_samples(page, "q2c_amendment_backlog").values()) == 1

    # The reconciliation run's gauge: one line per check, as many as the run reported.
    mismatches = _samples(page, RECONCILIATION_MISMATCHES)
    assert len(mismatches) >= 4
    assert sum(mismatches.values()) == observed.reconciled.mismatches

    # The SDK's own, on the same page: task latencies, schedule-to-start, failures.
    for sdk in (
        "temporal_workflow_task_execution_latency",
        "temporal_activity_schedule_to_start_latency",
        "temporal_activity_execution_latency",
        "temporal_workflow_completed_total",
    ):
        assert any(name.startswith(sdk) for name in exposed), sdk


def test_one_trace_spans_the_webhook_the_workflow_an_activity_and_an_http_call(
    observed: Observed,
) -> None:
    by_trace = defaultdict(list)
    for span in observed.spans:
        assert span.context is not None
        by_trace[span.context.trace_id].append(span)

    def complete(spans: list) -> bool:  # type: ignore[type-arg]
        names = [s.name for s in spans]
        return (
            any(s.kind == SpanKind.SERVER and "/webhooks/salesforce" in s.name for s in spans)
            and any(n.startswith("SignalWithStartWorkflow:Contract") for n in names)
            and any(n.startswith("RunWorkflow:Contract") for n in names)
            and any(n.startswith("RunActivity:read_booking") for n in names)
            and any(
                s.kind == SpanKind.CLIENT
                and s.name.startswith(("GET", "POST", "PATCH"))
                and s.parent is not None
                and s.parent.span_id in activity_ids(spans)
                for s in spans
            )
        )

    def activity_ids(spans: list) -> set[int]:  # type: ignore[type-arg]
        return {s.context.span_id for s in spans if s.name.startswith("RunActivity:")}

    traced = [t for t, spans in by_trace.items() if complete(spans)]
    # Every closed-won webhook of the demo starts a trace that reaches the vendors.
    assert len(traced) >= 3, sorted({s.name.split(":")[0] for s in observed.spans})


def test_log_lines_are_json_with_the_contract_id_in_a_contract_context(observed: Observed) -> None:
    lines = observed.log_lines()
    assert len(lines) > 20
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    contract_ids = {s.contract_id for s in observed.statuses.values()}
    in_contract = [
        r
        for r in records
        for info in (r.get("temporal_activity") or r.get("temporal_workflow") or {},)
        if str(info.get("workflow_id", "")).startswith("contract-")
    ]
    assert in_contract, "no activity or workflow log line"
    for record in in_contract:
        assert record.get("contract_id") in contract_ids, record
    parked = [r for r in records if "contract parked" in r["message"]]
    assert parked and all(
        r["contract_id"] == observed.statuses["Q2C-3005"].contract_id for r in parked
    )
    webhook = [r for r in records if r["logger"] == "q2c.webhooks"]
    assert len(webhook) >= 8  # 4 closed-won, amendments, payments, one redelivery
    assert all(r.get("contract_id") in contract_ids for r in webhook)
    postings = [r for r in records if r["logger"] == "q2c.activities"]
    assert postings and all(r.get("contract_id") in contract_ids for r in postings)


def test_no_secret_card_number_or_bank_account_in_any_log_or_cli_output(
    observed: Observed,
) -> None:
    text = observed.logs + "".join(r.out + r.err for r in observed.cli)
    assert observed.logs and all(r.code == 0 for r in observed.cli), observed.cli
    for name, value in SECRETS.items():
        assert value not in text, f"{name} leaked"
        for part in value.split(":"):  # the key id is public, the key material is not
            if len(part) > 12:
                assert part not in text, f"{name} leaked"
    cards = [
        m.group(0)
        for m in re.finditer(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w.])", text)
        if luhn_valid(re.sub(r"\D", "", m.group(0))) and m.group(0)[0] in "23456"
    ]
    assert cards == []
    ibans = [
        m.group(0)
        for m in re.finditer(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", text)
        if iban_valid(m.group(0))
    ]
    assert ibans == []
    assert not re.search(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?(bearer|basic)\s+\w", text)
    # The careless lines were written, and redacted (the scan above could have failed).
    careless = [json.loads(line) for line in observed.log_lines() if '"q2c.careless"' in line]
    assert len(careless) == 5 and all("REDACTED" in json.dumps(r) for r in careless)
    assert "hunter2-obsv" not in text
