"""One way to connect to Temporal, used by the worker, the CLI, the webhook receiver and tests."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, NoReturn

from temporalio.client import Client
from temporalio.envconfig import ClientConfig

from adapters.codec import data_converter
from adapters.observability import tracing
from adapters.settings import ConfigError, load_environment


def connect_config(**overrides: Any) -> dict[str, Any]:
    """Connection keywords from envconfig (env vars, `.env`, the Temporal config file)."""
    load_environment()
    try:
        config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    except Exception as exc:  # envconfig raises plain errors for a bad profile or TLS file
        raise ConfigError(f"TEMPORAL_* settings: {exc}") from None
    config.setdefault("target_host", "localhost:7233")
    config.update(overrides)
    return config


async def connect(**overrides: Any) -> Client:
    config = connect_config(**overrides)
    target = config.pop("target_host")
    # pydantic, plus the AES-256-GCM payload codec when Q2C_ENCRYPTION_KEY is set (a malformed
    # key is a ConfigError here, before anything connects).
    if "data_converter" not in config:
        config["data_converter"] = data_converter()
    # Temporal's OpenTelemetry interceptor when tracing is on (also traces a worker built on
    # this client). The worker passes its metrics `runtime`; everyone else gets the default.
    config.setdefault("interceptors", tracing.client_interceptors())
    try:
        return await Client.connect(target, **config)
    except RuntimeError as exc:
        raise ConfigError(
            f"TEMPORAL_ADDRESS: cannot reach Temporal at {target}: {_reason(str(exc))}"
        ) from None


def _reason(error: str) -> str:
    """The gist of the core SDK's transport error, which nests several Rust error layers."""
    for gist in ("Connection refused", "dns error", "timed out", "certificate", "Unauthenticated"):
        if gist.lower() in error.lower():
            return gist.lower()
    return error.splitlines()[0][:200]


def exit_process(code: int) -> NoReturn:
    """End a process that has used a Temporal client, skipping the interpreter's finalization.

    The client's core SDK (Rust, tokio) keeps threads that can call back into Python while the
    interpreter is being torn down; a short-lived process then ends now and then with SIGSEGV
    or SIGABRT after its work is done (seen on `q2c start` in CI; a known issue of the SDK's
    bridge). What finalization would have done is done here first: spans flushed, log handlers
    flushed and closed, stdout and stderr flushed.
    """
    try:
        tracing.shutdown()
        logging.shutdown()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
