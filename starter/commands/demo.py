"""`q2c demo` (what `make demo` runs): the local stack, a seeded book, and the summary.

The demo keeps its own state in `<Q2C_STATE_DIR>/demo` (Temporal history, ledger, sandbox),
emptied at each start so every run tells the same story. Nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from adapters.settings import Settings, get_settings
from starter.app import app
from starter.commands.dev import LocalStack, run_local_stack
from starter.demo import run_demo


def demo_settings(settings: Settings) -> Settings:
    state = settings.state_dir / "demo"
    return settings.model_copy(
        update={
            "state_dir": state,
            "database_url": f"sqlite:///{state / 'ledger.db'}",
            # A file next to the rest, to look into after the demo.
            "sandbox_database_url": f"sqlite:///{state / 'sandbox.db'}",
            "sandbox_faults": "",
        }
    )


async def _story(stack: LocalStack) -> None:
    await run_demo(stack)


@app.command()
def demo() -> None:
    """Run the local stack with a book of 20 contracts driven through webhooks, until Ctrl-C."""
    settings = demo_settings(get_settings())
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    # The stuck contract's parking is part of the story, told in the summary; the worker's
    # warnings about it (an activity failed, a contract parked) would only repeat it.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    asyncio.run(run_local_stack(settings, with_sandbox=True, on_ready=_story))
