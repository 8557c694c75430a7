"""`simulation` (what `q2c simulate` runs) with the codec, on the time-skipping server.

`q2c simulate` itself runs its own in-memory server without a codec (nothing is stored); this
drives the whole contract — timers, signals, the cancellation — through a client and worker
that encrypt, and checks the report and that the server holds ciphertext.
"""

from __future__ import annotations

import json

from temporalio.testing import WorkflowEnvironment

from adapters.codec import ENCODING, EncryptionCodec, data_converter_for
from domain.inputs import load_scenario
from starter.binaries import temporal_test_server
from starter.simulate import quiet_runtime, simulation
from tests.codec.test_encrypted_history import (
    CLEAR_BY_DESIGN,
    K1,
    payloads_in,
    stored_history,
    without_clear_by_design,
)
from tests.conftest import SCENARIOS
from tests.workflows.test_simulate_scenarios import without_numbers


async def test_simulate_with_the_codec_on_the_time_skipping_server() -> None:
    """The report is the expected one, and every payload the server holds is ciphertext."""
    path = SCENARIOS / "08-cancellation-mid-period.json"
    text = path.read_text(encoding="utf-8")
    expected = json.loads(path.with_name(f"{path.stem}.report.json").read_text(encoding="utf-8"))
    scenario = load_scenario(text, source=path.name)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()),
        data_converter=data_converter_for(EncryptionCodec(K1)),
        runtime=quiet_runtime(),
    )
    async with env, simulation(scenario, json.loads(text), env=env) as sim:
        assert without_numbers(sim.report.to_json()) == without_numbers(expected)
        events = await stored_history(env.client, sim.workflow_id)
    found = [(path, p) for event in events for path, p in payloads_in(event)]
    assert any("signaled" in path for path, _ in found)
    assert len(found) > 20
    for where, payload in found:
        if not any(c in where for c in CLEAR_BY_DESIGN):
            assert payload.metadata["encoding"] == ENCODING, where
    stored = b"".join(without_clear_by_design(e) for e in events)
    assert scenario.contract.customer.name.encode() not in stored
