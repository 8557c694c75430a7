"""Salesforce records as the domain's contract and amendment.

The contract's id is the opportunity's external id (`Q2C_External_Id__c`, the contract number
sales and finance use) or, without one, its Salesforce id. A line's SSP is the line's own, else
the product's; without either the domain uses the line's current unit price (DESIGN.md §5).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import ValidationError

from activities.contract_io import Booking, ProductMapping
from adapters.errors import BusinessError
from adapters.salesforce import SalesforceAmendment, SalesforceBooking
from domain.inputs import input_error
from domain.models import Amendment, Contract, ContractLine, Customer, LineChange

SYSTEM = "salesforce"


def _require(value: object, what: str) -> None:
    if value is None or value == "":
        raise BusinessError(SYSTEM, f"{what} is not set", code="INVALID_BOOKING")


def booking_from_salesforce(booking: SalesforceBooking) -> Booking:
    """The domain contract of a closed-won opportunity, with its product mappings."""
    opp, account = booking.opportunity, booking.account
    _require(opp.start_date, f"Opportunity {opp.id}: Q2C_Start_Date__c")
    _require(opp.end_date, f"Opportunity {opp.id}: Q2C_End_Date__c")
    currency = opp.currency or account.currency
    _require(currency, f"Opportunity {opp.id}: CurrencyIsoCode")
    products: dict[str, ProductMapping] = {}
    lines = []
    for item in booking.lines:
        code = item.product_code or item.product.id
        products[code] = ProductMapping(
            product_code=code,
            name=item.product.name,
            billing_price_id=item.product.billing_price_id or "",
            erp_item_id=item.product.erp_item_id or "",
        )
        kind = item.kind or "subscription"
        lines.append(
            {
                "id": item.line_id or item.id,
                "product_code": code,
                "kind": kind,
                "quantity": None if kind == "usage" else item.quantity,
                "unit_price": item.unit_price,
                "ssp": item.ssp,
                "included": item.included_units or Decimal(0),
                "start_date": item.start_date if item.start_date != opp.start_date else None,
                "end_date": item.end_date,
                "description": item.product.name,
            }
        )
    try:
        contract = Contract(
            id=opp.external_id or opp.id,
            customer=Customer(id=account.external_id or account.id, name=account.name),
            currency=str(currency),
            legal_entity=opp.legal_entity or account.legal_entity or "",
            start_date=opp.start_date,
            end_date=opp.end_date,
            billing_frequency=(opp.billing_frequency or "monthly").lower(),
            lines=[ContractLine.model_validate(line) for line in lines],
        )
    except ValidationError as exc:
        raise BusinessError(
            SYSTEM, str(input_error(exc, (f"Opportunity {opp.id}",))), code="INVALID_BOOKING"
        ) from None
    return Booking(
        contract=contract,
        products=products,
        auto_renew=opp.auto_renew,
        account_name=account.name,
    )


def amendment_from_salesforce(amendment: SalesforceAmendment) -> Amendment:
    """A `Q2C_Amendment__c` with its lines as the domain's amendment (id = its Name)."""
    changes: list[LineChange] = []
    added: list[ContractLine] = []
    removed: list[str] = []
    try:
        for line in amendment.lines:
            if line.action == "change":
                changes.append(
                    LineChange(
                        line_id=line.line_id,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        ssp=line.ssp,
                        included=line.included_units,
                    )
                )
            elif line.action == "add":
                kind = line.kind or "subscription"
                added.append(
                    ContractLine(
                        id=line.line_id,
                        product_code=line.product_code or line.line_id,
                        kind=kind,
                        quantity=None if kind == "usage" else line.quantity,
                        unit_price=line.unit_price or Decimal(0),
                        ssp=line.ssp,
                        included=line.included_units or Decimal(0),
                        start_date=line.start_date,
                        end_date=line.end_date,
                    )
                )
            elif line.action == "remove":
                removed.append(line.line_id)
            else:
                raise BusinessError(
                    SYSTEM,
                    f"Q2C_Amendment_Line__c {line.id}: unknown action {line.action!r}",
                    code="INVALID_AMENDMENT",
                )
        return Amendment(
            id=amendment.name,
            effective_date=amendment.effective_date,
            changes=changes,
            add_lines=added,
            remove_lines=removed,
            end_date=amendment.end_date,
            cancel=amendment.cancel,
        )
    except ValidationError as exc:
        raise BusinessError(
            SYSTEM,
            str(input_error(exc, (f"Q2C_Amendment__c {amendment.id}",))),
            code="INVALID_AMENDMENT",
        ) from None
