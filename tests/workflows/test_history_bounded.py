"""A long contract's history stays bounded: it continues-as-new, and stays correct doing so.

The full measure (10 years, 40 amendments, about a minute) is `benchmarks/bench_history.py`,
figures in docs/PERFORMANCE.md. Here a 3-year monthly contract with 12 amendments (upsells at
SSP, price increases, added lines, reductions) runs to a month after its end, and a year in, a
webhook redelivery storm (the same amendment signalled again and again) pushes the run past
the workflow's own continue-as-new threshold, so the chain is certain to have more than one
run whatever the server suggests. Every run must stay under 10,000 events (Temporal refuses a
history of 51,200 and warns from 10,240), the duplicates must change nothing after the
continue-as-new either, and the report read back from the systems must be the domain's, as
must every billing document and ERP journal (the checks of test_simulate_scenarios.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from benchmarks.bench_history import long_scenario, measure
from starter.simulate import ProcessedDay
from tests.workflows.test_simulate_scenarios import check_systems_match_domain, without_numbers
from workflows.contract import CONTINUE_AS_NEW_EVENTS, ContractWorkflow
from workflows.contract_models import AmendmentRequest

RUN_BOUND = 10_000
STORM_BATCH = 50


async def test_long_contract_continues_as_new_and_stays_correct() -> None:
    raw = long_scenario(years=3, amendments=12)
    storm_day = dt.date.fromisoformat(raw["contract"]["start_date"]) + dt.timedelta(days=365)
    end_date = dt.date.fromisoformat(raw["contract"]["end_date"])
    stormed: list[dt.date] = []

    async def redeliver(day: ProcessedDay) -> None:
        """A year in, the first amendment's webhook redelivered past the threshold; then
        again on every later day (into the runs after the continue-as-new)."""
        if not storm_day <= day.date <= end_date:  # after the end the workflow completes
            return
        request = AmendmentRequest(amendment_id=day.amendment_ids[0])
        if stormed:
            await day.handle.signal(ContractWorkflow.amendment, request)
            return
        stormed.append(day.date)
        while (await day.handle.describe()).history_length <= CONTINUE_AS_NEW_EVENTS:
            await asyncio.gather(
                *(
                    day.handle.signal(ContractWorkflow.amendment, request)
                    for _ in range(STORM_BATCH)
                )
            )

    result = await measure(raw, on_day=redeliver, inspect=check_systems_match_domain)

    assert stormed, "the storm never ran"
    assert len(result.run_events) >= 2, f"no continue-as-new: {result.run_events}"
    assert result.run_events[0] > CONTINUE_AS_NEW_EVENTS
    assert result.largest_run <= RUN_BOUND, result.run_events
    assert result.report.status == "Expired"
    assert without_numbers(result.report.to_json()) == without_numbers(
        result.domain_report.to_json()
    )
