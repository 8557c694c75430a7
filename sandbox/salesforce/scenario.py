"""A DESIGN.md §6 scenario as Salesforce records: what `q2c simulate` and the demo book.

- the customer → `Account` (`Q2C_External_Id__c` = customer id, currency, legal entity);
- each product code → `Product2` (`ProductCode`, `Q2C_Kind__c`, `Q2C_SSP__c`) with a
  standard `PricebookEntry` in the contract's currency;
- the contract → `Opportunity` (`Q2C_External_Id__c` = contract id, Closed Won, term dates,
  billing frequency, currency, legal entity) and one `OpportunityLineItem` per line
  (`Q2C_Line_Id__c`, `Q2C_Kind__c`, `Quantity` (1 for usage), `UnitPrice`, `Q2C_SSP__c`,
  `Q2C_Included_Units__c`, `ServiceDate`/`Q2C_End_Date__c` for a line's own dates);
- each amendment → `Q2C_Amendment__c` (`Name` = amendment id, `Q2C_External_Id__c` =
  `<contract id>-<amendment id>`) with one `Q2C_Amendment_Line__c` per change (action
  `change`), added line (`add`) and removed line (`remove`), `Q2C_Sort_Order__c` keeping the
  order of the scenario's lists.
Everything is upserted by external id, so loading a scenario twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from sandbox.admin import SeedError
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.models import SfRecord
from sandbox.salesforce.schema import SCHEMA
from sandbox.salesforce.seed import load_records, standard_pricebook_id
from sandbox.salesforce.store import SalesforceStore

EXT = "Q2C_External_Id__c"


def _line_fields(line: dict[str, Any]) -> dict[str, Any]:
    """The fields a line (or an added line) sets, as OpportunityLineItem/amendment fields."""
    return {
        "Q2C_Kind__c": line.get("kind"),
        "Q2C_SSP__c": line.get("ssp"),
        "Q2C_Included_Units__c": line.get("included"),
    }


def amendment_records(
    contract_id: str, amendment: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`Q2C_Amendment__c` fields and its `Q2C_Amendment_Line__c` records for one amendment."""
    header = {
        "Name": amendment["id"],
        EXT: f"{contract_id}-{amendment['id']}",
        "Q2C_Effective_Date__c": amendment["effective_date"],
        "Q2C_End_Date__c": amendment.get("end_date"),
        "Q2C_Cancel__c": bool(amendment.get("cancel", False)),
        "Q2C_Status__c": "Submitted",
    }
    lines: list[dict[str, Any]] = []
    for change in amendment.get("changes", []):
        lines.append(
            {
                "Q2C_Action__c": "change",
                "Q2C_Line_Id__c": change["line_id"],
                "Q2C_Quantity__c": change.get("quantity"),
                "Q2C_Unit_Price__c": change.get("unit_price"),
                "Q2C_SSP__c": change.get("ssp"),
            }
        )
    for added in amendment.get("add_lines", []):
        lines.append(
            {
                "Q2C_Action__c": "add",
                "Q2C_Line_Id__c": added["id"],
                "Q2C_Product_Code__c": added.get("product_code"),
                "Q2C_Quantity__c": added.get("quantity"),
                "Q2C_Unit_Price__c": added.get("unit_price"),
                "Q2C_Start_Date__c": added.get("start_date"),
                "Q2C_End_Date__c": added.get("end_date"),
                **_line_fields(added),
            }
        )
    for removed in amendment.get("remove_lines", []):
        lines.append({"Q2C_Action__c": "remove", "Q2C_Line_Id__c": removed})
    for order, line in enumerate(lines, start=1):
        line["Q2C_Sort_Order__c"] = order
    return header, lines


def _entries(session: Session) -> list[dict[str, Any]]:
    """The org's price book entries (a handful, unlike its opportunities and lines)."""
    rows = session.exec(
        select(SfRecord)
        .where(col(SfRecord.sobject) == "PricebookEntry")
        .order_by(col(SfRecord.seq))
    ).all()
    return [row.data for row in rows]


def _entry(entries: list[dict[str, Any]], product_id: str, currency: str) -> str | None:
    for entry in entries:
        if entry["Product2Id"] == product_id and entry["CurrencyIsoCode"] == currency:
            return str(entry["Id"])
    return None


def load_scenario(
    store: SalesforceStore, session: Session, scenario: Any, with_amendments: bool = True
) -> dict[str, Any]:
    """Book a scenario's contract (and its amendments) in the org, idempotently.

    Account, products and the opportunity are upserted by external id (a second load updates
    them); lines and amendments already booked are left as they are.
    """
    try:
        return _load(store, session, scenario, with_amendments)
    except (KeyError, TypeError, AttributeError) as exc:
        raise SeedError(f"scenario: missing or malformed {exc}") from None
    except SalesforceError as exc:
        raise SeedError(f"scenario: {exc.code}: {exc.message}") from None


def _load(
    store: SalesforceStore, session: Session, scenario: dict[str, Any], with_amendments: bool
) -> dict[str, Any]:
    contract = scenario["contract"]
    customer, currency = contract["customer"], contract["currency"]
    refs: dict[str, str] = {}
    products: dict[str, dict[str, Any]] = {}
    all_lines = list(contract["lines"])
    if with_amendments:
        for amendment in scenario.get("amendments", []):
            all_lines.extend(amendment.get("add_lines", []))
    for line in all_lines:
        products.setdefault(
            line["product_code"],
            {
                "attributes": {"referenceId": line["product_code"], "externalIdField": EXT},
                "Name": line["product_code"],
                "ProductCode": line["product_code"],
                EXT: line["product_code"],
                "IsActive": True,
                "Q2C_Kind__c": line["kind"],
                "Q2C_SSP__c": line.get("ssp", line["unit_price"]),
            },
        )
    load_records(
        store,
        session,
        {
            "Account": [
                {
                    "attributes": {"referenceId": "account", "externalIdField": EXT},
                    "Name": customer["name"],
                    "AccountNumber": customer["id"],
                    EXT: customer["id"],
                    "CurrencyIsoCode": currency,
                    "Q2C_Legal_Entity__c": contract.get("legal_entity"),
                }
            ],
            "Product2": list(products.values()),
        },
        refs,
    )
    session.flush()
    book = standard_pricebook_id(session)
    entries = _entries(session)
    for code, product in products.items():
        if _entry(entries, refs[code], currency) is None:
            entry = {
                "Pricebook2Id": book,
                "Product2Id": refs[code],
                "UnitPrice": product["Q2C_SSP__c"],
                "CurrencyIsoCode": currency,
                "IsActive": True,
            }
            store.create_in(session, SCHEMA["PricebookEntry"], entry)
            entries = _entries(session)
    opportunity = {
        "Name": f"{customer['name']} {contract['id']}",
        "AccountId": refs["account"],
        "StageName": "Closed Won",
        "CloseDate": contract["start_date"],
        "CurrencyIsoCode": currency,
        "Pricebook2Id": book,
        "Q2C_Start_Date__c": contract["start_date"],
        "Q2C_End_Date__c": contract["end_date"],
        "Q2C_Billing_Frequency__c": contract["billing_frequency"],
        "Q2C_Legal_Entity__c": contract.get("legal_entity"),
        "Q2C_Status__c": "Pending",
    }
    opportunity_id, created = store.upsert_in(
        session,
        SCHEMA["Opportunity"],
        SCHEMA["Opportunity"].fields[EXT],
        contract["id"],
        opportunity,
    )
    line_ids: dict[str, str] = {}
    existing = {
        item["Q2C_Line_Id__c"]: item["Id"] for item in store.lines_of(session, opportunity_id)
    }
    for order, line in enumerate(contract["lines"], start=1):
        if line["id"] in existing:
            line_ids[line["id"]] = existing[line["id"]]
            continue
        item = {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": _entry(entries, refs[line["product_code"]], currency),
            "Quantity": line.get("quantity", 1),
            "UnitPrice": line["unit_price"],
            "ServiceDate": line.get("start_date"),
            "Q2C_End_Date__c": line.get("end_date"),
            "Q2C_Line_Id__c": line["id"],
            "SortOrder": order,
            **_line_fields(line),
        }
        line_ids[line["id"]] = store.create_in(session, SCHEMA["OpportunityLineItem"], item)
    amendment_ids: dict[str, str] = {}
    if with_amendments:
        for amendment in scenario.get("amendments", []):
            amendment_ids[amendment["id"]] = book_amendment(
                store, session, contract["id"], opportunity_id, amendment
            )
    return {
        "opportunity_id": opportunity_id,
        "created": created,
        "account_id": refs["account"],
        "product_ids": {code: refs[code] for code in products},
        "line_ids": line_ids,
        "amendment_ids": amendment_ids,
    }


def book_amendment(
    store: SalesforceStore,
    session: Session,
    contract_id: str,
    opportunity_id: str,
    amendment: dict[str, Any],
) -> str:
    """Book one amendment and its lines; an amendment booked before is left as it is."""
    header, lines = amendment_records(contract_id, amendment)
    amendment_object = SCHEMA["Q2C_Amendment__c"]
    key = amendment_object.fields[EXT]
    existing = store.find_external_in(session, amendment_object, key, header[EXT])
    if existing is not None:
        return existing
    record_id = store.create_in(
        session, amendment_object, {**header, "Q2C_Opportunity__c": opportunity_id}
    )
    for line in lines:
        store.create_in(
            session, SCHEMA["Q2C_Amendment_Line__c"], {**line, "Q2C_Amendment__c": record_id}
        )
    return record_id
