"""The Salesforce sandbox app: OAuth token, REST API v62.0 shape, admin and fault routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.admin import SeedError, install_admin
from sandbox.context import SandboxContext
from sandbox.db import create_all
from sandbox.faults import ADMIN_PREFIX, install_faults
from sandbox.salesforce.errors import injected_error_body, install_error_handlers
from sandbox.salesforce.routes import SalesforceApi
from sandbox.salesforce.scenario import load_scenario
from sandbox.salesforce.seed import DEMO, load_records
from sandbox.salesforce.store import SalesforceStore


class LimitsChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_api_requests: int | None = Field(None, ge=0, description="None = unlimited")


def seed(store: SalesforceStore, data: Any) -> dict[str, Any]:
    """The `/_sandbox/seed` handler: records, a scenario, or (no body) the demo org."""
    with store.transaction() as session:
        if isinstance(data, dict) and "scenario" in data:
            return load_scenario(store, session, data["scenario"], data.get("amendments", True))
        if isinstance(data, dict) and isinstance(data.get("scenarios"), list):
            # Many scenarios in one transaction (a benchmark's book of thousands).
            amendments = data.get("amendments", True)
            booked = [load_scenario(store, session, s, amendments) for s in data["scenarios"]]
            return {"opportunity_ids": [b["opportunity_id"] for b in booked]}
        if data is not None and not isinstance(data, dict):
            raise SeedError("expected an object mapping object names to lists of records")
        refs: dict[str, str] = {}
        counts = load_records(store, session, DEMO if data is None else data, refs)
        return {"created": counts, "ids": refs}


def create_app(ctx: SandboxContext) -> FastAPI:
    """A fresh Salesforce org (standard price book only) on `ctx`'s database and clock."""
    create_all(ctx.engine)
    store = SalesforceStore(ctx.engine, ctx.clock)
    store.reset()
    api = SalesforceApi(ctx, store)
    app = FastAPI(title="q2c sandbox: Salesforce", docs_url=f"{ADMIN_PREFIX}/docs")
    install_error_handlers(app)
    api.install(app)

    def reset() -> None:
        store.reset()
        api.limits.reset()
        api.cursors.clear()

    install_admin(app, ctx, reset=reset, seed=lambda data: seed(store, data), dump=store.dump)

    async def get_limits() -> dict[str, Any]:
        used, maximum = api.limits.usage(ctx.clock.now().timestamp())
        return {"daily_api_requests": api.limits.max_requests, "used": used, "max": maximum}

    async def put_limits(request: Request) -> JSONResponse:
        try:
            change = LimitsChange.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": str(exc.errors()[0]["msg"])}, status_code=400)
        api.limits.max_requests = change.daily_api_requests
        return JSONResponse(await get_limits())

    app.add_api_route(f"{ADMIN_PREFIX}/limits", get_limits, methods=["GET"], tags=["sandbox"])
    app.add_api_route(f"{ADMIN_PREFIX}/limits", put_limits, methods=["PUT"], tags=["sandbox"])
    install_faults(app, "salesforce", ctx.injector, injected_error_body)
    return app
