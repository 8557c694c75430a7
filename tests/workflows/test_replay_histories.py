"""The workflow code replays every recorded history in tests/histories without nondeterminism.

A contract's workflow lives for years; the worker that picks it up after a deploy replays its
history with the new code, which must issue the same commands. Each recorded history (one per
shared scenario and run, `scripts/record_histories.py`) is replayed here by
`temporalio.worker.Replayer`, which raises on the first mismatch.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.conftest import REPO
from tests.workflows.test_simulate_scenarios import scenario_files
from workflows.contract import ContractWorkflow
from workflows.contract_models import ContractInput, ContractOutcome

HISTORIES = REPO / "tests" / "histories"


def history_files() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


def replayer(*workflows: type) -> Replayer:
    return Replayer(workflows=list(workflows), data_converter=pydantic_data_converter)


def test_every_scenario_has_a_recorded_history() -> None:
    recorded = {p.name.split(".")[0] for p in history_files()}
    missing = [p.stem for p in scenario_files() if p.stem not in recorded]
    assert not missing, f"record with scripts/record_histories.py: {missing}"


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    history = load(path)
    assert len(history.events) > 50  # a whole simulated contract, not a stub
    result = await replayer(ContractWorkflow).replay_workflow(history)
    assert result.replay_failure is None


@workflow.defn(name="Contract", sandboxed=False)  # this module imports what a sandbox refuses
class DriftedContractWorkflow:
    """The contract workflow as a careless change would leave it: a new timer up front."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        await workflow.sleep(timedelta(seconds=1))
        raise AssertionError("unreachable in replay")


async def test_a_changed_workflow_fails_the_replay() -> None:
    """The replay test can fail: code that issues other commands is nondeterministic."""
    with pytest.raises(workflow.NondeterminismError):
        await replayer(DriftedContractWorkflow).replay_workflow(load(history_files()[0]))
