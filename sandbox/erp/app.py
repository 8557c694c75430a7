"""The erp sandbox app (being built: admin and fault routes only for now)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from sandbox.admin import install_admin
from sandbox.context import SandboxContext
from sandbox.faults import install_faults


def _error_body(status: int, message: str) -> tuple[dict[str, Any] | list[Any], dict[str, str]]:
    return [{"message": message, "errorCode": "SERVER_ERROR", "fields": []}], {}


def create_app(ctx: SandboxContext) -> FastAPI:
    app = FastAPI(title="q2c sandbox: erp")
    install_faults(app, "erp", ctx.injector, _error_body)
    install_admin(app, ctx, reset=lambda: None, seed=lambda data: {}, dump=lambda: {})
    return app
