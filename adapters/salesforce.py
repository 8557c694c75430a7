"""Salesforce REST adapter: read bookings and amendments, write back status and external ids.

Salesforce is the system of record for accounts, opportunities, products, SSP and amendments
(DESIGN.md §1); q2c only reads them and writes back status and ids. Every write that creates
carries its idempotency key as an external id (upsert by `PATCH /sobjects/<T>/<Field>/<value>`),
so a retried call updates the record it created the first time instead of adding another.

Auth is the OAuth 2.0 client-credentials flow against the org's My Domain
(`Q2C_SALESFORCE_URL`, which also serves the REST API). Salesforce tokens carry no lifetime, so
one is kept until a 401 `INVALID_SESSION_ID`, then replaced once. `REQUEST_LIMIT_EXCEEDED`
(the org's API quota) is transient.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from adapters.errors import BusinessError, MappingError, NotFoundError, TransientError
from adapters.http import (
    TokenCache,
    VendorApi,
    VendorFault,
    json_or_none,
    parse_record,
    read_json,
    to_wire,
)
from adapters.settings import Settings

SYSTEM = "salesforce"
TRANSIENT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
SESSION_CODES = frozenset({"INVALID_SESSION_ID", "INVALID_AUTH_HEADER"})

_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def soql_quote(value: str) -> str:
    """A SOQL string literal for `value`, quotes and backslashes escaped (injection-safe)."""
    return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def soql_literal(value: str | int | Decimal | bool | date | None) -> str:
    """Any Python value as a SOQL literal: strings quoted, dates ISO, booleans, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return soql_quote(value)


def soql(template: str, **params: str | int | Decimal | bool | date | None) -> str:
    """Fill `{name}` placeholders with literals: `soql("… WHERE Id = {id}", id=x)`."""
    return template.format(**{k: soql_literal(v) for k, v in params.items()})


def parse_error(response: httpx.Response) -> VendorFault:
    """Salesforce errors: `[{"message", "errorCode", "fields"}]` (first one tells)."""
    body = json_or_none(response)
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        message = str(first.get("message") or response.reason_phrase)
        fields = first.get("fields") or []
        if fields:
            message += f" (fields: {', '.join(map(str, fields))})"
        code = first.get("errorCode")
        return VendorFault(str(code) if code else None, message)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return VendorFault(body["error"], str(body.get("error_description") or body["error"]))
    return VendorFault(None, response.text[:200] or response.reason_phrase)


class SaveResult(BaseModel):
    """The answer to a create or an upsert."""

    id: str
    created: bool


class QueryPage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    total_size: int = Field(alias="totalSize")
    done: bool
    records: list[dict[str, Any]]
    next_records_url: str | None = Field(None, alias="nextRecordsUrl")


class SfModel(BaseModel):
    """Records as Salesforce sends them: API field names as aliases, unknown fields ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class SalesforceAccount(SfModel):
    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    currency: str | None = Field(None, alias="CurrencyIsoCode")
    legal_entity: str | None = Field(None, alias="Q2C_Legal_Entity__c")
    billing_country: str | None = Field(None, alias="BillingCountry")
    billing_customer_id: str | None = Field(None, alias="Q2C_Billing_Customer_Id__c")
    erp_customer_id: str | None = Field(None, alias="Q2C_ERP_Customer_Id__c")
    external_id: str | None = Field(None, alias="Q2C_External_Id__c")


class SalesforceProduct(SfModel):
    """A product with its SSP and its mappings to the billing price and the ERP item."""

    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    product_code: str | None = Field(None, alias="ProductCode")
    is_active: bool = Field(True, alias="IsActive")
    kind: str | None = Field(None, alias="Q2C_Kind__c")
    ssp: Decimal | None = Field(None, alias="Q2C_SSP__c")
    billing_price_id: str | None = Field(None, alias="Q2C_Billing_Price_Id__c")
    erp_item_id: str | None = Field(None, alias="Q2C_ERP_Item_Id__c")


class SalesforceLineItem(SfModel):
    """An opportunity product; `kind` and `ssp` fall back to the product's."""

    id: str = Field(alias="Id")
    line_id: str | None = Field(None, alias="Q2C_Line_Id__c")
    product: SalesforceProduct = Field(alias="Product2")
    quantity: Decimal = Field(alias="Quantity")
    unit_price: Decimal = Field(alias="UnitPrice")
    line_kind: str | None = Field(None, alias="Q2C_Kind__c")
    line_ssp: Decimal | None = Field(None, alias="Q2C_SSP__c")
    included_units: Decimal | None = Field(None, alias="Q2C_Included_Units__c")
    start_date: date | None = Field(None, alias="ServiceDate")
    end_date: date | None = Field(None, alias="Q2C_End_Date__c")
    sort_order: int | None = Field(None, alias="SortOrder")

    @property
    def kind(self) -> str | None:
        return self.line_kind or self.product.kind

    @property
    def ssp(self) -> Decimal | None:
        return self.line_ssp if self.line_ssp is not None else self.product.ssp

    @property
    def product_code(self) -> str | None:
        return self.product.product_code


class SalesforceOpportunity(SfModel):
    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    stage: str = Field(alias="StageName")
    is_won: bool = Field(False, alias="IsWon")
    close_date: date | None = Field(None, alias="CloseDate")
    amount: Decimal | None = Field(None, alias="Amount")
    currency: str | None = Field(None, alias="CurrencyIsoCode")
    account_id: str | None = Field(None, alias="AccountId")
    start_date: date | None = Field(None, alias="Q2C_Start_Date__c")
    end_date: date | None = Field(None, alias="Q2C_End_Date__c")
    billing_frequency: str | None = Field(None, alias="Q2C_Billing_Frequency__c")
    legal_entity: str | None = Field(None, alias="Q2C_Legal_Entity__c")
    renewal_of: str | None = Field(None, alias="Q2C_Renewal_Of__c")
    auto_renew: bool = Field(False, alias="Q2C_Auto_Renew__c")
    status: str | None = Field(None, alias="Q2C_Status__c")
    external_id: str | None = Field(None, alias="Q2C_External_Id__c")

    @field_validator("auto_renew", mode="before")
    @classmethod
    def _unchecked_if_null(cls, value: Any) -> Any:
        """A checkbox is never null in an org; a record saved before the field existed is."""
        return False if value is None else value


class SalesforceBooking(SfModel):
    """Everything activation reads (DESIGN.md §3.1), as Salesforce holds it."""

    opportunity: SalesforceOpportunity
    account: SalesforceAccount
    lines: list[SalesforceLineItem]

    def missing_mappings(self) -> list[str]:
        """`<product code>: no billing price|ERP item` for every unmapped product."""
        problems: list[str] = []
        for line in self.lines:
            code = line.product_code or line.product.id
            if not line.product.billing_price_id:
                problems.append(f"{code}: no billing price")
            if not line.product.erp_item_id:
                problems.append(f"{code}: no ERP item")
        return list(dict.fromkeys(problems))

    def require_mappings(self) -> None:
        """Raise `MappingError` naming every product that cannot be billed or posted."""
        problems = self.missing_mappings()
        if problems:
            raise MappingError(SYSTEM, "; ".join(problems), code="MISSING_MAPPING")


class SalesforceAmendmentLine(SfModel):
    """One change, added line or removed line; None means "not changed"."""

    id: str = Field(alias="Id")
    action: str = Field(alias="Q2C_Action__c")
    line_id: str = Field(alias="Q2C_Line_Id__c")
    sort_order: Decimal | None = Field(None, alias="Q2C_Sort_Order__c")
    product_code: str | None = Field(None, alias="Q2C_Product_Code__c")
    kind: str | None = Field(None, alias="Q2C_Kind__c")
    quantity: Decimal | None = Field(None, alias="Q2C_Quantity__c")
    unit_price: Decimal | None = Field(None, alias="Q2C_Unit_Price__c")
    ssp: Decimal | None = Field(None, alias="Q2C_SSP__c")
    included_units: Decimal | None = Field(None, alias="Q2C_Included_Units__c")
    start_date: date | None = Field(None, alias="Q2C_Start_Date__c")
    end_date: date | None = Field(None, alias="Q2C_End_Date__c")


class SalesforceAmendment(SfModel):
    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    opportunity_id: str = Field(alias="Q2C_Opportunity__c")
    effective_date: date = Field(alias="Q2C_Effective_Date__c")
    end_date: date | None = Field(None, alias="Q2C_End_Date__c")
    cancel: bool = Field(False, alias="Q2C_Cancel__c")
    status: str | None = Field(None, alias="Q2C_Status__c")
    external_id: str | None = Field(None, alias="Q2C_External_Id__c")
    lines: list[SalesforceAmendmentLine] = Field(default_factory=list)


class ExternalIds(BaseModel):
    """Ids q2c writes back onto the opportunity (None = leave as is)."""

    workflow_id: str | None = None
    billing_customer_id: str | None = None
    billing_contract_id: str | None = None
    erp_customer_id: str | None = None
    erp_revenue_schedule_id: str | None = None


_WRITE_BACK_FIELDS = {
    "workflow_id": "Q2C_Workflow_Id__c",
    "billing_customer_id": "Q2C_Billing_Customer_Id__c",
    "billing_contract_id": "Q2C_Billing_Contract_Id__c",
    "erp_customer_id": "Q2C_ERP_Customer_Id__c",
    "erp_revenue_schedule_id": "Q2C_ERP_Revenue_Schedule_Id__c",
}


def _fields(model: type[SfModel], *, prefix: str = "") -> str:
    return ", ".join(
        prefix + str(f.alias)
        for name, f in model.model_fields.items()
        if f.alias and not (isinstance(f.annotation, type) and issubclass(f.annotation, SfModel))
    )


class SalesforceClient:
    """Async Salesforce REST client; share one `http` client across adapters of a worker."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        base = settings.salesforce_url.rstrip("/")
        self.version = settings.salesforce_api_version
        self.api = VendorApi(
            system=SYSTEM,
            base_url=base,
            tokens=TokenCache(
                SYSTEM,
                f"{base}/services/oauth2/token",
                settings.salesforce_client_id,
                settings.salesforce_client_secret,
                parse_error,
            ),
            parse_error=parse_error,
            http=http,
            settings=settings,
            transient_codes=TRANSIENT_CODES,
            auth_retry_codes=SESSION_CODES,
        )

    async def aclose(self) -> None:
        await self.api.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def _path(self, rest: str) -> str:
        return f"/services/data/{self.version}/{rest.lstrip('/')}"

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return read_json(SYSTEM, response)

    # what the contract workflow needs

    async def get_opportunity_booking(self, opportunity_id: str) -> SalesforceBooking:
        """The booking in one query: opportunity, account, line items and their products."""
        text = (
            f"SELECT {_fields(SalesforceOpportunity)}, "
            f"{_fields(SalesforceAccount, prefix='Account.')}, "
            f"(SELECT {_fields(SalesforceLineItem)}, "
            f"{_fields(SalesforceProduct, prefix='Product2.')} "
            "FROM OpportunityLineItems ORDER BY SortOrder, Id) "
            + soql("FROM Opportunity WHERE Id = {id}", id=opportunity_id)
        )
        record = await self._one(text, "Opportunity", opportunity_id)
        account = record.get("Account")
        if not isinstance(account, dict):
            raise BusinessError(
                SYSTEM, f"opportunity {opportunity_id} has no account", code="MISSING_ACCOUNT"
            )
        lines = await self._children(record.get("OpportunityLineItems"))
        return parse_record(
            SYSTEM,
            SalesforceBooking,
            {"opportunity": record, "account": account, "lines": lines},
            f"Opportunity {opportunity_id}",
        )

    async def get_amendment(self, amendment_id: str) -> SalesforceAmendment:
        """An amendment (`Q2C_Amendment__c` record id) with its lines in their list order."""
        text = (
            f"SELECT {_fields(SalesforceAmendment)}, "
            f"(SELECT {_fields(SalesforceAmendmentLine)} FROM Q2C_Amendment_Lines__r "
            "ORDER BY Q2C_Sort_Order__c, Name) "
            + soql("FROM Q2C_Amendment__c WHERE Id = {id}", id=amendment_id)
        )
        record = await self._one(text, "Q2C_Amendment__c", amendment_id)
        lines = await self._children(record.get("Q2C_Amendment_Lines__r"))
        return parse_record(
            SYSTEM,
            SalesforceAmendment,
            {**record, "lines": lines},
            f"Q2C_Amendment__c {amendment_id}",
        )

    async def write_back_status(
        self,
        opportunity_id: str,
        status: str,
        external_ids: ExternalIds | None = None,
        *,
        attention_reason: str | None = None,
    ) -> None:
        """Set the contract's q2c status (and reason, cleared when None) and the ids q2c made.

        A PATCH of the same values again changes nothing, so retrying is safe.
        """
        fields: dict[str, Any] = {
            "Q2C_Status__c": status,
            "Q2C_Attention_Reason__c": attention_reason,
            "Q2C_Synced_At__c": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        for name, value in (external_ids or ExternalIds()).model_dump().items():
            if value is not None:
                fields[_WRITE_BACK_FIELDS[name]] = value
        await self.update("Opportunity", opportunity_id, fields)

    async def _one(self, text: str, sobject: str, record_id: str) -> dict[str, Any]:
        records = await self.query(text)
        if not records:
            raise NotFoundError(SYSTEM, f"{sobject} {record_id} does not exist", code="NOT_FOUND")
        return records[0]

    async def _children(self, relation: Any) -> list[dict[str, Any]]:
        """The records of a child subquery, following its own `nextRecordsUrl` if any."""
        if not isinstance(relation, dict):
            return []
        page = QueryPage.model_validate(relation)
        records = list(page.records)
        while not page.done and page.next_records_url:
            response = await self.api.request("GET", page.next_records_url)
            page = QueryPage.model_validate(self._json(response))
            records.extend(page.records)
        return records

    # generic REST

    async def query_pages(
        self, soql_text: str, *, batch_size: int | None = None
    ) -> AsyncIterator[QueryPage]:
        """Each page of a query, following `nextRecordsUrl` until `done`.

        `batch_size` (200..2000) asks for smaller pages through `Sforce-Query-Options`.
        """
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else None
        path = self._path("query")
        response = await self.api.request("GET", path, params={"q": soql_text}, headers=headers)
        while True:
            page = QueryPage.model_validate(self._json(response))
            yield page
            if page.done or not page.next_records_url:
                return
            response = await self.api.request("GET", page.next_records_url, headers=headers)

    async def query(self, soql_text: str, *, batch_size: int | None = None) -> list[dict[str, Any]]:
        """All records of a query (build `soql_text` with `soql()` for safe literals)."""
        pages = self.query_pages(soql_text, batch_size=batch_size)
        return [record async for page in pages for record in page.records]

    async def get(
        self, sobject: str, record_id: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        params = {"fields": ",".join(fields)} if fields else None
        path = self._path(f"sobjects/{_seg(sobject)}/{_seg(record_id)}")
        record: dict[str, Any] = self._json(await self.api.request("GET", path, params=params))
        return record

    async def create(self, sobject: str, fields: Mapping[str, Any]) -> SaveResult:
        """Plain create: not idempotent on its own, prefer `upsert` for anything retried."""
        path = self._path(f"sobjects/{_seg(sobject)}")
        response = await self.api.request("POST", path, json=to_wire(SYSTEM, dict(fields)))
        return _save_result(self._json(response), created=True)

    async def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        path = self._path(f"sobjects/{_seg(sobject)}/{_seg(record_id)}")
        await self.api.request("PATCH", path, json=to_wire(SYSTEM, dict(fields)))

    async def upsert(
        self, sobject: str, ext_id_field: str, value: str, fields: Mapping[str, Any]
    ) -> SaveResult:
        """Create or update the one record whose `ext_id_field` is `value` (idempotent)."""
        path = self._path(f"sobjects/{_seg(sobject)}/{_seg(ext_id_field)}/{_seg(value)}")
        body = {k: v for k, v in to_wire(SYSTEM, dict(fields)).items() if k != ext_id_field}
        response = await self.api.request("PATCH", path, json=body, ok=(300,))
        if response.status_code == 300:
            raise BusinessError(
                SYSTEM,
                f"{sobject}.{ext_id_field} = {value!r} matches several records",
                code="MULTIPLE_CHOICES",
            )
        if response.status_code == 204 or not response.content:
            found = await self.get_by_external_id(sobject, ext_id_field, value, ["Id"])
            return SaveResult(id=str(found["Id"]), created=False)
        return _save_result(self._json(response), created=response.status_code == 201)

    async def get_by_external_id(
        self, sobject: str, ext_id_field: str, value: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        path = self._path(f"sobjects/{_seg(sobject)}/{_seg(ext_id_field)}/{_seg(value)}")
        params = {"fields": ",".join(fields)} if fields else None
        record: dict[str, Any] = self._json(await self.api.request("GET", path, params=params))
        return record


def _seg(value: str) -> str:
    """One URL path segment: `/` and everything unsafe percent-encoded."""
    if not value:
        raise BusinessError(SYSTEM, "empty id in a record path", code="INVALID_ID")
    return quote(value, safe="")


def _save_result(body: Any, *, created: bool) -> SaveResult:
    if not isinstance(body, dict) or not body.get("id"):
        raise TransientError(SYSTEM, f"save answer without id: {body!r:.200}", code="bad_answer")
    if body.get("success") is False:
        errors = body.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        raise BusinessError(
            SYSTEM,
            str(first.get("message") or "save failed"),
            code=str(first.get("statusCode") or first.get("errorCode") or "SAVE_FAILED"),
        )
    return SaveResult(id=str(body["id"]), created=bool(body.get("created", created)))
