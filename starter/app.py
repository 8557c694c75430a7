"""The Typer application shared by every `q2c` command, and its error boundary.

Exit codes: 0 success, 1 a failed operation, 2 a usage or input error. A user's mistake is one
line on stderr, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from adapters.settings import ConfigError
from domain.errors import InputError

app = typer.Typer(
    name="q2c",
    help="Quote-to-cash on Temporal: every Salesforce contract billed, collected and recognized.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class OperationFailed(Exception):
    """The command was valid but what it asked for did not succeed (exit code 1)."""


def run() -> None:
    try:
        app()
    except (ConfigError, InputError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except OperationFailed as exc:
        err_console.print(f"[bold red]failed:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
