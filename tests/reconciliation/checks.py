"""What a clean book must look like to reconciliation, for tests that simulate a scenario.

`tests/workflows/test_simulate_scenarios.py` calls `assert_reconciles_clean` on every shared
scenario it runs through the real workflow (one simulation serves both checks), and the drift
tests here use `reconcile`.
"""

from __future__ import annotations

import datetime as dt

from temporalio.testing import WorkflowEnvironment

from adapters.database import make_engine
from adapters.reconciliation_store import ReconciliationStore
from domain.reconciliation import ContractReconciliation, ReconciliationReport
from domain.schedule import build_schedule
from starter.simulate import Simulation
from workflows.reconciliation import reconcile_contracts


async def reconcile(
    env: WorkflowEnvironment, sim: Simulation, as_of: dt.date | None = None
) -> ReconciliationReport:
    """Reconcile the simulated contract as of a day (default the scenario's `as_of`)."""
    # The contract must not move on while the reconciliation runs (no time skipping).
    with env.auto_time_skipping_disabled():
        return await reconcile_contracts(
            sim.client,
            task_queue=sim.settings.task_queue,
            contract_ids=[sim.opportunity_id],
            as_of=as_of or sim.scenario.as_of,
        )


def only(report: ReconciliationReport) -> ContractReconciliation:
    assert len(report.contracts) == 1, report
    return report.contracts[0]


async def assert_reconciles_clean(env: WorkflowEnvironment, sim: Simulation) -> None:
    """No difference at all on the scenario's `as_of` (no false alarm), the figures the domain
    engine gives, and the run recorded in the simulation's ledger."""
    scenario = sim.scenario
    report = await reconcile(env, sim)
    result = only(report)
    assert result.status == "Clean", result.differences
    assert result.differences == []
    assert result.contract_id == scenario.contract.id
    assert result.checked_through == scenario.as_of
    expected = build_schedule(scenario.contract, scenario.amendments, scenario.usage)
    assert result.figures["transaction_price"] == expected.transaction_price
    assert result.figures["billed"] == expected.billed_through(scenario.as_of)
    engine = make_engine(sim.settings.database_url)
    try:
        store = ReconciliationStore(engine)
        run = store.run(report.run_id)
        assert run is not None
        assert (run.contracts, run.mismatches, run.as_of) == (1, 0, scenario.as_of)
        assert list(store.differences(report.run_id)) == []
    finally:
        engine.dispose()
