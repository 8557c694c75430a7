"""`q2c sandbox`: the local Salesforce, billing and ERP stand-ins in one process, until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from sqlalchemy.exc import ArgumentError

from adapters.settings import Settings, get_settings
from domain.errors import InputError
from sandbox.context import SandboxContext
from sandbox.faults import injector_from_json
from sandbox.server import SandboxServer, SandboxStartError
from starter.app import OperationFailed, app, console


async def _serve(settings: Settings, ctx: SandboxContext) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = SandboxServer(settings, ctx=ctx)
    try:
        await server.start()
    except SandboxStartError as exc:
        raise OperationFailed(str(exc)) from None
    try:
        for line in server.lines():
            console.print(line, highlight=False)
        console.print("Sandbox running. Ctrl-C stops it.", style="dim")
        await stop.wait()
    finally:
        await server.stop()
        console.print("Stopped.")


@app.command()
def sandbox(
    salesforce_port: Annotated[
        int | None, typer.Option(help="Salesforce port (0 = free port).", min=0, max=65535)
    ] = None,
    billing_port: Annotated[
        int | None, typer.Option(help="Billing port (0 = free port).", min=0, max=65535)
    ] = None,
    erp_port: Annotated[
        int | None, typer.Option(help="ERP port (0 = free port).", min=0, max=65535)
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Sandbox state: sqlite:///FILE, or sqlite:// in memory.")
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            help='Fault rules as JSON, e.g. \'{"erp": [{"commit_then_fail_rate": 0.3}]}\' '
            "(default: Q2C_SANDBOX_FAULTS)."
        ),
    ] = None,
) -> None:
    """Serve the Salesforce, billing and ERP sandboxes on 127.0.0.1 until Ctrl-C."""
    injector = injector_from_json(faults, setting="--faults") if faults is not None else None
    overrides = {
        "sandbox_salesforce_port": salesforce_port,
        "sandbox_billing_port": billing_port,
        "sandbox_erp_port": erp_port,
        "sandbox_host": host,
        "sandbox_database_url": database_url,
        "sandbox_faults": faults,
    }
    settings = get_settings().model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    try:
        ctx = SandboxContext.from_settings(settings)
    except ArgumentError as exc:  # not a database URL SQLAlchemy knows
        raise InputError(f"--database-url / Q2C_SANDBOX_DATABASE_URL: {exc}") from None
    if injector is not None:
        ctx.injector = injector
    asyncio.run(_serve(settings, ctx))
