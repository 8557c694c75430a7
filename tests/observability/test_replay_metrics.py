"""A replayed contract emits no business metric: quote-to-bill and parked postings are counted
once, when they happen, not again by the worker that picks the contract up after a deploy."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.worker import Replayer

from tests.workflows.test_replay_histories import history_files
from workflows import metrics as workflow_metrics
from workflows.contract import ContractWorkflow


async def test_replaying_recorded_contracts_emits_no_business_metric(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[float] = []
    emit = workflow_metrics.quote_to_bill

    def recording(seconds: float) -> None:
        calls.append(seconds)
        emit(seconds)

    monkeypatch.setattr(workflow_metrics, "quote_to_bill", recording)
    buffer = MetricBuffer(100_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    replayer = Replayer(
        workflows=[ContractWorkflow], data_converter=pydantic_data_converter, runtime=runtime
    )
    paths = history_files()
    histories = [WorkflowHistory.from_json(f"replay-{p.stem}", p.read_text()) for p in paths]
    for history in histories:
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None
    # The emitting code ran for every contract's first invoice journal, ...
    assert len(calls) == len(histories)
    # ... and yet nothing q2c_ reached the runtime (the SDK's own replay metrics may).
    runtime.metric_meter.create_counter("q2c_probe").add(1)  # what the buffer would show
    names = {update.metric.name for update in buffer.retrieve_updates()}
    assert {n for n in names if n.startswith("q2c_")} == {"q2c_probe"}, names
