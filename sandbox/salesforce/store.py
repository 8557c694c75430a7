"""Salesforce records: validated writes, org-computed fields, external ids, cascades.

Every write runs under one lock and one transaction, so an upsert by external id is
find-or-create atomically: a retried upsert (after a commit-then-fail) finds the record the
first attempt created. The external-id index's primary key backs that up in the database.
"""

from __future__ import annotations

import calendar
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, delete, event
from sqlmodel import Session, col, select

from sandbox.clock import SandboxClock
from sandbox.db import clear_sequences, clear_tables, next_value
from sandbox.salesforce.errors import SalesforceError, json_parser_error, not_found
from sandbox.salesforce.models import SfExternalId, SfRecord
from sandbox.salesforce.schema import SCHEMA, Field, SObject
from sandbox.salesforce.values import (
    coerce,
    format_datetime,
    json_token,
    make_id,
    normalize_id,
    render,
)

SEQUENCE_PREFIX = "salesforce:"
USER_ID = make_id("005", 1)  # the integration user every change is attributed to
CLOSED_STAGES = {"Closed Won", "Closed Lost"}


@dataclass
class Snapshot:
    """All records at one moment, for queries (sandbox volumes fit in memory)."""

    by_id: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Snapshot:
        snap = cls()
        for row in session.exec(select(SfRecord).order_by(col(SfRecord.seq))).all():
            snap.by_id[row.id] = (row.sobject, row.data)
            snap.by_type.setdefault(row.sobject, []).append(row.data)
        return snap

    def record(self, record_id: str | None) -> dict[str, Any] | None:
        if record_id is None:
            return None
        found = self.by_id.get(record_id)
        return found[1] if found else None


@dataclass
class _Committed:
    """The committed records in memory, kept in step with each commit (queries read this).

    Loading every record for every query made a query cost grow with the org: a book of
    10,000 contracts took ~0.5 s per query. Records per type stay in creation order.
    """

    by_id: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    by_type: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> _Committed:
        committed = cls()
        for row in session.exec(select(SfRecord).order_by(col(SfRecord.seq))).all():
            committed.put(row.id, row.sobject, row.data)
        return committed

    def put(self, record_id: str, sobject: str, data: dict[str, Any]) -> None:
        self.by_id[record_id] = (sobject, data)
        self.by_type.setdefault(sobject, {})[record_id] = data

    def drop(self, record_id: str) -> None:
        found = self.by_id.pop(record_id, None)
        if found is not None:
            self.by_type.get(found[0], {}).pop(record_id, None)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            by_id=dict(self.by_id),
            by_type={name: list(records.values()) for name, records in self.by_type.items()},
        )


@dataclass
class _Written:
    """What one transaction wrote, applied to the committed cache once it commits."""

    saved: dict[str, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (opportunity id, line id)


def _collect(session: Session, _context: Any, _instances: Any) -> None:
    """`before_flush`: note every record this flush writes or deletes."""
    written: _Written | None = session.info.get("q2c_written")
    if written is None:
        return
    for row in (*session.new, *session.dirty):
        if isinstance(row, SfRecord):
            written.saved[row.id] = (row.seq, row.sobject, row.data)
            written.deleted.discard(row.id)
    for row in session.deleted:
        if isinstance(row, SfRecord):
            written.saved.pop(row.id, None)
            written.deleted.add(row.id)


def record_url(version: str, sobject: str, record_id: str) -> str:
    return f"/services/data/{version}/sobjects/{sobject}/{record_id}"


def render_record(
    sobject: SObject, data: dict[str, Any], version: str, fields: list[Field] | None = None
) -> dict[str, Any]:
    """A record as Salesforce answers it: `attributes` first, then the fields."""
    out: dict[str, Any] = {
        "attributes": {"type": sobject.name, "url": record_url(version, sobject.name, data["Id"])}
    }
    for f in fields if fields is not None else sobject.fields.values():
        out[f.name] = render(f, data.get(f.name))
    return out


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


class SalesforceStore:
    def __init__(self, engine: Engine, clock: SandboxClock) -> None:
        self.engine = engine
        self.clock = clock
        self._lock = threading.RLock()
        self._committed: _Committed | None = None  # loaded on the first query
        # Opportunity id → ids of its line items (a superset: checked on use, rebuilt after a
        # rollback), so a roll-up reads its own lines, not every line of the org.
        self._lines: dict[str, set[str]] | None = None

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One lock-held transaction: committed on success, rolled back on any error."""
        with self._lock, Session(self.engine) as session:
            written = _Written()
            session.info["q2c_written"] = written
            event.listen(session, "before_flush", _collect)
            try:
                yield session
                session.flush()
                session.commit()
            except BaseException:
                session.rollback()
                self._lines = None
                raise
            self._apply(written)

    def _apply(self, written: _Written) -> None:
        """Bring the committed cache up to date with a transaction that just committed."""
        if self._committed is None:
            return
        for record_id in written.deleted:
            self._committed.drop(record_id)
        for record_id, (_, sobject, data) in sorted(
            written.saved.items(), key=lambda item: item[1][0]
        ):
            self._committed.put(record_id, sobject, data)

    # --- reading ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._committed is None:
                with Session(self.engine) as session:
                    self._committed = _Committed.load(session)
            return self._committed.snapshot()

    def get(self, sobject: SObject, record_id: str) -> dict[str, Any] | None:
        normalized = normalize_id(record_id)
        if normalized is None:
            return None
        with self._lock, Session(self.engine) as session:
            row = session.get(SfRecord, normalized)
        return dict(row.data) if row is not None and row.sobject == sobject.name else None

    def find_external(self, sobject: SObject, f: Field, value: str) -> str | None:
        with self._lock, Session(self.engine) as session:
            return self.find_external_in(session, sobject, f, value)

    # --- writing ------------------------------------------------------------------------------

    def create(self, sobject: SObject, body: Any) -> str:
        with self.transaction() as session:
            return self.create_in(session, sobject, body)

    def update(self, sobject: SObject, record_id: str, body: Any) -> None:
        with self.transaction() as session:
            row = self._row(session, sobject, record_id)
            self._update_in(session, sobject, row, body)

    def upsert(
        self, sobject: SObject, f: Field, value: str, body: Any, *, update_only: bool = False
    ) -> tuple[str, bool]:
        """Update the record whose external id `f` is `value`, or create it: (id, created)."""
        with self.transaction() as session:
            return self.upsert_in(session, sobject, f, value, body, update_only=update_only)

    def delete(self, sobject: SObject, record_id: str) -> None:
        with self.transaction() as session:
            row = self._row(session, sobject, record_id)
            self._delete_in(session, row)

    def reset(self) -> None:
        """Empty the org, keeping what every org has: the standard price book."""
        with self._lock:
            self._committed = None
            self._lines = None
            clear_tables(self.engine, SfExternalId, SfRecord)
            clear_sequences(self.engine, SEQUENCE_PREFIX)
            with self.transaction() as session:
                book = SCHEMA["Pricebook2"]
                record_id = self.create_in(session, book, {"Name": "Standard Price Book"})
                row = self._row(session, book, record_id)
                row.data = {**row.data, "IsStandard": True, "IsActive": True}
                session.add(row)

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        snap = self.snapshot()
        return {name: list(records) for name, records in snap.by_type.items()}

    # --- inside a transaction -----------------------------------------------------------------

    def create_in(self, session: Session, sobject: SObject, body: Any) -> str:
        values = self._prepare(session, sobject, body, creating=True, current=None)
        now = format_datetime(self.clock.now())
        record_id = make_id(sobject.key_prefix, next_value(session, SEQUENCE_PREFIX + sobject.name))
        data: dict[str, Any] = {f.name: f.default for f in sobject.fields.values()}
        data.update(values)
        data.update(
            Id=record_id,
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=USER_ID,
            LastModifiedDate=now,
            LastModifiedById=USER_ID,
            SystemModstamp=now,
        )
        missing = [
            f.name
            for f in sobject.fields.values()
            if f.required and f.createable and data.get(f.name) is None
        ]
        if missing:
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        self._derive(session, sobject, data, creating=True)
        row = SfRecord(
            id=record_id,
            sobject=sobject.name,
            seq=next_value(session, SEQUENCE_PREFIX + "seq"),
            data=data,
        )
        session.add(row)
        self._index_external_ids(session, sobject, record_id, data)
        session.flush()
        if sobject.name == "OpportunityLineItem":
            self._line_index(session).setdefault(data["OpportunityId"], set()).add(record_id)
        self._after_write(session, sobject, data)
        return record_id

    def upsert_in(
        self,
        session: Session,
        sobject: SObject,
        f: Field,
        value: str,
        body: Any,
        *,
        update_only: bool = False,
    ) -> tuple[str, bool]:
        if isinstance(body, dict):
            given = next((v for k, v in body.items() if k.lower() == f.name.lower()), value)
            if given != value:
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"The value of {f.name} in the request body ({given}) does not match the "
                    f"value in the URL ({value})",
                    [f.name],
                )
        existing = self.find_external_in(session, sobject, f, value)
        if existing is not None:
            row = self._row(session, sobject, existing)
            self._update_in(session, sobject, row, body)
            return existing, False
        if update_only or f.name == "Id":
            raise not_found(f"Provided external ID field value does not exist: {value}")
        if isinstance(body, dict):
            body = {**body, f.name: value}
        return self.create_in(session, sobject, body), True

    def _update_in(self, session: Session, sobject: SObject, row: SfRecord, body: Any) -> None:
        values = self._prepare(session, sobject, body, creating=False, current=row.id)
        before = row.data
        data = {**row.data, **values}
        for name, value in values.items():
            f = sobject.fields[name]
            if f.required and value is None:
                raise SalesforceError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{name}]",
                    [name],
                )
        now = format_datetime(self.clock.now())
        data.update(LastModifiedDate=now, LastModifiedById=USER_ID, SystemModstamp=now)
        self._derive(session, sobject, data, creating=False)
        row.data = data
        session.add(row)
        self._index_external_ids(session, sobject, row.id, data)
        session.flush()
        if sobject.name == "OpportunityLineItem":
            self._line_index(session).setdefault(data["OpportunityId"], set()).add(row.id)
        self._after_write(session, sobject, data, before)

    def _delete_in(self, session: Session, row: SfRecord) -> None:
        """Delete a record and its details (master-detail); clear lookups that pointed to it."""
        doomed = [row]
        seen = {row.id}
        all_rows = session.exec(select(SfRecord)).all()
        while True:
            more = [
                other
                for other in all_rows
                if other.id not in seen
                and any(
                    f.cascade_delete and other.data.get(f.name) in seen
                    for f in SCHEMA[other.sobject].fields.values()
                    if f.type == "reference"
                )
            ]
            if not more:
                break
            doomed.extend(more)
            seen.update(r.id for r in more)
        touched_opportunities = set()
        for victim in doomed:
            if victim.sobject == "OpportunityLineItem":
                touched_opportunities.add(victim.data["OpportunityId"])
            session.delete(victim)
            session.execute(delete(SfExternalId).where(col(SfExternalId.record_id) == victim.id))
        for other in all_rows:
            if other.id in seen:
                continue
            refs = [
                f.name
                for f in SCHEMA[other.sobject].fields.values()
                if f.type == "reference" and other.data.get(f.name) in seen
            ]
            if refs:
                other.data = {**other.data, **dict.fromkeys(refs)}
                session.add(other)
        session.flush()
        for opportunity_id in touched_opportunities - seen:
            self._rollup_opportunity(session, opportunity_id)

    # --- helpers ------------------------------------------------------------------------------

    def _row(self, session: Session, sobject: SObject, record_id: str) -> SfRecord:
        normalized = normalize_id(record_id)
        row = session.get(SfRecord, normalized) if normalized else None
        if row is None or row.sobject != sobject.name:
            raise not_found()
        return row

    def find_external_in(
        self, session: Session, sobject: SObject, f: Field, value: str
    ) -> str | None:
        if f.name == "Id":
            normalized = normalize_id(value)
            row = session.get(SfRecord, normalized) if normalized else None
            return row.id if row is not None and row.sobject == sobject.name else None
        found = session.get(SfExternalId, (sobject.name, f.name, value))
        return found.record_id if found else None

    def _prepare(
        self, session: Session, sobject: SObject, body: Any, *, creating: bool, current: str | None
    ) -> dict[str, Any]:
        """Validate a request body into stored values (Salesforce's errors on any mistake)."""
        if not isinstance(body, dict):
            raise json_parser_error(
                f"Cannot deserialize instance of {sobject.name} from {json_token(body)} "
                "value [line:1, column:1]"
            )
        values: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            f = sobject.field_ci(key)
            if f is None:
                lookup = sobject.relationship_ci(key)
                if lookup is not None and isinstance(raw, dict):
                    values[lookup.name] = self._foreign_key(session, lookup, raw)
                    continue
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{key}' on sobject of type {sobject.name}",
                )
            if f.name == "Id" and creating:
                message = "The Id field should not be specified in the sobject data."
                raise SalesforceError(400, "INVALID_FIELD", message)
            if f.name == "Id" and isinstance(raw, str):
                if normalize_id(raw) != current:
                    raise SalesforceError(
                        400, "INVALID_ID_FIELD", f"The Id field should not be specified: {raw}"
                    )
                continue
            if not (f.createable if creating else f.updateable):
                not_writable.append(f.name)
                continue
            values[f.name] = coerce(f, raw)
        if not_writable:
            raise SalesforceError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(not_writable)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                not_writable,
            )
        for name, value in values.items():
            f = sobject.fields[name]
            if f.type == "reference" and value is not None:
                target = session.get(SfRecord, value)
                if target is None or target.sobject != f.reference_to:
                    raise SalesforceError(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"invalid cross reference id: {value}",
                        [name],
                    )
        return values

    def _foreign_key(self, session: Session, lookup: Field, raw: dict[str, Any]) -> str:
        """`"Account": {"Q2C_External_Id__c": "ACC-1"}` → the AccountId it names."""
        parent = SCHEMA[lookup.reference_to or ""]
        keys = [k for k in raw if k != "attributes"]
        f = parent.field_ci(keys[0]) if len(keys) == 1 else None
        if f is None or not f.external_id or not isinstance(raw[keys[0]], str):
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"{lookup.relationship_name}: a foreign key reference must name exactly one "
                f"external ID field of {parent.name}",
            )
        value = raw[keys[0]]
        found = self.find_external_in(session, parent, f, value)
        if found is None:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {f.name} in entity "
                f"{parent.name}",
            )
        return found

    def _index_external_ids(
        self, session: Session, sobject: SObject, record_id: str, data: dict[str, Any]
    ) -> None:
        """Keep the external-id index in step with the record; refuse a value another holds."""
        with session.no_autoflush:
            for f in sobject.fields.values():
                if not f.external_id:
                    continue
                value = data.get(f.name)
                indexed = session.exec(
                    select(SfExternalId).where(
                        col(SfExternalId.record_id) == record_id, col(SfExternalId.field) == f.name
                    )
                ).all()
                for row in indexed:
                    if row.value != value:
                        session.delete(row)
                if value is None:
                    continue
                holder = session.get(SfExternalId, (sobject.name, f.name, value))
                if holder is not None:
                    if holder.record_id != record_id:
                        raise SalesforceError(
                            400,
                            "DUPLICATE_VALUE",
                            f"duplicate value found: {f.name} duplicates value on record with "
                            f"id: {holder.record_id}",
                            [f.name],
                        )
                    continue
                session.add(
                    SfExternalId(
                        sobject=sobject.name, field=f.name, value=value, record_id=record_id
                    )
                )

    def _data(self, session: Session, record_id: str | None) -> dict[str, Any] | None:
        row = session.get(SfRecord, record_id) if record_id else None
        return row.data if row is not None else None

    def _derive(
        self, session: Session, sobject: SObject, data: dict[str, Any], *, creating: bool
    ) -> None:
        """Fields the org computes: formulas, roll-ups and auto numbers."""
        name = sobject.name
        if name == "PricebookEntry":
            product = self._data(session, data["Product2Id"]) or {}
            data["Name"], data["ProductCode"] = product.get("Name"), product.get("ProductCode")
        elif name == "Opportunity":
            data["IsClosed"] = data.get("StageName") in CLOSED_STAGES
            data["IsWon"] = data.get("StageName") == "Closed Won"
        elif name == "OpportunityLineItem":
            self._derive_line(session, data)
        elif name == "Contract":
            if creating:
                number = next_value(session, SEQUENCE_PREFIX + "ContractNumber")
                data["ContractNumber"] = f"{number:08d}"
            start, term = data.get("StartDate"), data.get("ContractTerm")
            data["EndDate"] = (
                (_add_months(date.fromisoformat(start), int(term)) - timedelta(days=1)).isoformat()
                if start and term
                else None
            )
        elif name == "Q2C_Amendment_Line__c" and creating:
            number = next_value(session, SEQUENCE_PREFIX + "AmendmentLineNumber")
            data["Name"] = f"AL-{number:06d}"

    def _derive_line(self, session: Session, data: dict[str, Any]) -> None:
        entry = self._data(session, data.get("PricebookEntryId"))
        if entry is not None:
            if data.get("Product2Id") not in (None, entry["Product2Id"]):
                raise SalesforceError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "field integrity exception: PricebookEntryId, Product2Id (the price book "
                    "entry is for another product)",
                    ["PricebookEntryId", "Product2Id"],
                )
            data["Product2Id"] = entry["Product2Id"]
            data["ListPrice"] = entry["UnitPrice"]
            if data.get("UnitPrice") is None:
                data["UnitPrice"] = entry["UnitPrice"]
        if data.get("Product2Id") is None:
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [PricebookEntryId]",
                ["PricebookEntryId"],
            )
        if data.get("UnitPrice") is None:
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [UnitPrice]",
                ["UnitPrice"],
            )
        product = self._data(session, data["Product2Id"]) or {}
        opportunity = self._data(session, data["OpportunityId"]) or {}
        data["ProductCode"] = product.get("ProductCode")
        data["Name"] = f"{opportunity.get('Name', '')} {product.get('Name', '')}".strip()
        data["TotalPrice"] = str(Decimal(data["Quantity"]) * Decimal(data["UnitPrice"]))

    def _line_index(self, session: Session) -> dict[str, set[str]]:
        if self._lines is None:
            lines: dict[str, set[str]] = {}
            rows = session.exec(
                select(SfRecord).where(col(SfRecord.sobject) == "OpportunityLineItem")
            ).all()
            for row in rows:
                lines.setdefault(str(row.data.get("OpportunityId")), set()).add(row.id)
            self._lines = lines
        return self._lines

    def lines_of(self, session: Session, opportunity_id: str) -> list[dict[str, Any]]:
        """The line items of one opportunity (as of this transaction), in creation order."""
        rows = [
            session.get(SfRecord, line_id)
            for line_id in self._line_index(session).get(opportunity_id, ())
        ]
        return [
            row.data
            for row in sorted((r for r in rows if r is not None), key=lambda r: r.seq)
            if row.sobject == "OpportunityLineItem"
            and row.data.get("OpportunityId") == opportunity_id
        ]

    def _after_write(
        self,
        session: Session,
        sobject: SObject,
        data: dict[str, Any],
        before: dict[str, Any] | None = None,
    ) -> None:
        if sobject.name == "OpportunityLineItem":
            self._rollup_opportunity(session, data["OpportunityId"])
        elif sobject.name == "Product2":
            derived = ("Name", "ProductCode")  # what entries and line items copy from it
            if before is not None and all(before.get(k) == data.get(k) for k in derived):
                return
            for row in session.exec(
                select(SfRecord).where(
                    col(SfRecord.sobject).in_(["PricebookEntry", "OpportunityLineItem"])
                )
            ).all():
                if row.data.get("Product2Id") == data["Id"]:
                    updated = dict(row.data)
                    self._derive(session, SCHEMA[row.sobject], updated, creating=False)
                    row.data = updated
                    session.add(row)

    def _rollup_opportunity(self, session: Session, opportunity_id: str) -> None:
        row = session.get(SfRecord, opportunity_id)
        if row is None:
            return
        lines = self.lines_of(session, opportunity_id)
        data = dict(row.data)
        data["HasOpportunityLineItem"] = bool(lines)
        if lines:
            data["Amount"] = str(sum((Decimal(line["TotalPrice"]) for line in lines), Decimal()))
        row.data = data
        session.add(row)
