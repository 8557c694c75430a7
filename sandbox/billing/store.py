"""Reading and writing Stripe objects, and Stripe's list pagination over them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from sandbox.billing.errors import invalid, no_such
from sandbox.billing.models import BillingObject, JsonObject
from sandbox.billing.params import Params

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
    """The objects of one transaction (one `Session`)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, body: JsonObject) -> JsonObject:
        row = BillingObject(
            id=body["id"],
            object=body["object"],
            created=int(body.get("created") or 0),
            customer=_ref(body.get("customer")),
            invoice=_ref(body.get("invoice")),
            body=copy.deepcopy(body),
        )
        self.session.add(row)
        self.session.flush()
        return body

    def save(self, body: JsonObject) -> JsonObject:
        row = self._row(body["object"], body["id"])
        if row is None:
            raise KeyError(body["id"])
        row.body = copy.deepcopy(body)  # a new value, so the JSON column is written
        row.invoice = _ref(body.get("invoice"))
        row.customer = _ref(body.get("customer"))
        self.session.add(row)
        self.session.flush()
        return body

    def delete(self, object_type: str, object_id: str) -> None:
        row = self._row(object_type, object_id)
        if row is not None:
            self.session.delete(row)
            self.session.flush()

    def _row(self, object_type: str, object_id: str) -> BillingObject | None:
        statement = select(BillingObject).where(
            BillingObject.id == object_id, BillingObject.object == object_type
        )
        return self.session.exec(statement).first()

    def get(self, object_type: str, object_id: str) -> JsonObject | None:
        row = self._row(object_type, object_id)
        return copy.deepcopy(row.body) if row is not None else None

    def require(self, object_type: str, object_id: str, *, param: str | None = None) -> JsonObject:
        """The object, or Stripe's `resource_missing` (404 for a path id, 400 for a param)."""
        found = self.get(object_type, object_id)
        if found is None:
            raise no_such(KIND_NAMES.get(object_type, object_type), object_id, param=param)
        return found

    def count(self, object_type: str) -> int:
        statement = select(func.count()).select_from(BillingObject)
        statement = statement.where(BillingObject.object == object_type)
        return int(self.session.exec(statement).one())

    def all(
        self,
        object_type: str,
        *,
        customer: str | None = None,
        invoice: str | None = None,
        newest_first: bool = True,
    ) -> list[JsonObject]:
        statement = select(BillingObject).where(BillingObject.object == object_type)
        if customer is not None:
            statement = statement.where(BillingObject.customer == customer)
        if invoice is not None:
            statement = statement.where(BillingObject.invoice == invoice)
        order = col(BillingObject.seq).desc() if newest_first else col(BillingObject.seq)
        rows = self.session.exec(statement.order_by(order)).all()
        return [copy.deepcopy(row.body) for row in rows]

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
