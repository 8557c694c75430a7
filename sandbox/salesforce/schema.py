"""The Salesforce objects and fields the sandbox knows, shaped like an org's describe metadata.

Standard objects carry the standard fields q2c reads; q2c's own fields are custom fields named
`Q2C_..__c` as an admin would create them, and the amendment is a custom object
(`Q2C_Amendment__c` with its detail `Q2C_Amendment_Line__c`) so that an amendment of
DESIGN.md §6 (changes, add_lines, remove_lines, end_date, cancel) round-trips:

- `Q2C_Amendment__c`: `Name` (the amendment id, e.g. AMD-1), `Q2C_Opportunity__c` (master),
  `Q2C_Effective_Date__c`, `Q2C_End_Date__c` (new term end or null), `Q2C_Cancel__c`,
  `Q2C_Status__c`, `Q2C_External_Id__c`;
- `Q2C_Amendment_Line__c`: one per change, added line or removed line:
  `Q2C_Action__c` (change | add | remove), `Q2C_Line_Id__c`, `Q2C_Sort_Order__c` (list order),
  and what the action sets: `Q2C_Product_Code__c`, `Q2C_Kind__c`, `Q2C_Quantity__c`,
  `Q2C_Unit_Price__c`, `Q2C_SSP__c`, `Q2C_Included_Units__c`, `Q2C_Start_Date__c`,
  `Q2C_End_Date__c` (null = not changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal[
    "id",
    "reference",
    "string",
    "textarea",
    "picklist",
    "boolean",
    "double",
    "currency",
    "percent",
    "int",
    "date",
    "datetime",
]

TEXT_TYPES = frozenset({"id", "reference", "string", "textarea", "picklist"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})

CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "KWD", "SEK")
KINDS = ("subscription", "one_time", "usage")
STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    label: str = ""
    required: bool = False  # on create (not nillable, no default)
    createable: bool = True
    updateable: bool = True
    external_id: bool = False  # also unique
    length: int = 255
    reference_to: str | None = None
    relationship_name: str | None = None
    cascade_delete: bool = False  # master-detail: deleting the master deletes this record
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: object = None

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class ChildRelationship:
    name: str  # e.g. OpportunityLineItems
    child: str  # e.g. OpportunityLineItem
    field: str  # e.g. OpportunityId


@dataclass
class SObject:
    name: str
    key_prefix: str
    label: str
    fields: dict[str, Field] = field(default_factory=dict)
    children: dict[str, ChildRelationship] = field(default_factory=dict)

    def field_ci(self, name: str) -> Field | None:
        """Field by API name, case-insensitively (SOQL and REST ignore case)."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for f in self.fields.values() if f.name.lower() == lowered), None)

    def relationship_ci(self, name: str) -> Field | None:
        """The lookup field whose relationship name is `name` (e.g. Account → AccountId)."""
        lowered = name.lower()
        return next(
            (
                f
                for f in self.fields.values()
                if f.relationship_name and f.relationship_name.lower() == lowered
            ),
            None,
        )

    def child_ci(self, name: str) -> ChildRelationship | None:
        lowered = name.lower()
        return next((c for c in self.children.values() if c.name.lower() == lowered), None)


def _calc(
    name: str, type_: FieldType, label: str, *, default: object = None, length: int = 255
) -> Field:
    """A field the org computes (formula, roll-up, auto number): readable, never writable."""
    return Field(
        name, type_, label, createable=False, updateable=False, default=default, length=length
    )


def _system_fields() -> list[Field]:
    return [
        _calc("Id", "id", "Record ID", length=18),
        _calc("IsDeleted", "boolean", "Deleted", default=False),
        _calc("CreatedDate", "datetime", "Created Date"),
        _calc("CreatedById", "reference", "Created By ID", length=18),
        _calc("LastModifiedDate", "datetime", "Last Modified Date"),
        _calc("LastModifiedById", "reference", "Last Modified By ID", length=18),
        _calc("SystemModstamp", "datetime", "System Modstamp"),
    ]


def _currency_iso() -> Field:
    return Field(
        "CurrencyIsoCode",
        "picklist",
        "Currency ISO Code",
        length=3,
        picklist=CURRENCIES,
        restricted=True,
        default="USD",
    )


def _ext_id(label: str = "Q2C External ID") -> Field:
    return Field("Q2C_External_Id__c", "string", label, external_id=True)


def _build() -> dict[str, SObject]:
    objects: list[tuple[SObject, list[Field]]] = []

    account = SObject("Account", "001", "Account")
    objects.append(
        (
            account,
            [
                Field("Name", "string", "Account Name", required=True),
                Field("AccountNumber", "string", "Account Number", length=40),
                Field("Type", "picklist", "Account Type", picklist=("Prospect", "Customer")),
                Field("Industry", "string", "Industry", length=40),
                Field("Phone", "string", "Account Phone", length=40),
                Field("Website", "string", "Website"),
                Field("BillingStreet", "textarea", "Billing Street"),
                Field("BillingCity", "string", "Billing City", length=40),
                Field("BillingState", "string", "Billing State/Province", length=80),
                Field("BillingPostalCode", "string", "Billing Zip/Postal Code", length=20),
                Field("BillingCountry", "string", "Billing Country", length=80),
                Field("Description", "textarea", "Account Description", length=32000),
                _currency_iso(),
                Field("Q2C_Legal_Entity__c", "string", "Legal Entity", length=40),
                Field("Q2C_Billing_Customer_Id__c", "string", "Billing Customer ID"),
                Field("Q2C_ERP_Customer_Id__c", "string", "ERP Customer ID"),
                _ext_id(),
            ],
        )
    )

    product = SObject("Product2", "01t", "Product")
    objects.append(
        (
            product,
            [
                Field("Name", "string", "Product Name", required=True),
                Field("ProductCode", "string", "Product Code"),
                Field("Description", "textarea", "Product Description", length=4000),
                Field("IsActive", "boolean", "Active", default=False),
                Field("Family", "picklist", "Product Family", picklist=("Software", "Services")),
                _currency_iso(),
                Field("Q2C_Kind__c", "picklist", "Charge Kind", picklist=KINDS, restricted=True),
                Field("Q2C_SSP__c", "currency", "Standalone Selling Price"),
                Field("Q2C_Billing_Price_Id__c", "string", "Billing Price ID"),
                Field("Q2C_ERP_Item_Id__c", "string", "ERP Item ID"),
                _ext_id(),
            ],
        )
    )

    pricebook = SObject("Pricebook2", "01s", "Price Book")
    objects.append(
        (
            pricebook,
            [
                Field("Name", "string", "Price Book Name", required=True),
                Field("IsActive", "boolean", "Active", default=False),
                _calc("IsStandard", "boolean", "Is Standard Price Book", default=False),
                Field("Description", "textarea", "Description"),
            ],
        )
    )

    pbe = SObject("PricebookEntry", "01u", "Price Book Entry")
    objects.append(
        (
            pbe,
            [
                Field(
                    "Pricebook2Id",
                    "reference",
                    "Price Book ID",
                    required=True,
                    updateable=False,
                    reference_to="Pricebook2",
                    relationship_name="Pricebook2",
                    cascade_delete=True,
                ),
                Field(
                    "Product2Id",
                    "reference",
                    "Product ID",
                    required=True,
                    updateable=False,
                    reference_to="Product2",
                    relationship_name="Product2",
                    cascade_delete=True,
                ),
                Field("UnitPrice", "currency", "List Price", required=True),
                Field("IsActive", "boolean", "Active", default=False),
                Field("UseStandardPrice", "boolean", "Use Standard Price", default=False),
                _currency_iso(),
                Field("Q2C_Billing_Price_Id__c", "string", "Billing Price ID"),
                _calc("Name", "string", "Product Name"),
                _calc("ProductCode", "string", "Product Code"),
            ],
        )
    )

    opportunity = SObject("Opportunity", "006", "Opportunity")
    objects.append(
        (
            opportunity,
            [
                Field("Name", "string", "Name", required=True, length=120),
                Field(
                    "AccountId",
                    "reference",
                    "Account ID",
                    reference_to="Account",
                    relationship_name="Account",
                ),
                Field("StageName", "picklist", "Stage", required=True, picklist=STAGES),
                Field("CloseDate", "date", "Close Date", required=True),
                Field("Amount", "currency", "Amount"),
                Field("Probability", "percent", "Probability (%)"),
                Field("Type", "picklist", "Opportunity Type", picklist=("New Business", "Renewal")),
                Field("Description", "textarea", "Description", length=32000),
                Field(
                    "Pricebook2Id",
                    "reference",
                    "Price Book ID",
                    reference_to="Pricebook2",
                    relationship_name="Pricebook2",
                ),
                Field(
                    "ContractId",
                    "reference",
                    "Contract ID",
                    reference_to="Contract",
                    relationship_name="Contract",
                ),
                _currency_iso(),
                _calc("IsClosed", "boolean", "Closed", default=False),
                _calc("IsWon", "boolean", "Won", default=False),
                _calc("HasOpportunityLineItem", "boolean", "Has Line Item", default=False),
                Field("Q2C_Start_Date__c", "date", "Term Start Date"),
                Field("Q2C_End_Date__c", "date", "Term End Date"),
                Field(
                    "Q2C_Billing_Frequency__c",
                    "picklist",
                    "Billing Frequency",
                    picklist=("monthly", "quarterly", "annual"),
                    restricted=True,
                ),
                Field("Q2C_Legal_Entity__c", "string", "Legal Entity", length=40),
                Field(
                    "Q2C_Renewal_Of__c",
                    "reference",
                    "Renewal Of",
                    reference_to="Opportunity",
                    relationship_name="Q2C_Renewal_Of__r",
                ),
                Field("Q2C_Auto_Renew__c", "boolean", "Auto-Renew", default=False),
                Field(
                    "Q2C_Status__c",
                    "picklist",
                    "Q2C Status",
                    picklist=(
                        "Pending",
                        "Validating",
                        "Provisioning",
                        "Active",
                        "Amending",
                        "Renewing",
                        "Cancelled",
                        "Expired",
                        "NeedsAttention",
                    ),
                ),
                Field("Q2C_Attention_Reason__c", "string", "Attention Reason"),
                Field("Q2C_Workflow_Id__c", "string", "Workflow ID"),
                Field("Q2C_Billing_Customer_Id__c", "string", "Billing Customer ID"),
                Field("Q2C_Billing_Contract_Id__c", "string", "Billing Contract ID"),
                Field("Q2C_ERP_Customer_Id__c", "string", "ERP Customer ID"),
                Field("Q2C_ERP_Revenue_Schedule_Id__c", "string", "ERP Revenue Schedule ID"),
                Field("Q2C_Synced_At__c", "datetime", "Q2C Last Synced"),
                _ext_id(),
            ],
        )
    )

    oli = SObject("OpportunityLineItem", "00k", "Opportunity Product")
    objects.append(
        (
            oli,
            [
                Field(
                    "OpportunityId",
                    "reference",
                    "Opportunity ID",
                    required=True,
                    updateable=False,
                    reference_to="Opportunity",
                    relationship_name="Opportunity",
                    cascade_delete=True,
                ),
                Field(
                    "PricebookEntryId",
                    "reference",
                    "Price Book Entry ID",
                    updateable=False,
                    reference_to="PricebookEntry",
                    relationship_name="PricebookEntry",
                ),
                Field(
                    "Product2Id",
                    "reference",
                    "Product ID",
                    updateable=False,
                    reference_to="Product2",
                    relationship_name="Product2",
                ),
                Field("Quantity", "double", "Quantity", required=True),
                Field("UnitPrice", "currency", "Sales Price"),
                Field("ServiceDate", "date", "Date"),
                Field("Description", "string", "Line Description"),
                Field("SortOrder", "int", "Sort Order"),
                _calc("TotalPrice", "currency", "Total Price"),
                _calc("ListPrice", "currency", "List Price"),
                _calc("ProductCode", "string", "Product Code"),
                _calc("Name", "string", "Opportunity Product Name", length=376),
                Field("Q2C_Line_Id__c", "string", "Contract Line ID", length=80),
                Field("Q2C_Kind__c", "picklist", "Charge Kind", picklist=KINDS, restricted=True),
                Field("Q2C_SSP__c", "currency", "Standalone Selling Price"),
                Field("Q2C_Included_Units__c", "double", "Included Units per Period"),
                Field("Q2C_End_Date__c", "date", "Line End Date"),
            ],
        )
    )

    contract = SObject("Contract", "800", "Contract")
    objects.append(
        (
            contract,
            [
                Field(
                    "AccountId",
                    "reference",
                    "Account ID",
                    required=True,
                    reference_to="Account",
                    relationship_name="Account",
                ),
                Field(
                    "Status",
                    "picklist",
                    "Status",
                    picklist=("Draft", "In Approval Process", "Activated"),
                    restricted=True,
                    default="Draft",
                ),
                Field("StartDate", "date", "Contract Start Date"),
                Field("ContractTerm", "int", "Contract Term (months)"),
                _calc("EndDate", "date", "Contract End Date"),
                _calc("ContractNumber", "string", "Contract Number", length=30),
                Field("Description", "textarea", "Description", length=32000),
                _currency_iso(),
                Field(
                    "Q2C_Opportunity__c",
                    "reference",
                    "Opportunity",
                    reference_to="Opportunity",
                    relationship_name="Q2C_Opportunity__r",
                ),
                Field("Q2C_Billing_Contract_Id__c", "string", "Billing Contract ID"),
                _ext_id(),
            ],
        )
    )

    amendment = SObject("Q2C_Amendment__c", "a0A", "Amendment")
    objects.append(
        (
            amendment,
            [
                Field("Name", "string", "Amendment Name", required=True, length=80),
                Field(
                    "Q2C_Opportunity__c",
                    "reference",
                    "Opportunity",
                    required=True,
                    updateable=False,
                    reference_to="Opportunity",
                    relationship_name="Q2C_Opportunity__r",
                    cascade_delete=True,
                ),
                Field("Q2C_Effective_Date__c", "date", "Effective Date", required=True),
                Field("Q2C_End_Date__c", "date", "New Term End Date"),
                Field("Q2C_Cancel__c", "boolean", "Cancel Contract", default=False),
                Field(
                    "Q2C_Status__c",
                    "picklist",
                    "Status",
                    picklist=("Draft", "Submitted", "Applied", "Rejected"),
                    restricted=True,
                    default="Submitted",
                ),
                Field("Q2C_Attention_Reason__c", "string", "Attention Reason"),
                Field("Q2C_Description__c", "textarea", "Description", length=32000),
                _ext_id(),
            ],
        )
    )

    amendment_line = SObject("Q2C_Amendment_Line__c", "a0B", "Amendment Line")
    objects.append(
        (
            amendment_line,
            [
                _calc("Name", "string", "Amendment Line Number", length=80),
                Field(
                    "Q2C_Amendment__c",
                    "reference",
                    "Amendment",
                    required=True,
                    updateable=False,
                    reference_to="Q2C_Amendment__c",
                    relationship_name="Q2C_Amendment__r",
                    cascade_delete=True,
                ),
                Field(
                    "Q2C_Action__c",
                    "picklist",
                    "Action",
                    required=True,
                    picklist=("change", "add", "remove"),
                    restricted=True,
                ),
                Field("Q2C_Line_Id__c", "string", "Contract Line ID", required=True, length=80),
                Field("Q2C_Sort_Order__c", "double", "Sort Order"),
                Field("Q2C_Product_Code__c", "string", "Product Code"),
                Field("Q2C_Kind__c", "picklist", "Charge Kind", picklist=KINDS, restricted=True),
                Field("Q2C_Quantity__c", "double", "Quantity"),
                Field("Q2C_Unit_Price__c", "currency", "Unit Price"),
                Field("Q2C_SSP__c", "currency", "Standalone Selling Price"),
                Field("Q2C_Included_Units__c", "double", "Included Units per Period"),
                Field("Q2C_Start_Date__c", "date", "Line Start Date"),
                Field("Q2C_End_Date__c", "date", "Line End Date"),
            ],
        )
    )

    schema: dict[str, SObject] = {}
    for sobject, fields in objects:
        for f in [*_system_fields(), *fields]:
            sobject.fields[f.name] = f
        schema[sobject.name] = sobject

    children = [
        ("Account", "Opportunities", "Opportunity", "AccountId"),
        ("Account", "Contracts", "Contract", "AccountId"),
        ("Product2", "PricebookEntries", "PricebookEntry", "Product2Id"),
        ("Pricebook2", "PricebookEntries", "PricebookEntry", "Pricebook2Id"),
        ("Opportunity", "OpportunityLineItems", "OpportunityLineItem", "OpportunityId"),
        ("Opportunity", "Q2C_Amendments__r", "Q2C_Amendment__c", "Q2C_Opportunity__c"),
        ("Opportunity", "Q2C_Contracts__r", "Contract", "Q2C_Opportunity__c"),
        ("Opportunity", "Q2C_Renewals__r", "Opportunity", "Q2C_Renewal_Of__c"),
        (
            "Q2C_Amendment__c",
            "Q2C_Amendment_Lines__r",
            "Q2C_Amendment_Line__c",
            "Q2C_Amendment__c",
        ),
    ]
    for parent, name, child, fk in children:
        schema[parent].children[name] = ChildRelationship(name, child, fk)
    return schema


SCHEMA: dict[str, SObject] = _build()
BY_PREFIX: dict[str, SObject] = {o.key_prefix: o for o in SCHEMA.values()}


def sobject_ci(name: str) -> SObject | None:
    """An object by API name, case-insensitively."""
    found = SCHEMA.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    return next((o for o in SCHEMA.values() if o.name.lower() == lowered), None)
