"""Loading records into the Salesforce sandbox: `POST /_sandbox/seed`, and the demo org.

The body maps object names to records, loaded in the order given, in one transaction:
`{"Account": [{"attributes": {"referenceId": "acme"}, "Name": "Acme GmbH"}],
  "Opportunity": [{"AccountId": "@acme", ...}]}`.
A string `@ref` names the record seeded with that `referenceId` (`@standardPricebook` is the
org's standard price book). A record whose attributes name an `externalIdField` is upserted
by it, so seeding twice does not duplicate. A `{"scenario": {...}}` body loads a DESIGN.md §6
scenario instead (see `scenario.py`), `{"scenarios": [...]}` many in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from sandbox.admin import SeedError
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.models import SfRecord
from sandbox.salesforce.schema import sobject_ci
from sandbox.salesforce.store import SalesforceStore

STANDARD_PRICEBOOK = "standardPricebook"


def standard_pricebook_id(session: Session) -> str:
    rows = session.exec(select(SfRecord).where(col(SfRecord.sobject) == "Pricebook2")).all()
    return next(r.id for r in rows if r.data.get("IsStandard"))


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("@") and value[1:] in refs:
        return refs[value[1:]]
    if isinstance(value, dict):
        return {k: _resolve(v, refs) for k, v in value.items()}
    return value


def load_records(
    store: SalesforceStore, session: Session, data: dict[str, Any], refs: dict[str, str]
) -> dict[str, int]:
    """Create or upsert every record of `data` inside `session`; fills `refs` with new ids."""
    refs.setdefault(STANDARD_PRICEBOOK, standard_pricebook_id(session))
    counts: dict[str, int] = {}
    for name, records in data.items():
        sobject = sobject_ci(name)
        if sobject is None:
            raise SeedError(f"unknown object {name!r}")
        if not isinstance(records, list):
            raise SeedError(f"{name}: expected a list of records")
        for index, raw in enumerate(records):
            if not isinstance(raw, dict):
                raise SeedError(f"{name}[{index}]: expected an object")
            attributes = raw.get("attributes") or {}
            body = _resolve({k: v for k, v in raw.items() if k != "attributes"}, refs)
            try:
                upsert_by = attributes.get("externalIdField")
                if upsert_by:
                    f = sobject.field_ci(str(upsert_by))
                    value = body.get(f.name) if f else None
                    if f is None or not f.external_id or not isinstance(value, str):
                        raise SeedError(f"{name}[{index}]: bad externalIdField {upsert_by!r}")
                    record_id, _ = store.upsert_in(session, sobject, f, value, body)
                else:
                    record_id = store.create_in(session, sobject, body)
            except SalesforceError as exc:
                raise SeedError(f"{name}[{index}]: {exc.code}: {exc.message}") from None
            if attributes.get("referenceId"):
                refs[str(attributes["referenceId"])] = record_id
            counts[sobject.name] = counts.get(sobject.name, 0) + 1
    return counts


DEMO: dict[str, Any] = {
    "Account": [
        {
            "attributes": {"referenceId": "acme", "externalIdField": "Q2C_External_Id__c"},
            "Name": "Acme GmbH",
            "AccountNumber": "ACC-1",
            "Q2C_External_Id__c": "ACC-1",
            "BillingCity": "Berlin",
            "BillingCountry": "DE",
            "CurrencyIsoCode": "EUR",
            "Q2C_Legal_Entity__c": "EU-DE",
            "Type": "Customer",
        },
        {
            "attributes": {"referenceId": "globex", "externalIdField": "Q2C_External_Id__c"},
            "Name": "Globex Corporation",
            "AccountNumber": "ACC-2",
            "Q2C_External_Id__c": "ACC-2",
            "BillingCity": "Springfield",
            "BillingCountry": "US",
            "CurrencyIsoCode": "USD",
            "Q2C_Legal_Entity__c": "US",
            "Type": "Customer",
        },
    ],
    "Product2": [
        {
            "attributes": {"referenceId": "seat", "externalIdField": "Q2C_External_Id__c"},
            "Name": "Seat (Pro)",
            "ProductCode": "SEAT-PRO",
            "Q2C_External_Id__c": "SEAT-PRO",
            "IsActive": True,
            "Family": "Software",
            "Q2C_Kind__c": "subscription",
            "Q2C_SSP__c": 1500,
        },
        {
            "attributes": {"referenceId": "onboard", "externalIdField": "Q2C_External_Id__c"},
            "Name": "Onboarding",
            "ProductCode": "ONBOARD",
            "Q2C_External_Id__c": "ONBOARD",
            "IsActive": True,
            "Family": "Services",
            "Q2C_Kind__c": "one_time",
            "Q2C_SSP__c": 8000,
        },
        {
            "attributes": {"referenceId": "api", "externalIdField": "Q2C_External_Id__c"},
            "Name": "API calls",
            "ProductCode": "API-CALLS",
            "Q2C_External_Id__c": "API-CALLS",
            "IsActive": True,
            "Family": "Software",
            "Q2C_Kind__c": "usage",
            "Q2C_SSP__c": "0.002",
        },
    ],
    "PricebookEntry": [
        {
            "attributes": {"referenceId": f"{product}-{currency}"},
            "Pricebook2Id": "@standardPricebook",
            "Product2Id": f"@{product}",
            "UnitPrice": price,
            "CurrencyIsoCode": currency,
            "IsActive": True,
        }
        for product, price in (("seat", 1500), ("onboard", 8000), ("api", "0.002"))
        for currency in ("EUR", "USD")
    ],
}
