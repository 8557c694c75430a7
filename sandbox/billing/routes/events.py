"""`/v1/events`: every event the sandbox emitted, newest first (`type` may end in `*`)."""

from __future__ import annotations

import fnmatch

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sandbox.billing.models import JsonObject
from sandbox.billing.routes.common import list_response
from sandbox.billing.service import Api, Reader

router = APIRouter()


def _list(reader: Reader) -> JsonObject:
    p = reader.params
    single = p.string("type", max_length=200)
    patterns = [single] if single else p.strings("types", max_items=20)
    p.boolean("delivery_success")

    def keep(event: JsonObject) -> bool:
        return not patterns or any(fnmatch.fnmatchcase(event["type"], t) for t in patterns)

    return list_response(reader, "event", "/v1/events", where=keep)


@router.get("/v1/events")
def list_events(api: Api) -> JSONResponse:
    return api.read(_list)


@router.get("/v1/events/{event_id}")
def retrieve_event(event_id: str, api: Api) -> JSONResponse:
    return api.read(lambda r: r.store.require("event", event_id))
