"""Pieces every resource's routes share: list and search endpoints, metadata updates."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sandbox.billing.models import JsonObject
from sandbox.billing.search import FieldKind, page_token, parse_query, read_page_token
from sandbox.billing.service import Reader
from sandbox.billing.shapes import embed_lines
from sandbox.billing.store import ListQuery, Page, list_object, paginate

Filter = Callable[[JsonObject], bool]


def show(obj: JsonObject) -> JsonObject:
    """An object as the API answers with it (invoices embed at most ten lines)."""
    return embed_lines(obj) if obj.get("object") == "invoice" else obj


def list_response(
    reader: Reader,
    object_type: str,
    url: str,
    *,
    customer: str | None = None,
    invoice: str | None = None,
    where: Filter | None = None,
) -> JsonObject:
    query = ListQuery.read(reader.params)
    page = reader.store.page(object_type, query, customer=customer, invoice=invoice, where=where)
    return list_object(Page([show(o) for o in page.data], page.has_more), url)


def search_response(
    reader: Reader, object_type: str, url: str, fields: Mapping[str, FieldKind]
) -> JsonObject:
    """`GET /v1/<resource>/search?query=...&limit=&page=`, newest first."""
    params = reader.params
    text = params.string("query", required=True)
    assert text is not None
    limit = params.integer("limit", minimum=1, maximum=100) or 10
    token = params.string("page")
    query = parse_query(text, fields)
    lookup = query.metadata_equality()
    candidates = (
        reader.store.with_metadata(object_type, *lookup)
        if lookup is not None
        else reader.store.all(object_type)
    )
    matches = [o for o in candidates if query.matches(o)]
    after = read_page_token(token) if token else None
    page = paginate(matches, ListQuery(limit, after, None, {}), object_type)
    next_page = page_token(page.data[-1]["id"]) if page.has_more and page.data else None
    return {
        "object": "search_result",
        "data": [show(o) for o in page.data],
        "has_more": page.has_more,
        "next_page": next_page,
        "url": url,
    }


def merge_metadata(current: Mapping[str, str], update: Mapping[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: keys are set, an empty value deletes, `metadata=` clears."""
    if update is None:
        return dict(current)
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
