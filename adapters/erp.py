"""ERP adapter (NetSuite REST record API shape): customers, items, journal entries, revenue
schedules.

The ERP is the book of record: q2c posts and never edits a posted entry (DESIGN.md §1), so
journal entries are created, never upserted. Idempotency is the record's `externalId` (DESIGN.md
§4): before creating, the entry is looked up by `eid:<externalId>`; a create whose answer was
lost (timeout, 500 after commit, dropped connection) surfaces as `TransientError`, and the retry
finds the entry instead of posting it twice. Master data (customer, item) and the revenue
schedule are upserted with `PUT …/eid:<externalId>`.

Amounts travel as JSON numbers, written from `Decimal` only when exact, and are read back as
`Decimal`. Auth: OAuth 2.0 client credentials at `/services/rest/auth/oauth2/v1/token`, with
the signed client assertion NetSuite requires (see `client_assertion_grant`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_jsonable_python

from adapters.errors import BusinessError, IdempotencyConflictError, NotFoundError, TransientError
from adapters.http import (
    TokenCache,
    VendorApi,
    VendorFault,
    json_or_none,
    parse_record,
    read_json,
    to_wire,
)
from adapters.settings import ConfigError, Settings

SYSTEM = "erp"
RECORD = "/services/rest/record/v1"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
JOURNAL = "journalEntry"
CUSTOMER = "customer"
ITEM = "serviceSaleItem"
REVENUE_SCHEDULE = "customrecord_q2c_revenue_schedule"
CONTRACT_FIELD = "custbody_q2c_contract"
KEY_FIELD = "custbody_q2c_key"
CONTRACT_RECORD_FIELD = "custrecord_q2c_contract"
TRANSIENT_CODES = frozenset({"CONCURRENCY_LIMIT_EXCEEDED", "REQUEST_LIMIT_EXCEEDED"})
ASSERTION_LIFETIME_SECONDS = 300  # NetSuite takes at most 60 minutes
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def external_id_for(key: str) -> str:
    """An idempotency key as a valid NetSuite external id (letters, digits, `_`, `-`).

    Injective: every other character, `_` included, becomes `_` and two hex digits per UTF-8
    byte, so `contract-OPP-1:invoice:2026-03` → `contract-OPP-1_3Ainvoice_3A2026-03`.
    """
    out: list[str] = []
    for ch in key:
        if ch.isascii() and (ch.isalnum() or ch == "-"):
            out.append(ch)
        else:
            out.extend(f"_{byte:02X}" for byte in ch.encode())
    return "".join(out)


def check_external_id(value: str) -> str:
    if not _EXTERNAL_ID.match(value):
        raise BusinessError(
            SYSTEM,
            f"external id {value!r} may hold only letters, digits, _ and - (use external_id_for)",
            code="INVALID_EXTERNAL_ID",
        )
    return value


def client_assertion_grant(
    settings: Settings, token_url: str
) -> Callable[[], dict[str, str]] | None:
    """NetSuite's client-credentials grant: a JWT signed (PS256) with the private key whose
    certificate is mapped to the integration, `kid` = the certificate id, `iss` = client id.

    None (client id and secret in the form, what the sandbox takes) when no key is set.
    """
    if not settings.erp_private_key_path:
        return None
    try:
        key = Path(settings.erp_private_key_path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"Q2C_ERP_PRIVATE_KEY_PATH: cannot read: {exc.strerror}") from None
    if not settings.erp_certificate_id:
        raise ConfigError("Q2C_ERP_CERTIFICATE_ID: needed with Q2C_ERP_PRIVATE_KEY_PATH")

    def grant() -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": settings.erp_client_id,
            "scope": ["rest_webservices"],
            "aud": token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        headers = {"kid": settings.erp_certificate_id, "typ": "JWT"}
        assertion = jwt.encode(claims, key, algorithm="PS256", headers=headers)
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }

    return grant


def parse_error(response: httpx.Response) -> VendorFault:
    """NetSuite errors: `{"type", "title", "status", "o:errorDetails": [{"detail",
    "o:errorCode"}]}`; every detail is kept in the message."""
    body = json_or_none(response)
    if isinstance(body, dict):
        details = body.get("o:errorDetails")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            code = details[0].get("o:errorCode")
            message = "; ".join(
                str(d.get("detail")) for d in details if isinstance(d, dict) and d.get("detail")
            )
            return VendorFault(str(code) if code else None, message or str(body.get("title")))
        if isinstance(body.get("error"), str):  # the token endpoint (RFC 6749)
            return VendorFault(body["error"], str(body.get("error_description") or body["error"]))
        if body.get("title"):
            return VendorFault(None, str(body["title"]))
    return VendorFault(None, response.text[:200] or response.reason_phrase)


class NsModel(BaseModel):
    """Records as the ERP sends them: its field names as aliases, unknown fields ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class RecordRef(NsModel):
    """A reference as the ERP answers it: internal id and display name."""

    id: str
    ref_name: str | None = Field(None, alias="refName")


class JournalLine(NsModel):
    """One line to post: exactly one of debit or credit is positive.

    `account` is the account number and `entity` the customer's external id: q2c refers to ERP
    records by the external ids it knows, never by internal ids it would have to look up.
    """

    account: str
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    memo: str | None = None
    entity: str | None = None


class PostedLine(NsModel):
    """A line as the ERP holds it (references resolved to internal ids)."""

    line: int | None = None
    account: RecordRef
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    memo: str | None = None
    entity: RecordRef | None = None

    @field_validator("debit", "credit", mode="before")
    @classmethod
    def _none_is_zero(cls, value: Any) -> Any:
        return Decimal(0) if value is None else value


class JournalEntry(NsModel):
    id: str
    external_id: str | None = Field(None, alias="externalId")
    tran_id: str | None = Field(None, alias="tranId")
    tran_date: date = Field(alias="tranDate")
    subsidiary: RecordRef
    currency: RecordRef | None = None
    memo: str | None = None
    contract_id: str | None = Field(None, alias=CONTRACT_FIELD)
    idempotency_key: str | None = Field(None, alias=KEY_FIELD)
    lines: list[PostedLine] = Field(default_factory=list)

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), Decimal(0))


class ErpRecordRef(NsModel):
    """What an upsert leaves: the record's internal id and external id."""

    id: str
    external_id: str | None = Field(None, alias="externalId")


class RevenueSchedule(NsModel):
    """`customrecord_q2c_revenue_schedule`: the contract's current schedule, as JSON text."""

    id: str
    external_id: str | None = Field(None, alias="externalId")
    name: str
    contract_id: str = Field(alias="custrecord_q2c_contract")
    customer: RecordRef | None = Field(None, alias="custrecord_q2c_customer")
    subsidiary: RecordRef | None = Field(None, alias="custrecord_q2c_subsidiary")
    currency: RecordRef | None = Field(None, alias="custrecord_q2c_currency")
    total: Decimal | None = Field(None, alias="custrecord_q2c_total")
    start_date: date | None = Field(None, alias="custrecord_q2c_start_date")
    end_date: date | None = Field(None, alias="custrecord_q2c_end_date")
    version: int | None = Field(None, alias="custrecord_q2c_version")
    schedule: str | None = Field(None, alias="custrecord_q2c_schedule")


def check_balanced(lines: Sequence[JournalLine]) -> None:
    """Refuse locally what the ERP would refuse: the entry must balance, line by line sane."""
    if len(lines) < 2:
        raise BusinessError(SYSTEM, "a journal entry needs two lines", code="UNBALANCED_ENTRY")
    for n, line in enumerate(lines):
        if line.debit < 0 or line.credit < 0 or (line.debit > 0) == (line.credit > 0):
            raise BusinessError(
                SYSTEM,
                f"line {n}: exactly one of debit ({line.debit}) or credit ({line.credit}) "
                "must be positive",
                code="INVALID_JOURNAL_LINE",
            )
    debits = sum((line.debit for line in lines), Decimal(0))
    credits = sum((line.credit for line in lines), Decimal(0))
    if debits != credits:
        raise BusinessError(
            SYSTEM,
            f"journal entry out of balance: debits {debits} != credits {credits}",
            code="UNBALANCED_ENTRY",
        )


class ErpClient:
    """Async ERP client; share one `http` client across adapters of a worker."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        base = settings.erp_url.rstrip("/")
        self.api = VendorApi(
            system=SYSTEM,
            base_url=base,
            tokens=TokenCache(
                SYSTEM,
                base + TOKEN_PATH,
                settings.erp_client_id,
                settings.erp_client_secret,
                parse_error,
                grant=client_assertion_grant(settings, base + TOKEN_PATH),
            ),
            parse_error=parse_error,
            http=http,
            settings=settings,
            transient_codes=TRANSIENT_CODES,
        )

    async def aclose(self) -> None:
        await self.api.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # what the activities need

    async def ensure_customer(
        self,
        external_id: str,
        name: str,
        *,
        subsidiary: str | None = None,
        currency: str | None = None,
        email: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> ErpRecordRef:
        """Upsert the customer by external id (the customer's id in Salesforce, say).

        `subsidiary` is the legal entity code and `currency` the ISO code (both external ids).
        """
        body = {
            "companyName": name,
            "subsidiary": _eid_ref(subsidiary),
            "currency": _eid_ref(currency),
            "email": email,
            **(fields or {}),
        }
        record_id = await self.upsert(CUSTOMER, external_id, body)
        return ErpRecordRef(id=record_id, externalId=external_id)

    async def ensure_item(
        self,
        external_id: str,
        item_id: str,
        *,
        display_name: str | None = None,
        kind: str | None = None,
        income_account: str | None = None,
        deferred_revenue_account: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> ErpRecordRef:
        """Upsert a service sale item by external id (accounts by number)."""
        body = {
            "itemId": item_id,
            "displayName": display_name,
            "custitem_q2c_kind": kind,
            "incomeAccount": _eid_ref(income_account),
            "deferredRevenueAccount": _eid_ref(deferred_revenue_account),
            **(fields or {}),
        }
        record_id = await self.upsert(ITEM, external_id, body)
        return ErpRecordRef(id=record_id, externalId=external_id)

    async def post_journal_entry(
        self,
        external_id: str,
        tran_date: date,
        subsidiary: str,
        currency: str,
        lines: Sequence[JournalLine],
        memo: str | None = None,
        *,
        contract_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> JournalEntry:
        """Post an entry once, keyed by `external_id` (see `external_id_for`).

        An entry already posted under this external id is returned as it is, provided it has
        the same date and amounts (else `IdempotencyConflictError`); posted entries are never
        changed. An unbalanced entry is refused here (`BusinessError` UNBALANCED_ENTRY) before
        anything is sent. `subsidiary` is the legal entity code, `currency` the ISO code.
        A new entry is read back as the ERP stored it.
        """
        posted = await self._post_journal(
            external_id, tran_date, subsidiary, currency, lines, memo, contract_id, idempotency_key
        )
        if isinstance(posted, JournalEntry):
            return posted
        record = await self.get(JOURNAL, posted)
        return parse_record(SYSTEM, JournalEntry, _entry_data(record), external_id)

    async def post_journal_entry_id(
        self,
        external_id: str,
        tran_date: date,
        subsidiary: str,
        currency: str,
        lines: Sequence[JournalLine],
        memo: str | None = None,
        *,
        contract_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """`post_journal_entry`, answering only the entry's internal id: a new entry is not
        read back (one request fewer for a caller that keeps only the id)."""
        posted = await self._post_journal(
            external_id, tran_date, subsidiary, currency, lines, memo, contract_id, idempotency_key
        )
        return posted.id if isinstance(posted, JournalEntry) else posted

    async def _post_journal(
        self,
        external_id: str,
        tran_date: date,
        subsidiary: str,
        currency: str,
        lines: Sequence[JournalLine],
        memo: str | None,
        contract_id: str | None,
        idempotency_key: str | None,
    ) -> JournalEntry | str:
        """The entry already posted under `external_id`, or the internal id of the new one."""
        check_external_id(external_id)
        check_balanced(lines)
        existing = await self.find(JOURNAL, external_id)
        if existing is not None:
            return _same_entry(existing, external_id, tran_date, lines)
        body = {
            "externalId": external_id,
            "tranDate": tran_date,
            "subsidiary": _eid_ref(subsidiary),
            "currency": _eid_ref(currency),
            "memo": memo,
            CONTRACT_FIELD: contract_id,
            KEY_FIELD: idempotency_key,
            "line": {"items": [_line_body(line) for line in lines]},
        }
        try:
            return await self.create(JOURNAL, body)
        except BusinessError as exc:
            if exc.code != "DUP_RCRD":
                raise
            # Another worker posted it between our look-up and our create.
            existing = await self.find(JOURNAL, external_id)
            if existing is None:
                raise
            return _same_entry(existing, external_id, tran_date, lines)

    async def get_journal_entry(self, external_id: str) -> JournalEntry:
        """The entry posted under this external id (`NotFoundError` if none)."""
        record = await self.get(JOURNAL, f"eid:{check_external_id(external_id)}")
        return parse_record(SYSTEM, JournalEntry, _entry_data(record), external_id)

    async def list_journal_entries(self, contract_id: str) -> list[JournalEntry]:
        """Every entry posted for a contract (`custbody_q2c_contract`), in posting order."""
        ids = await self.list_ids(JOURNAL, q=f"{CONTRACT_FIELD} IS {_q_string(contract_id)}")
        return [
            parse_record(
                SYSTEM, JournalEntry, _entry_data(await self.get(JOURNAL, i)), f"journalEntry {i}"
            )
            for i in sorted(ids, key=_id_order)
        ]

    async def post_revenue_schedule(
        self,
        external_id: str,
        contract_id: str,
        *,
        name: str,
        schedule: Any,
        version: int,
        customer: str | None = None,
        subsidiary: str | None = None,
        currency: str | None = None,
        total: Decimal | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
    ) -> ErpRecordRef:
        """Upsert the contract's revenue schedule (`customrecord_q2c_revenue_schedule`).

        Unlike a journal entry the schedule is a living document, replaced as amendments land;
        `schedule` (obligations, monthly amounts) is stored as JSON text, Decimals as strings.
        `customer` is the customer's external id.
        """
        body = {
            "name": name,
            CONTRACT_RECORD_FIELD: contract_id,
            "custrecord_q2c_customer": _eid_ref(customer),
            "custrecord_q2c_subsidiary": _eid_ref(subsidiary),
            "custrecord_q2c_currency": _eid_ref(currency),
            "custrecord_q2c_total": total,
            "custrecord_q2c_start_date": start_date,
            "custrecord_q2c_end_date": end_date,
            "custrecord_q2c_version": version,
            "custrecord_q2c_schedule": json.dumps(
                to_jsonable_python(schedule), sort_keys=True, separators=(",", ":")
            ),
        }
        record_id = await self.upsert(REVENUE_SCHEDULE, external_id, body)
        return ErpRecordRef(id=record_id, externalId=external_id)

    async def get_revenue_schedule(self, external_id: str) -> RevenueSchedule:
        record = await self.get(REVENUE_SCHEDULE, f"eid:{check_external_id(external_id)}")
        return parse_record(SYSTEM, RevenueSchedule, record, external_id)

    # generic record API

    async def get(self, record_type: str, record_id: str) -> dict[str, Any]:
        """A record by internal id or `eid:<externalId>`, sublists expanded."""
        path = f"{RECORD}/{record_type}/{record_id}"
        response = await self.api.request("GET", path, params={"expandSubResources": "true"})
        body = read_json(SYSTEM, response)
        if not isinstance(body, dict):
            raise TransientError(SYSTEM, f"GET {path}: answer is not an object", code="bad_json")
        return body

    async def find(self, record_type: str, external_id: str) -> dict[str, Any] | None:
        try:
            return await self.get(record_type, f"eid:{check_external_id(external_id)}")
        except NotFoundError:
            return None

    async def create(self, record_type: str, body: Mapping[str, Any]) -> str:
        """POST a record; the answer is 204 with its `Location`: returns the internal id."""
        response = await self.api.request(
            "POST", f"{RECORD}/{record_type}", json=to_wire(SYSTEM, body, drop_none=True)
        )
        return _location_id(response)

    async def upsert(self, record_type: str, external_id: str, body: Mapping[str, Any]) -> str:
        """PUT by `eid:` (create or update, idempotent); returns the internal id."""
        path = f"{RECORD}/{record_type}/eid:{check_external_id(external_id)}"
        response = await self.api.request("PUT", path, json=to_wire(SYSTEM, body, drop_none=True))
        if response.headers.get("Location"):
            return _location_id(response)
        found = await self.get(record_type, f"eid:{external_id}")
        return str(found["id"])

    async def list_ids(self, record_type: str, q: str | None = None) -> list[str]:
        """Internal ids of every record matching the `q` filter, following `next` links."""
        params: dict[str, str | int] | None = {"limit": 1000, **({"q": q} if q else {})}
        url = f"{RECORD}/{record_type}"
        ids: list[str] = []
        while True:
            page = read_json(SYSTEM, await self.api.request("GET", url, params=params))
            if not isinstance(page, dict):
                raise TransientError(SYSTEM, f"GET {url}: answer is not an object", code="bad_json")
            ids.extend(str(item["id"]) for item in page.get("items") or [])
            following = next(
                (link.get("href") for link in page.get("links") or [] if link.get("rel") == "next"),
                None,
            )
            if not following or not page.get("items"):
                return ids
            url, params = str(following), None


def _eid_ref(value: str | None) -> dict[str, str] | None:
    """A reference by external id (account number, ISO code, legal entity code...)."""
    return {"externalId": value} if value is not None else None


def _same_entry(
    record: dict[str, Any], external_id: str, tran_date: date, lines: Sequence[JournalLine]
) -> JournalEntry:
    """The entry found under `external_id`, if it is the one we meant to post.

    References come back as internal ids, so date and amounts are what is compared.
    """
    entry = parse_record(SYSTEM, JournalEntry, _entry_data(record), external_id)
    posted = sorted((line.debit, line.credit) for line in entry.lines)
    wanted = sorted((line.debit, line.credit) for line in lines)
    if entry.tran_date != tran_date or posted != wanted:
        raise IdempotencyConflictError(
            SYSTEM,
            f"journal entry {external_id} was posted before with another date or amounts",
            code="EXTERNAL_ID_CONFLICT",
        )
    return entry


def _line_body(line: JournalLine) -> dict[str, Any]:
    return {
        "account": _eid_ref(line.account),
        "debit": line.debit if line.debit else None,
        "credit": line.credit if line.credit else None,
        "memo": line.memo,
        "entity": _eid_ref(line.entity),
    }


def _entry_data(record: Mapping[str, Any]) -> dict[str, Any]:
    """A journal entry record with its `line` sublist flattened to `lines`."""
    sublist = record.get("line")
    items = sublist.get("items", []) if isinstance(sublist, Mapping) else sublist or []
    return {**record, "lines": items}


def _q_string(value: str) -> str:
    """A string in a `q=` filter: double-quoted, inner quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _id_order(record_id: str) -> tuple[int, str]:
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


def _location_id(response: httpx.Response) -> str:
    location = str(response.headers.get("Location", ""))
    record_id = location.rstrip("/").rsplit("/", 1)[-1]
    if not location or not record_id:
        raise TransientError(SYSTEM, "create answered without a Location", code="bad_answer")
    return record_id
