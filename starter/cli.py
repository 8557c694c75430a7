"""The `q2c` console script: importing each command module registers its commands."""

from __future__ import annotations

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

__all__ = ["app", "main"]


def main() -> None:
    run()


if __name__ == "__main__":
    main()
