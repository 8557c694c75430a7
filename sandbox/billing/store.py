"""Reading and writing Stripe objects, and Stripe's list pagination over them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.sql import Executable
from sqlmodel import Session

from sandbox.billing.errors import invalid, no_such
from sandbox.billing.models import BillingMetadata, BillingObject, JsonObject
from sandbox.billing.params import Params

OBJECTS: Table = BillingObject.__table__  # type: ignore[attr-defined]
METADATA: Table = BillingMetadata.__table__  # type: ignore[attr-defined]
KIND_NAMES = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "invoiceitem": "invoiceitem",
    "invoice": "invoice",
    "credit_note": "credit note",
    "payment_intent": "payment_intent",
    "invoice_payment": "invoice payment",
    "event": "event",
}


@dataclass(frozen=True)
class Page:
    """One page of a list: the objects and whether more follow."""

    data: list[JsonObject]
    has_more: bool


@dataclass(frozen=True)
class ListQuery:
    """Stripe's common list parameters: `limit`, `starting_after`, `ending_before`, `created`."""

    limit: int
    starting_after: str | None
    ending_before: str | None
    created: Mapping[str, int]

    @classmethod
    def read(cls, params: Params) -> ListQuery:
        limit = params.integer("limit", minimum=1, maximum=100)
        starting_after = params.identifier("starting_after")
        ending_before = params.identifier("ending_before")
        if starting_after and ending_before:
            raise invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        return cls(
            limit=10 if limit is None else limit,
            starting_after=starting_after,
            ending_before=ending_before,
            created=_range(params, "created"),
        )


def _range(params: Params, key: str) -> dict[str, int]:
    """`created=123` or `created[gte]=1&created[lt]=2`."""
    if not params.has(key):
        return {}
    if not isinstance(params.raw(key), dict):
        exact = params.integer(key, minimum=0)
        return {} if exact is None else {"eq": exact}
    nested = params.nested(key)
    assert nested is not None
    bounds = {op: nested.integer(op, minimum=0) for op in ("gt", "gte", "lt", "lte")}
    return {op: value for op, value in bounds.items() if value is not None}


def in_range(value: int, bounds: Mapping[str, int]) -> bool:
    checks: dict[str, Callable[[int, int], bool]] = {
        "eq": lambda a, b: a == b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return all(checks[op](value, bound) for op, bound in bounds.items())


class Store:
    """The objects of one transaction (one `Session`), written with SQL expressions rather than
    the ORM's unit of work, which costs more than everything else a request does."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._loaded_metadata: dict[str, Any] = {}

    def _execute(self, statement: Executable, rows: list[dict[str, Any]] | None = None) -> Any:
        connection = self.session.connection()
        return connection.execute(statement, rows) if rows else connection.execute(statement)

    def insert(self, body: JsonObject) -> JsonObject:
        self._execute(
            insert(OBJECTS).values(
                id=body["id"],
                object=body["object"],
                created=int(body.get("created") or 0),
                customer=_ref(body.get("customer")),
                invoice=_ref(body.get("invoice")),
                body=body,
            )
        )
        self._index_metadata(body, fresh=True)
        return body

    def _index_metadata(self, body: JsonObject, *, fresh: bool = False) -> None:
        """Keep `billing_metadata` equal to the object's metadata (events are not searched)."""
        if body["object"] == "event":
            return
        if not fresh:
            self._execute(delete(METADATA).where(METADATA.c.object_id == body["id"]))
        rows = [
            {"object_id": body["id"], "object": body["object"], "key": k, "value": v}
            for k, v in (body.get("metadata") or {}).items()
        ]
        if rows:
            self._execute(insert(METADATA), rows)
        self._loaded_metadata[body["id"]] = copy.deepcopy(body.get("metadata"))

    def with_metadata(self, object_type: str, key: str, value: str) -> list[JsonObject]:
        """The objects whose metadata has `key` = `value`, newest first (an index lookup)."""
        ids = select(METADATA.c.object_id).where(
            METADATA.c.object == object_type, METADATA.c.key == key, METADATA.c.value == value
        )
        statement = (
            select(OBJECTS.c.body)
            .where(OBJECTS.c.object == object_type, OBJECTS.c.id.in_(ids))
            .order_by(OBJECTS.c.seq.desc())
        )
        return self._bodies(statement)

    def _bodies(self, statement: Executable) -> list[JsonObject]:
        bodies = [dict(body) for body in self._execute(statement).scalars()]
        for body in bodies:
            self._loaded_metadata[body["id"]] = copy.deepcopy(body.get("metadata"))
        return bodies

    def save(self, body: JsonObject) -> JsonObject:
        """Write back an object read in this transaction (re-indexing changed metadata)."""
        updated = self._execute(
            update(OBJECTS)
            .where(OBJECTS.c.id == body["id"], OBJECTS.c.object == body["object"])
            .values(
                body=body, invoice=_ref(body.get("invoice")), customer=_ref(body.get("customer"))
            )
        )
        if updated.rowcount != 1:
            raise KeyError(body["id"])
        if self._loaded_metadata.get(body["id"], None) != body.get("metadata"):
            self._index_metadata(body)
        return body

    def delete(self, object_type: str, object_id: str) -> None:
        self._execute(
            delete(OBJECTS).where(OBJECTS.c.id == object_id, OBJECTS.c.object == object_type)
        )
        self._execute(delete(METADATA).where(METADATA.c.object_id == object_id))

    def get(self, object_type: str, object_id: str) -> JsonObject | None:
        statement = select(OBJECTS.c.body).where(
            OBJECTS.c.id == object_id, OBJECTS.c.object == object_type
        )
        found = self._bodies(statement)
        return found[0] if found else None

    def require(self, object_type: str, object_id: str, *, param: str | None = None) -> JsonObject:
        """The object, or Stripe's `resource_missing` (404 for a path id, 400 for a param)."""
        found = self.get(object_type, object_id)
        if found is None:
            raise no_such(KIND_NAMES.get(object_type, object_type), object_id, param=param)
        return found

    def count(self, object_type: str) -> int:
        statement = select(func.count()).select_from(OBJECTS).where(OBJECTS.c.object == object_type)
        return int(self._execute(statement).scalar_one())

    def all(
        self,
        object_type: str,
        *,
        customer: str | None = None,
        invoice: str | None = None,
        newest_first: bool = True,
    ) -> list[JsonObject]:
        statement = select(OBJECTS.c.body).where(OBJECTS.c.object == object_type)
        if customer is not None:
            statement = statement.where(OBJECTS.c.customer == customer)
        if invoice is not None:
            statement = statement.where(OBJECTS.c.invoice == invoice)
        order = OBJECTS.c.seq.desc() if newest_first else OBJECTS.c.seq
        return self._bodies(statement.order_by(order))

    def page(
        self,
        object_type: str,
        query: ListQuery,
        *,
        customer: str | None = None,
        invoice: str | None = None,
        where: Callable[[JsonObject], bool] | None = None,
    ) -> Page:
        """Newest first; `starting_after` pages older, `ending_before` pages newer."""
        objects = self.all(object_type, customer=customer, invoice=invoice)
        objects = [
            o
            for o in objects
            if in_range(int(o.get("created") or 0), query.created) and (where is None or where(o))
        ]
        return paginate(objects, query, KIND_NAMES.get(object_type, object_type))


def paginate(objects: list[JsonObject], query: ListQuery, kind: str) -> Page:
    """Cut one page out of an ordered list by the cursor ids of `query`."""
    ids = [o["id"] for o in objects]
    if query.starting_after is not None:
        if query.starting_after not in ids:
            raise no_such(kind, query.starting_after, param="starting_after")
        rest = objects[ids.index(query.starting_after) + 1 :]
        return Page(rest[: query.limit], len(rest) > query.limit)
    if query.ending_before is not None:
        if query.ending_before not in ids:
            raise no_such(kind, query.ending_before, param="ending_before")
        before = objects[: ids.index(query.ending_before)]
        return Page(before[-query.limit :], len(before) > query.limit)
    return Page(objects[: query.limit], len(objects) > query.limit)


def list_object(page: Page, url: str) -> JsonObject:
    """Stripe's list envelope."""
    return {"object": "list", "data": page.data, "has_more": page.has_more, "url": url}


def _ref(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("id")) if value.get("id") else None
    return str(value) if value else None
