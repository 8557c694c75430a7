"""The ERP sandbox app: NetSuite REST record service shape, OAuth 2.0, admin and fault routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from sandbox.admin import SeedError, install_admin
from sandbox.context import SandboxContext
from sandbox.db import create_all
from sandbox.erp.errors import NetSuiteError, injected_error_body, install_error_handlers
from sandbox.erp.routes import ErpApi
from sandbox.erp.schema import record_type_ci
from sandbox.erp.store import ErpStore
from sandbox.faults import ADMIN_PREFIX, install_faults

DEMO: dict[str, list[dict[str, Any]]] = {
    "serviceSaleItem": [
        {
            "externalId": code,
            "itemId": code,
            "displayName": name,
            "custitem_q2c_kind": kind,
            "incomeAccount": {"externalId": "4000"},
            "deferredRevenueAccount": {"externalId": "2400"},
        }
        for code, name, kind in (
            ("SEAT-PRO", "Seat (Pro)", "subscription"),
            ("ONBOARD", "Onboarding", "one_time"),
            ("API-CALLS", "API calls", "usage"),
        )
    ]
}


def seed(store: ErpStore, data: Any) -> dict[str, Any]:
    """`{"customer": [...], "serviceSaleItem": [...], ...}`, bodies as the REST API takes them.

    A record with an `externalId` is upserted by it, so seeding twice does not duplicate.
    No body loads the demo items (the demo products of the Salesforce sandbox).
    """
    data = DEMO if data is None else data
    if not isinstance(data, dict):
        raise SeedError("expected an object mapping record types to lists of records")
    ids: dict[str, list[int]] = {}
    for name, records in data.items():
        rt = record_type_ci(name)
        if rt is None or not isinstance(records, list):
            raise SeedError(f"unknown record type {name!r} or not a list of records")
        for index, body in enumerate(records):
            try:
                external = body.get("externalId") if isinstance(body, dict) else None
                if not rt.writable and isinstance(body, dict):
                    record_id = store.add_reference(rt, body)
                elif isinstance(external, str):
                    record_id, _ = store.upsert(rt, external, body)
                else:
                    record_id = store.create(rt, body)
            except NetSuiteError as exc:
                raise SeedError(f"{name}[{index}]: {exc.code}: {exc.detail}") from None
            ids.setdefault(rt.name, []).append(record_id)
    return {"ids": ids}


def create_app(ctx: SandboxContext) -> FastAPI:
    """A fresh ERP account (currencies, subsidiaries, chart of accounts) on `ctx`."""
    create_all(ctx.engine)
    store = ErpStore(ctx.engine, ctx.clock)
    store.reset()
    app = FastAPI(title="q2c sandbox: ERP (NetSuite REST shape)", docs_url=f"{ADMIN_PREFIX}/docs")
    install_error_handlers(app)
    ErpApi(ctx, store).install(app)
    install_admin(app, ctx, reset=store.reset, seed=lambda data: seed(store, data), dump=store.dump)
    install_faults(app, "erp", ctx.injector, injected_error_body)
    return app
