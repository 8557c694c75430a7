"""ERP records: validated writes, defaults NetSuite fills in, balanced and immutable journals.

Writes run under one lock and one transaction, so a PUT on `eid:` is find-or-create
atomically. A posted (approved) journal entry is never changed: a write that would change it
is refused, while a retry that sends the same content again succeeds without changing
anything, so an idempotent retry after a commit-then-fail is not mistaken for an edit.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from sandbox.clock import SandboxClock
from sandbox.db import clear_sequences, clear_tables, next_value
from sandbox.erp.errors import NetSuiteError, invalid_content, not_found, user_error
from sandbox.erp.models import ErpExternalId, ErpRecord
from sandbox.erp.schema import MINOR_UNITS, RECORD_TYPES, REFERENCE_DATA, FieldSpec, RecordType

SEQUENCE_PREFIX = "erp:"
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_\-]+$")
POSTED_REFUSAL = (
    "This journal entry is posted and cannot be changed or deleted. Post a correcting journal "
    "entry instead."
)


def check_external_id(value: Any, path: str = "externalId") -> str:
    if not isinstance(value, str) or not EXTERNAL_ID.match(value):
        raise invalid_content(
            f"Invalid external ID {value!r}: an external ID may contain only letters, numbers, "
            "underscore (_) and hyphen (-).",
            path,
        )
    return value


def _timestamp(clock: SandboxClock) -> str:
    return clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ErpStore:
    def __init__(self, engine: Engine, clock: SandboxClock) -> None:
        self.engine = engine
        self.clock = clock
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._lock, Session(self.engine) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    # --- reading ------------------------------------------------------------------------------

    def lookup(self, session: Session, record_type: str, key: str) -> ErpRecord | None:
        """A record by internal id (`42`) or external id (`eid:ABC`)."""
        if key.startswith("eid:"):
            found = session.get(ErpExternalId, (record_type, key[4:]))
            if found is None:
                return None
            return session.get(ErpRecord, (record_type, found.record_id))
        if not key.isdigit():
            return None
        return session.get(ErpRecord, (record_type, int(key)))

    def get(self, rt: RecordType, key: str) -> dict[str, Any] | None:
        with self._lock, Session(self.engine) as session:
            row = self.lookup(session, rt.name, key)
            return dict(row.data) if row is not None else None

    def all(self, rt: RecordType) -> list[dict[str, Any]]:
        with self._lock, Session(self.engine) as session:
            rows = session.exec(
                select(ErpRecord)
                .where(col(ErpRecord.record_type) == rt.name)
                .order_by(col(ErpRecord.id))
            ).all()
            return [row.data for row in rows]

    def ref_name(self, record_type: str, record_id: str) -> str | None:
        with self._lock, Session(self.engine) as session:
            row = session.get(ErpRecord, (record_type, int(record_id)))
        if row is None:
            return None
        value = row.data.get(RECORD_TYPES[record_type].ref_name)
        return str(value) if value is not None else None

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return {name: self.all(rt) for name, rt in RECORD_TYPES.items()}

    # --- writing ------------------------------------------------------------------------------

    def create(self, rt: RecordType, body: Any, *, strict: bool = True) -> int:
        with self.transaction() as session:
            return self.create_in(session, rt, body, strict=strict)

    def update(self, rt: RecordType, key: str, body: Any, *, strict: bool = True) -> int:
        with self.transaction() as session:
            row = self.lookup(session, rt.name, key)
            if row is None:
                raise not_found()
            self._update_in(session, rt, row, body, strict=strict)
            return row.id

    def upsert(
        self, rt: RecordType, external_id: str, body: Any, *, strict: bool = True
    ) -> tuple[int, bool]:
        """PUT on `eid:`: update the record with that external id, or create it."""
        check_external_id(external_id, "eid")
        with self.transaction() as session:
            if isinstance(body, dict):
                given = next((v for k, v in body.items() if k.lower() == "externalid"), None)
                if given not in (None, external_id):
                    raise invalid_content(
                        "The externalId in the request body does not match the one in the URL.",
                        "externalId",
                    )
            row = self.lookup(session, rt.name, f"eid:{external_id}")
            if row is not None:
                self._update_in(session, rt, row, body, strict=strict)
                return row.id, False
            if isinstance(body, dict):
                body = {**body, "externalId": external_id}
            return self.create_in(session, rt, body, strict=strict), True

    def delete(self, rt: RecordType, key: str) -> None:
        with self.transaction() as session:
            row = self.lookup(session, rt.name, key)
            if row is None:
                raise not_found()
            if rt.immutable_when_posted and row.data.get("approved"):
                raise user_error(POSTED_REFUSAL)
            referenced = self._referenced_by(session, rt.name, row.id)
            if referenced:
                raise user_error(
                    f"This record cannot be deleted because it is referenced by {referenced}."
                )
            session.delete(row)
            session.connection().execute(
                delete(ErpExternalId).where(
                    col(ErpExternalId.record_type) == rt.name,
                    col(ErpExternalId.record_id) == row.id,
                )
            )

    def reset(self) -> None:
        """Empty the account, keeping its setup: currencies, subsidiaries, chart of accounts."""
        with self._lock:
            clear_tables(self.engine, ErpExternalId, ErpRecord)
            clear_sequences(self.engine, SEQUENCE_PREFIX)
            with self.transaction() as session:
                currency_ids: dict[str, str] = {}
                for record_type in ("currency", "subsidiary", "account"):
                    for raw in REFERENCE_DATA[record_type]:
                        data = dict(raw)
                        if record_type == "subsidiary":
                            data["currency"] = {"id": currency_ids[str(data["currency"])]}
                        record_id = self._insert(session, RECORD_TYPES[record_type], data)
                        if record_type == "currency":
                            currency_ids[str(data["symbol"])] = str(record_id)

    def add_reference(self, rt: RecordType, body: dict[str, Any]) -> int:
        """Admin seeding of setup records the REST API cannot create (a legal entity, say).

        Idempotent by `externalId`; a subsidiary's `currency` may be given as its ISO code.
        """
        external = body.get("externalId")
        if not isinstance(external, str) or not external:
            raise invalid_content("A setup record needs an externalId.", "externalId")
        with self.transaction() as session:
            existing = self.lookup(session, rt.name, f"eid:{external}")
            if existing is not None:
                return existing.id
            data = dict(body)
            currency = data.get("currency")
            if rt.name == "subsidiary" and isinstance(currency, str):
                row = self.lookup(session, "currency", f"eid:{currency}")
                if row is None:
                    raise invalid_content(f"Unknown currency {currency}.", "currency")
                data["currency"] = {"id": str(row.id)}
            return self._insert(session, rt, data)

    # --- inside a transaction -----------------------------------------------------------------

    def create_in(self, session: Session, rt: RecordType, body: Any, *, strict: bool) -> int:
        if not rt.writable:
            raise NetSuiteError(
                405, "INVALID_REQUEST", f"Records of type {rt.name} cannot be created here."
            )
        values = self._prepare(session, rt, body, strict=strict)
        self._defaults(session, rt, values)
        self._validate(session, rt, values)
        return self._insert(session, rt, values)

    def _insert(self, session: Session, rt: RecordType, values: dict[str, Any]) -> int:
        record_id = next_value(session, SEQUENCE_PREFIX + rt.name)
        now = _timestamp(self.clock)
        data = {**values, "id": str(record_id), "dateCreated": now, "lastModifiedDate": now}
        if rt.name == "journalEntry":
            data["tranId"] = f"JE{record_id}"
        self._index_external_id(session, rt, record_id, data.get("externalId"))
        session.add(ErpRecord(record_type=rt.name, id=record_id, data=data))
        session.flush()
        return record_id

    def _update_in(
        self, session: Session, rt: RecordType, row: ErpRecord, body: Any, *, strict: bool
    ) -> None:
        if not rt.writable:
            raise NetSuiteError(
                405, "INVALID_REQUEST", f"Records of type {rt.name} cannot be changed here."
            )
        values = self._prepare(session, rt, body, strict=strict)
        candidate = {**row.data, **values}
        self._validate(session, rt, candidate)
        volatile = {"lastModifiedDate"}
        unchanged = {k: v for k, v in candidate.items() if k not in volatile} == {
            k: v for k, v in row.data.items() if k not in volatile
        }
        if unchanged:
            return
        if rt.immutable_when_posted and row.data.get("approved"):
            raise user_error(POSTED_REFUSAL)
        candidate["lastModifiedDate"] = _timestamp(self.clock)
        self._index_external_id(session, rt, row.id, candidate.get("externalId"))
        row.data = candidate
        session.add(row)
        session.flush()

    # --- validation ---------------------------------------------------------------------------

    def _prepare(
        self, session: Session, rt: RecordType, body: Any, *, strict: bool
    ) -> dict[str, Any]:
        """A request body as stored values; NetSuite's errors for any mistake."""
        if not isinstance(body, dict):
            raise invalid_content("The request body must be a JSON object.")
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "links":
                continue
            spec = rt.field_ci(key)
            if spec is not None:
                if spec.readonly:
                    continue
                if spec.name == "externalId" and raw is not None:
                    values["externalId"] = check_external_id(raw)
                    continue
                values[spec.name] = self._value(session, spec, raw, spec.name)
                continue
            sublist = rt.sublist_ci(key)
            if sublist is not None:
                values[sublist] = self._sublist(session, rt, sublist, raw)
                continue
            if strict:
                raise invalid_content(
                    f"Unrecognized field '{key}' for record type {rt.name}. Send "
                    "X-NetSuite-PropertyNameValidation: Ignore to skip unknown fields.",
                    key,
                )
        return values

    def _sublist(
        self, session: Session, rt: RecordType, sublist: str, raw: Any
    ) -> list[dict[str, Any]]:
        if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
            raise invalid_content(
                f"The sublist '{sublist}' must be an object with an 'items' array.", sublist
            )
        specs = rt.sublists[sublist]
        items: list[dict[str, Any]] = []
        for index, item in enumerate(raw["items"]):
            path = f"{sublist}.items[{index}]"
            if not isinstance(item, dict):
                raise invalid_content("Each sublist line must be a JSON object.", path)
            line: dict[str, Any] = {}
            for key, value in item.items():
                if key == "links":
                    continue
                lowered = key.lower()
                spec = next((s for s in specs.values() if s.name.lower() == lowered), None)
                if spec is None:
                    raise invalid_content(
                        f"Unrecognized field '{key}' on {sublist}.", f"{path}.{key}"
                    )
                line[spec.name] = self._value(session, spec, value, f"{path}.{spec.name}")
            for spec in specs.values():
                if spec.required and line.get(spec.name) is None:
                    raise user_error(
                        f"Please enter value(s) for: {spec.label}", f"{path}.{spec.name}"
                    )
            line["line"] = index
            items.append(line)
        return items

    def _value(self, session: Session, spec: FieldSpec, raw: Any, path: str) -> Any:
        if raw is None:
            return None
        wrong = invalid_content(
            f"Invalid value {raw!r} for field '{spec.name}': expected {spec.kind}.", path
        )
        if spec.kind in ("string", "text"):
            if not isinstance(raw, str):
                raise wrong
            if len(raw) > spec.max_length:
                raise invalid_content(
                    f"The value of field '{spec.name}' is longer than {spec.max_length} "
                    "characters.",
                    path,
                )
            return raw
        if spec.kind == "boolean":
            if not isinstance(raw, bool):
                raise wrong
            return raw
        if spec.kind in ("number", "integer"):
            if isinstance(raw, bool) or not isinstance(raw, (int, float, Decimal)):
                raise wrong
            try:
                number = Decimal(str(raw))
            except InvalidOperation:
                raise wrong from None
            if not number.is_finite() or (
                spec.kind == "integer" and number != number.to_integral_value()
            ):
                raise wrong
            return str(int(number)) if spec.kind == "integer" else str(number)
        if spec.kind == "date":
            if not isinstance(raw, str) or len(raw) != 10:
                raise wrong
            try:
                return date.fromisoformat(raw).isoformat()
            except ValueError:
                raise wrong from None
        return self._reference(session, spec, raw, path)

    def _reference(self, session: Session, spec: FieldSpec, raw: Any, path: str) -> dict[str, str]:
        """`{"id": "3"}` or `{"externalId": "EU-DE"}` → `{"id": "3"}` of an existing record."""
        assert spec.ref_type is not None
        bad = invalid_content(
            "Error while accessing resource: You have entered an Invalid Field Value "
            f"{raw!r} for the following field: {spec.name}",
            path,
        )
        if not isinstance(raw, dict):
            raise bad
        if "id" in raw and raw["id"] is not None:
            key = str(raw["id"])
        elif isinstance(raw.get("externalId"), str):
            key = "eid:" + raw["externalId"]
        else:
            raise bad
        row = self.lookup(session, spec.ref_type, key)
        if row is None:
            raise invalid_content(
                "Error while accessing resource: You have entered an Invalid Field Value "
                f"{key.removeprefix('eid:')} for the following field: {spec.name}",
                path,
            )
        return {"id": str(row.id)}

    def _defaults(self, session: Session, rt: RecordType, values: dict[str, Any]) -> None:
        """What NetSuite fills in when a create leaves it out."""
        if rt.name == "customer":
            if values.get("isPerson") is None:
                values["isPerson"] = values.get("companyName") is None and bool(
                    values.get("lastName")
                )
            if values.get("entityId") is None:
                person = " ".join(v for v in (values.get("firstName"), values.get("lastName")) if v)
                values["entityId"] = values.get("companyName") or person or None
            values.setdefault("subsidiary", None)
            if values["subsidiary"] is None:
                values["subsidiary"] = {"id": "1"}
        if rt.name == "serviceSaleItem" and values.get("displayName") is None:
            values["displayName"] = values.get("itemId")
        if rt.name == "journalEntry":
            if values.get("tranDate") is None:
                values["tranDate"] = self.clock.now().date().isoformat()
            if values.get("approved") is None:
                values["approved"] = True
        if "currency" in rt.fields and values.get("currency") is None:
            subsidiary = values.get("subsidiary")
            row = (
                session.get(ErpRecord, ("subsidiary", int(subsidiary["id"])))
                if subsidiary
                else None
            )
            if row is not None:
                values["currency"] = row.data["currency"]

    def _validate(self, session: Session, rt: RecordType, data: dict[str, Any]) -> None:
        for spec in rt.fields.values():
            if spec.required and data.get(spec.name) is None:
                raise user_error(f"Please enter value(s) for: {spec.label}", spec.name)
        if rt.name == "customer" and not (data.get("companyName") or data.get("lastName")):
            raise user_error("Please enter value(s) for: Company Name", "companyName")
        if rt.name == "journalEntry":
            self._validate_journal(session, data)

    def _validate_journal(self, session: Session, data: dict[str, Any]) -> None:
        lines = data.get("line") or []
        if len(lines) < 2:
            raise user_error("A journal entry needs at least two lines.", "line")
        currency = data.get("currency")
        row = session.get(ErpRecord, ("currency", int(currency["id"]))) if currency else None
        places = MINOR_UNITS.get(str(row.data["symbol"]), 2) if row else 2
        debits = credits = Decimal(0)
        for index, line in enumerate(lines):
            path = f"line.items[{index}]"
            debit, credit = line.get("debit"), line.get("credit")
            if (debit is None) == (credit is None):
                raise user_error("Each line must have either a debit or a credit amount.", path)
            amount = Decimal(debit if debit is not None else credit)
            if amount <= 0:
                raise user_error("Line amounts must be positive.", path)
            if amount != amount.quantize(Decimal(1).scaleb(-places)):
                raise invalid_content(
                    f"The amount {amount} has more decimal places than the currency allows "
                    f"({places}).",
                    f"{path}.{'debit' if debit is not None else 'credit'}",
                )
            if debit is not None:
                debits += amount
            else:
                credits += amount
        if debits != credits:
            raise user_error(
                f"The transaction is out of balance: total debits ({debits}) must equal total "
                f"credits ({credits}).",
                "line",
            )

    def _index_external_id(
        self, session: Session, rt: RecordType, record_id: int, value: str | None
    ) -> None:
        """Keep the external-id index in step with the record; refuse a value another holds."""
        with session.no_autoflush:
            indexed = session.exec(
                select(ErpExternalId).where(
                    col(ErpExternalId.record_type) == rt.name,
                    col(ErpExternalId.record_id) == record_id,
                )
            ).all()
            for row in indexed:
                if row.value != value:
                    session.delete(row)
            if value is None:
                return
            holder = session.get(ErpExternalId, (rt.name, value))
            if holder is not None:
                if holder.record_id != record_id:
                    raise NetSuiteError(
                        400,
                        "DUP_RCRD",
                        f"A {rt.label} record with the external ID {value} already exists "
                        f"(internal ID {holder.record_id}).",
                        path="externalId",
                    )
                return
            session.add(ErpExternalId(record_type=rt.name, value=value, record_id=record_id))

    def _referenced_by(self, session: Session, record_type: str, record_id: int) -> str | None:
        """The first record that points at this one (NetSuite refuses to delete it)."""
        target = {"id": str(record_id)}
        for row in session.exec(select(ErpRecord)).all():
            rt = RECORD_TYPES[row.record_type]
            values = [
                row.data.get(spec.name)
                for spec in rt.fields.values()
                if spec.ref_type == record_type
            ]
            for sublist, specs in rt.sublists.items():
                for line in row.data.get(sublist) or []:
                    values.extend(
                        line.get(spec.name)
                        for spec in specs.values()
                        if spec.ref_type == record_type
                    )
            if target in values:
                return f"{row.record_type} {row.id}"
        return None
