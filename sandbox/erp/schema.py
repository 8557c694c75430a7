"""The NetSuite record types the ERP sandbox serves, and their fields.

Writable: `customer`, `serviceSaleItem` (NetSuite's "Service for Sale" item, the fit for a
SaaS product), `journalEntry` (body fields plus the `line` sublist of account/debit/credit/
memo/entity) and the custom record `customrecord_q2c_revenue_schedule`. Read-only reference
records, present after every reset: `subsidiary` (one per legal entity, externalId = the
legal entity code), `currency` (externalId = ISO code) and `account` (the chart of accounts
q2c posts to, externalId = account number). Field names are case-insensitive on input, as in
NetSuite; answers use the names below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "text", "boolean", "number", "integer", "date", "ref"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    label: str
    required: bool = False
    ref_type: str | None = None  # for kind "ref": the record type referenced
    readonly: bool = False
    max_length: int = 300


@dataclass
class RecordType:
    name: str
    label: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    sublists: dict[str, dict[str, FieldSpec]] = field(default_factory=dict)
    writable: bool = True
    ref_name: str = "name"  # the field shown as `refName` when another record points here
    immutable_when_posted: bool = False  # journal entries: corrections are new entries

    def field_ci(self, name: str) -> FieldSpec | None:
        lowered = name.lower()
        return next((f for f in self.fields.values() if f.name.lower() == lowered), None)

    def sublist_ci(self, name: str) -> str | None:
        lowered = name.lower()
        return next((s for s in self.sublists if s.lower() == lowered), None)


def _type(
    name: str,
    label: str,
    fields: list[FieldSpec],
    *,
    sublists: dict[str, list[FieldSpec]] | None = None,
    writable: bool = True,
    ref_name: str = "name",
    immutable_when_posted: bool = False,
) -> RecordType:
    common = [
        FieldSpec("id", "string", "Internal ID", readonly=True),
        FieldSpec("externalId", "string", "External ID"),
        FieldSpec("dateCreated", "string", "Date Created", readonly=True),
        FieldSpec("lastModifiedDate", "string", "Last Modified", readonly=True),
    ]
    return RecordType(
        name,
        label,
        {f.name: f for f in [*common, *fields]},
        {k: {f.name: f for f in v} for k, v in (sublists or {}).items()},
        writable,
        ref_name,
        immutable_when_posted,
    )


def _ref(name: str, label: str, ref_type: str, *, required: bool = False) -> FieldSpec:
    return FieldSpec(name, "ref", label, required=required, ref_type=ref_type)


RECORD_TYPES: dict[str, RecordType] = {
    t.name: t
    for t in [
        _type(
            "subsidiary",
            "Subsidiary",
            [
                FieldSpec("name", "string", "Name", required=True),
                _ref("currency", "Currency", "currency"),
                FieldSpec("country", "string", "Country"),
            ],
            writable=False,
        ),
        _type(
            "currency",
            "Currency",
            [
                FieldSpec("name", "string", "Name", required=True),
                FieldSpec("symbol", "string", "ISO Code", required=True),
                FieldSpec("currencyPrecision", "integer", "Currency Precision"),
            ],
            writable=False,
            ref_name="symbol",
        ),
        _type(
            "account",
            "Account",
            [
                FieldSpec("acctNumber", "string", "Number", required=True),
                FieldSpec("acctName", "string", "Name", required=True),
                FieldSpec("acctType", "string", "Type", required=True),
            ],
            writable=False,
            ref_name="acctName",
        ),
        _type(
            "customer",
            "Customer",
            [
                FieldSpec("entityId", "string", "Customer ID"),
                FieldSpec("companyName", "string", "Company Name"),
                FieldSpec("isPerson", "boolean", "Individual"),
                FieldSpec("firstName", "string", "First Name"),
                FieldSpec("lastName", "string", "Last Name"),
                FieldSpec("email", "string", "Email"),
                FieldSpec("phone", "string", "Phone"),
                FieldSpec("comments", "text", "Comments", max_length=4000),
                FieldSpec("isInactive", "boolean", "Inactive"),
                _ref("subsidiary", "Primary Subsidiary", "subsidiary"),
                _ref("currency", "Currency", "currency"),
            ],
            ref_name="entityId",
        ),
        _type(
            "serviceSaleItem",
            "Service for Sale",
            [
                FieldSpec("itemId", "string", "Item Name/Number", required=True),
                FieldSpec("displayName", "string", "Display Name"),
                FieldSpec("salesDescription", "text", "Sales Description", max_length=4000),
                FieldSpec("isInactive", "boolean", "Inactive"),
                _ref("subsidiary", "Subsidiary", "subsidiary"),
                _ref("incomeAccount", "Income Account", "account"),
                _ref("deferredRevenueAccount", "Deferred Revenue Account", "account"),
                FieldSpec("custitem_q2c_kind", "string", "Q2C Charge Kind"),
            ],
            ref_name="itemId",
        ),
        _type(
            "journalEntry",
            "Journal Entry",
            [
                FieldSpec("tranId", "string", "Entry No.", readonly=True),
                FieldSpec("tranDate", "date", "Date"),
                _ref("subsidiary", "Subsidiary", "subsidiary", required=True),
                _ref("currency", "Currency", "currency"),
                FieldSpec("memo", "string", "Memo", max_length=4000),
                FieldSpec("approved", "boolean", "Approved"),
                FieldSpec("custbody_q2c_contract", "string", "Q2C Contract"),
                FieldSpec("custbody_q2c_key", "string", "Q2C Idempotency Key"),
            ],
            sublists={
                "line": [
                    _ref("account", "Account", "account", required=True),
                    FieldSpec("debit", "number", "Debit"),
                    FieldSpec("credit", "number", "Credit"),
                    FieldSpec("memo", "string", "Memo", max_length=4000),
                    _ref("entity", "Name", "customer"),
                ]
            },
            ref_name="tranId",
            immutable_when_posted=True,
        ),
        _type(
            "customrecord_q2c_revenue_schedule",
            "Q2C Revenue Schedule",
            [
                FieldSpec("name", "string", "Name", required=True),
                FieldSpec("custrecord_q2c_contract", "string", "Contract", required=True),
                _ref("custrecord_q2c_customer", "Customer", "customer"),
                _ref("custrecord_q2c_subsidiary", "Subsidiary", "subsidiary"),
                _ref("custrecord_q2c_currency", "Currency", "currency"),
                FieldSpec("custrecord_q2c_total", "number", "Total Transaction Price"),
                FieldSpec("custrecord_q2c_start_date", "date", "Start Date"),
                FieldSpec("custrecord_q2c_end_date", "date", "End Date"),
                FieldSpec("custrecord_q2c_version", "integer", "Version"),
                FieldSpec(
                    "custrecord_q2c_schedule",
                    "text",
                    "Schedule (JSON: obligations and monthly amounts)",
                    max_length=1_000_000,
                ),
            ],
        ),
    ]
}


def record_type_ci(name: str) -> RecordType | None:
    lowered = name.lower()
    return next((t for t in RECORD_TYPES.values() if t.name.lower() == lowered), None)


MINOR_UNITS = {"JPY": 0, "KWD": 3}  # every other currency the sandbox knows has 2

REFERENCE_DATA: dict[str, list[dict[str, object]]] = {
    "currency": [
        {
            "externalId": code,
            "name": name,
            "symbol": code,
            "currencyPrecision": MINOR_UNITS.get(code, 2),
        }
        for code, name in (
            ("USD", "US Dollar"),
            ("GBP", "British pound"),
            ("CAD", "Canadian Dollar"),
            ("EUR", "Euro"),
            ("JPY", "Japanese Yen"),
            ("CHF", "Swiss Franc"),
            ("AUD", "Australian Dollar"),
            ("KWD", "Kuwaiti Dinar"),
            ("SEK", "Swedish Krona"),
        )
    ],
    "subsidiary": [
        {"externalId": "US", "name": "Q2C Inc. (US)", "currency": "USD", "country": "US"},
        {"externalId": "EU-DE", "name": "Q2C GmbH (DE)", "currency": "EUR", "country": "DE"},
        {"externalId": "UK", "name": "Q2C Ltd (UK)", "currency": "GBP", "country": "GB"},
        {"externalId": "JP", "name": "Q2C KK (JP)", "currency": "JPY", "country": "JP"},
        {"externalId": "KW", "name": "Q2C WLL (KW)", "currency": "KWD", "country": "KW"},
    ],
    "account": [
        {"externalId": number, "acctNumber": number, "acctName": name, "acctType": kind}
        for number, name, kind in (
            ("1000", "Cash", "Bank"),
            ("1100", "Accounts Receivable", "AcctRec"),
            ("1300", "Contract Asset (Unbilled Receivable)", "OthCurrAsset"),
            ("2400", "Deferred Revenue", "DeferRevenue"),
            ("4000", "Revenue", "Income"),
        )
    ],
}
