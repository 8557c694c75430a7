"""A contract outliving its run's timeout continues as new before it (patch
continue-before-run-timeout).

The time-skipping test server caps every run at 10 years: `bench_history`'s 10-year contract,
kept in one run once its history stayed under the server's continue-as-new suggestion, timed
out on its business day 2036-01-13 and never expired. Here the same happens in seconds with a
run timeout of 40 days on a year-long contract with a prospective upsell.
"""

from __future__ import annotations

import datetime as dt
import json

from domain.inputs import load_scenario
from starter.simulate import simulation
from tests.conftest import SCENARIOS
from tests.workflows.test_simulate_scenarios import read_scenario, without_numbers


async def test_contract_continues_as_new_before_its_run_times_out() -> None:
    path = SCENARIOS / "05-mid-period-upsell-below-ssp-prospective.json"
    text, expected = read_scenario(path)
    scenario = load_scenario(text, source=path.name)
    run_timeout = dt.timedelta(days=40)
    async with simulation(scenario, json.loads(text), run_timeout=run_timeout) as sim:
        assert without_numbers(sim.report.to_json()) == without_numbers(expected)
        histories = await sim.run_histories()
    span = scenario.as_of - scenario.contract.start_date
    assert len(histories) > span / run_timeout  # each run ended before its timeout
    for history in histories:
        assert not any(
            e.HasField("workflow_execution_timed_out_event_attributes") for e in history.events
        )
