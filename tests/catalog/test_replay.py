"""CatalogSyncWorkflow replays the histories recorded in tests/catalog/histories.

`before-paging.json` is a whole run of the code before patch `catalog-sync-paged` (one read of
the whole catalog), recorded on the dev server: a sync in flight at the deploy must finish on
the new code. `paged-first-run.json` (ends in continue-as-new) and `paged-last-run.json`
(retires a deactivated product, retries parked contracts) are the two runs of a paged sync.
Not in tests/histories: those are ContractWorkflow's and replayed as such.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.catalog_io import CatalogSyncInput, CatalogSyncResult
from workflows.catalog_sync import CatalogSyncWorkflow

HISTORIES = Path(__file__).parent / "histories"


def load(name: str) -> WorkflowHistory:
    path = HISTORIES / name
    return WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "name", ["before-paging.json", "paged-first-run.json", "paged-last-run.json"]
)
async def test_recorded_catalog_sync_replays(name: str) -> None:
    replayer = Replayer(workflows=[CatalogSyncWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(load(name))
    assert result.replay_failure is None


@workflow.defn(name="CatalogSync")
class UnguardedCatalogSync(CatalogSyncWorkflow):
    """The paged sync without its `workflow.patched` guard: what the guard is there for."""

    @workflow.run
    async def run(self, input: CatalogSyncInput) -> CatalogSyncResult:
        self._window = timedelta(seconds=input.vendor_window_seconds)
        return await self._paged(input)


async def test_the_run_before_paging_needs_the_patch_guard() -> None:
    replayer = Replayer(workflows=[UnguardedCatalogSync], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(
        load("before-paging.json"), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
