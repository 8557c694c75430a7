"""`q2c dev` and `q2c worker`: the local stack on one machine."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import typer
from temporalio.client import Client

import worker
from adapters import temporal_client
from adapters.settings import ConfigError, Settings, get_settings
from sandbox.server import SandboxServer, SandboxStartError
from starter.app import OperationFailed, app, console
from starter.catalog import SCHEDULE_ID as CATALOG_SCHEDULE
from starter.catalog import ensure_catalog_schedule
from starter.codec_server import CodecServer, CodecServerStartError, start_local_codec_server
from starter.commands.webhook import start_receiver
from starter.devserver import DevServer
from starter.webhooks.server import WebhookServer
from workflows.reconciliation import SCHEDULE_ID as RECONCILIATION_SCHEDULE
from workflows.reconciliation import ensure_reconciliation_schedule

STARTUP_TIMEOUT = 60.0


@dataclass(frozen=True)
class LocalStack:
    """The running stack, for a caller that works on it once it is up (`q2c demo`)."""

    client: Client
    settings: Settings  # pointing at the sandbox when there is one
    ui_url: str
    webhook_url: str


OnReady = Callable[[LocalStack], Awaitable[None]]


async def _until_stopped(stop: asyncio.Event, work: Awaitable[None]) -> None:
    """Run `work` to its end unless Ctrl-C comes first (then it is cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if not task.cancelled():
        task.result()  # the work's own error, if it failed


async def _wait_for(server: DevServer) -> Client:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if (code := server.exited()) is not None:
            raise OperationFailed(
                f"the Temporal dev server exited with code {code}; "
                f"see {server.state_dir / 'temporal.log'} (is port {server.port} taken?)"
            )
        try:
            return await temporal_client.connect(target_host=server.address, namespace="default")
        except ConfigError:
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"the Temporal dev server did not answer on {server.address}"
                ) from None
            await asyncio.sleep(0.25)


async def _start_sandbox(settings: Settings) -> tuple[SandboxServer, Settings]:
    """The local vendors, and settings that point the worker's adapters at them."""
    sandbox = SandboxServer(settings)
    try:
        urls = await sandbox.start()
    except SandboxStartError as exc:
        raise OperationFailed(f"{exc} (set Q2C_SANDBOX_*_PORT, or --no-sandbox)") from None
    for line in sandbox.lines():
        console.print(line, highlight=False)
    return sandbox, settings.model_copy(
        update={
            "salesforce_url": urls["salesforce"],
            "billing_url": urls["billing"],
            "erp_url": urls["erp"],
        }
    )


async def run_local_stack(
    settings: Settings, with_sandbox: bool, on_ready: OnReady | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ledger_engine = worker.open_ledger(settings)
    sandbox: SandboxServer | None = None
    if with_sandbox:
        sandbox, settings = await _start_sandbox(settings)
    server = DevServer(settings.state_dir, settings.dev_temporal_port, settings.dev_ui_port)
    webhooks: WebhookServer | None = None
    codec: CodecServer | None = None
    try:
        # With Q2C_ENCRYPTION_KEY set, the Web UI decrypts through a local codec server.
        try:
            codec = await start_local_codec_server(settings, server.ui_url)
        except CodecServerStartError as exc:
            raise OperationFailed(str(exc)) from None
        if codec is not None:
            server.ui_codec_endpoint = codec.url
            console.print(f"Codec server (payloads encrypted): {codec.url}", highlight=False)
        server.start()
        client = await _wait_for(server)
        console.print(f"Temporal: {server.address} (history in {server.state_dir / 'temporal.db'})")
        console.print(f"Temporal Web UI: {server.ui_url}")
        schedule = await ensure_catalog_schedule(client, settings)
        console.print(
            f"Schedule {CATALOG_SCHEDULE} {schedule}: catalog sync every "
            f"{settings.catalog_sync_interval_seconds} s"
        )
        recon_schedule = await ensure_reconciliation_schedule(client, settings)
        console.print(
            f"Schedule {RECONCILIATION_SCHEDULE} {recon_schedule}: three-way reconciliation at "
            f"'{settings.reconciliation_schedule}' (UTC)"
        )
        webhooks = await start_receiver(settings, client)
        async with worker.running_worker(client, settings, ledger_engine):
            console.print(
                f"Worker polling task queue {settings.task_queue!r}. Ctrl-C stops everything."
            )
            if on_ready is not None:
                stack = LocalStack(client, settings, server.ui_url, webhooks.url)
                await _until_stopped(stop, on_ready(stack))
            await stop.wait()
    finally:
        if webhooks is not None:
            await webhooks.stop()
        await server.stop()
        if codec is not None:
            await codec.stop()
        if sandbox is not None:
            await sandbox.stop()
        console.print("Stopped.")


@app.command()
def dev(
    no_sandbox: Annotated[
        bool,
        typer.Option(
            "--no-sandbox", help="Use the vendors of Q2C_*_URL instead of the local sandbox."
        ),
    ] = False,
) -> None:
    """Start Temporal (Web UI on :8233), the sandbox, a worker and the webhooks, until Ctrl-C."""
    asyncio.run(run_local_stack(get_settings(), with_sandbox=not no_sandbox))


@app.command(name="worker")
def worker_command() -> None:
    """Run a worker against the Temporal of TEMPORAL_ADDRESS (production, or another `q2c dev`)."""
    asyncio.run(worker.serve())
