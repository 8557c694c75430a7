"""Record the ContractWorkflow histories that the replay test holds the workflow code to.

Runs every shared scenario (or those named) through `q2c simulate`'s machinery and saves the
workflow's history as Temporal's JSON (`WorkflowHistory.to_json()`) in `tests/histories/`:
`<scenario>.json` for the first run and `<scenario>.run-<n>.json` for each run after a
continue-as-new. Re-record only on purpose (see tests/histories/README.md): a recorded history
is what a running contract's workflow would replay.

    .venv/bin/python scripts/record_histories.py [SCENARIO-STEM ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.inputs import load_scenario
from starter.binaries import temporal_test_server
from starter.simulate import quiet_runtime, simulation

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = (REPO.parent / "shared" / "scenarios").resolve()
HISTORIES = REPO / "tests" / "histories"


def history_files(stem: str, histories: list[WorkflowHistory]) -> dict[str, str]:
    """File name → history JSON, one per run of the continue-as-new chain."""
    return {
        (f"{stem}.json" if n == 1 else f"{stem}.run-{n}.json"): history.to_json() + "\n"
        for n, history in enumerate(histories, start=1)
    }


def save(stem: str, histories: list[WorkflowHistory], out: Path) -> None:
    """Replace the scenario's recorded runs with these."""
    for old in out.glob(f"{stem}.*json"):
        old.unlink()
    for name, content in history_files(stem, histories).items():
        (out / name).write_text(content, encoding="utf-8")
        size = len(content.encode()) / 1024
        events = len(json.loads(content)["events"])
        print(f"{name}: {events} events, {size:.0f} KiB", flush=True)


async def record(paths: list[Path], out: Path) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()),
        data_converter=pydantic_data_converter,
        runtime=quiet_runtime(),
    )
    async with env:
        for path in paths:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            scenario = load_scenario(text, source=path.name)
            async with simulation(scenario, json.loads(text), env=env) as sim:
                histories = await sim.run_histories()
            save(path.stem, histories, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stems", nargs="*", help="scenario file stems (default: all)")
    parser.add_argument("--out", type=Path, default=HISTORIES, help="where to write")
    args = parser.parse_args()
    paths = sorted(p for p in SCENARIOS.glob("*.json") if not p.name.endswith(".report.json"))
    if args.stems:
        unknown = set(args.stems) - {p.stem for p in paths}
        if unknown:
            sys.exit(f"error: no such scenario: {', '.join(sorted(unknown))}")
        paths = [p for p in paths if p.stem in args.stems]
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(record(paths, args.out))


if __name__ == "__main__":
    main()
