"""The replay of recorded histories catches an incompatible change, and `workflow.patched` is
the way to ship one.

Two variants of the real ContractWorkflow, registered under its name "Contract", each making
one change a developer might make before activation (a pause, or one more activity):
- unguarded, every recorded history fails to replay with a nondeterminism error (the replay
  of tests/histories in CI would stop the deploy);
- the same change behind `workflow.patched(...)` replays every recorded history cleanly: a
  running contract whose history has no patch marker keeps the old path.
Built here, by subclassing; workflows/contract.py is not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.worker import Replayer

from activities.contract import ContractActivities
from activities.contract_io import ReadBooking
from tests.workflows.test_replay_histories import history_files, load, replayer
from workflows.contract import ContractWorkflow
from workflows.contract_models import ContractInput, ContractOutcome

PATCH_ID = "pause-before-activation"


PATCH_ANSWERS: list[bool] = []  # what `workflow.patched` said, replay after replay


def _patched() -> bool:
    answer = workflow.patched(PATCH_ID)
    PATCH_ANSWERS.append(answer)
    return answer


async def _pause() -> None:
    await workflow.sleep(timedelta(seconds=5))


async def _read_booking_twice(self: ContractWorkflow) -> None:
    await workflow.execute_activity_method(
        ContractActivities.read_booking,
        ReadBooking(opportunity_id=self.s.opportunity_id),
        start_to_close_timeout=timedelta(seconds=30),
    )


@workflow.defn(name="Contract", sandboxed=False)  # this module imports what a sandbox refuses
class PausingContract(ContractWorkflow):
    """A timer before activation, unguarded."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        return await super().run(input)

    async def _activate(self) -> None:
        await _pause()
        await super()._activate()


@workflow.defn(name="Contract", sandboxed=False)
class PatchedPausingContract(ContractWorkflow):
    """The same timer, only for runs that reach this code before activating."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        return await super().run(input)

    async def _activate(self) -> None:
        if _patched():
            await _pause()
        await super()._activate()


@workflow.defn(name="Contract", sandboxed=False)
class RereadingContract(ContractWorkflow):
    """One more activity before activation, unguarded."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        return await super().run(input)

    async def _activate(self) -> None:
        await _read_booking_twice(self)
        await super()._activate()


@workflow.defn(name="Contract", sandboxed=False)
class PatchedRereadingContract(ContractWorkflow):
    """The same activity behind a patch."""

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        return await super().run(input)

    async def _activate(self) -> None:
        if _patched():
            await _read_booking_twice(self)
        await super()._activate()


CHANGES = {
    "timer": (PausingContract, PatchedPausingContract),
    "activity": (RereadingContract, PatchedRereadingContract),
}
HISTORIES = [p for p in history_files() if ".run-" not in p.name]  # first runs activate


async def _replay_each(make: Callable[[], Replayer], paths: list[Path]) -> dict[str, str | None]:
    """Each history's replay failure (None: it replayed)."""
    outcome: dict[str, str | None] = {}
    for path in paths:
        result = await make().replay_workflow(load(path), raise_on_replay_failure=False)
        failure = result.replay_failure
        outcome[path.stem] = None if failure is None else f"{type(failure).__name__}: {failure}"
    return outcome


def test_there_are_histories_that_activate() -> None:
    assert len(HISTORIES) >= 8


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_an_unguarded_change_fails_every_replay(change: str) -> None:
    unguarded, _ = CHANGES[change]
    outcome = await _replay_each(lambda: replayer(unguarded), HISTORIES)
    for name, failure in outcome.items():
        assert failure is not None, f"{name}: a {change} before activation replayed"
        assert "Nondeterminism" in failure, f"{name}: {failure}"


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_the_same_change_behind_a_patch_replays_every_history(change: str) -> None:
    _, patched = CHANGES[change]
    PATCH_ANSWERS.clear()
    outcome = await _replay_each(lambda: replayer(patched), HISTORIES)
    assert outcome == dict.fromkeys(outcome)  # no failure at all
    # The guard was reached in every replay, and said "old path" (no marker in the history).
    assert [False] * len(HISTORIES) == PATCH_ANSWERS


async def test_the_unguarded_change_raises_from_replay_workflow() -> None:
    """As CI's replay test sees it: `replay_workflow` raises (it does not just report)."""
    with pytest.raises(workflow.NondeterminismError):
        await replayer(PausingContract).replay_workflow(load(HISTORIES[0]))
