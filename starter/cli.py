"""The `q2c` console script: importing each command module registers its commands."""

from __future__ import annotations

import sys

from adapters.temporal_client import exit_process
from starter.app import app, run
from starter.commands import (  # noqa: F401  (registration by import)
    catalog,
    codec,
    contracts,
    demo,
    dev,
    doctor,
    reconcile,
    sandbox,
    schedule,
    simulate,
    start,
    status,
    webhook,
)

__all__ = ["app", "console", "main"]


def main() -> None:
    """Run the command in this interpreter; it ends with SystemExit (the tests call this)."""
    run()


def console() -> None:
    """The console script: the command, then the process ends without finalization (see
    `exit_process`: the Temporal client's threads can crash a finalizing interpreter)."""
    code: int
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): printed on stderr, exit code 1, as Python does
            print(exc.code, file=sys.stderr)
            code = 1
    exit_process(code)


if __name__ == "__main__":
    console()
