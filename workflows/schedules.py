"""Client-side: keep a Temporal Schedule as the settings describe it (`q2c dev`, the CLI).

No workflow code here; the catalog sync's and the reconciliation's schedules both go through
`ensure_schedule`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

ScheduleOutcome = Literal["created", "updated", "unchanged"]


async def ensure_schedule(
    client: Client,
    schedule_id: str,
    wanted: Schedule,
    same: Callable[[Schedule, Schedule], bool] | None = None,
) -> ScheduleOutcome:
    """Create the schedule `schedule_id` as `wanted`, or update an existing one to it, keeping
    its state (a pause, and its note, an operator set). With `same` the existing schedule is
    read first and left alone ("unchanged") when `same(current, wanted)`."""
    try:
        await client.create_schedule(schedule_id, wanted)
        return "created"
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)
    if same is not None and same((await handle.describe()).schedule, wanted):
        return "unchanged"

    def update(found: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(
            schedule=dataclasses.replace(wanted, state=found.description.schedule.state)
        )

    await handle.update(update)
    return "updated"
