"""The admin routes every sandbox app carries, for tests and the demo (never faulted).

`POST /_sandbox/reset` empties the app's state, `POST /_sandbox/seed` loads records (an empty
body loads the app's demo data), `GET /_sandbox/state` dumps everything, and
`GET|POST /_sandbox/clock` reads, advances (`{"advance_seconds": N}`) or resets
(`{"reset": true}`) the sandbox clock that all apps share.
Admin answers are plain JSON (`{"error": "..."}` on a mistake), not a vendor's shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.context import SandboxContext
from sandbox.faults import ADMIN_PREFIX


class SeedError(Exception):
    """The seed body is wrong; the message says what and where (answered with 400)."""


class ClockChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advance_seconds: float = Field(0, ge=0)
    reset: bool = Field(False, description="Back to real time first (between tests).")


def _clock_state(ctx: SandboxContext) -> dict[str, Any]:
    now: datetime = ctx.clock.now()
    return {"now": now.isoformat(), "offset_seconds": ctx.clock.offset_seconds}


def install_admin(
    app: FastAPI,
    ctx: SandboxContext,
    *,
    reset: Callable[[], None],
    seed: Callable[[Any], dict[str, Any]],
    dump: Callable[[], dict[str, Any]],
) -> None:
    """Add reset, seed, state and clock routes; `seed` gets the parsed body (None when empty)."""

    async def reset_route() -> dict[str, Any]:
        reset()
        return {"reset": True}

    async def seed_route(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            data = json.loads(body) if body.strip() else None
        except json.JSONDecodeError as exc:
            return JSONResponse({"error": f"body is not JSON: {exc.msg}"}, status_code=400)
        try:
            return JSONResponse(seed(data))
        except SeedError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def state_route() -> dict[str, Any]:
        return {**dump(), "clock": _clock_state(ctx)}

    async def get_clock() -> dict[str, Any]:
        return _clock_state(ctx)

    async def post_clock(request: Request) -> JSONResponse:
        try:
            change = ClockChange.model_validate_json((await request.body()) or b"{}")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return JSONResponse({"error": f"{where}: {first['msg']}"}, status_code=400)
        if change.reset:
            ctx.clock.reset()
        ctx.clock.advance(change.advance_seconds)
        return JSONResponse(_clock_state(ctx))

    prefix = ADMIN_PREFIX
    app.add_api_route(f"{prefix}/reset", reset_route, methods=["POST"], tags=["sandbox"])
    app.add_api_route(f"{prefix}/seed", seed_route, methods=["POST"], tags=["sandbox"])
    app.add_api_route(f"{prefix}/state", state_route, methods=["GET"], tags=["sandbox"])
    app.add_api_route(f"{prefix}/clock", get_clock, methods=["GET"], tags=["sandbox"])
    app.add_api_route(f"{prefix}/clock", post_clock, methods=["POST"], tags=["sandbox"])
