"""The bodies the receiver takes and gives.

Salesforce events are thin (DESIGN.md §1): they say that something happened and to which
record; the workflow reads the facts from Salesforce. A cancellation is an amendment record
with `Q2C_Cancel__c = true` whose `Q2C_Effective_Date__c` is the effective date, so
`contract.cancelled` carries that amendment's id like `contract.amended` does, and the
contract reads the date from Salesforce, the system of record.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters: ids the event table keeps
RECORD_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
RecordId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=RECORD_ID,
        description="A Salesforce record id.",
    ),
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")  # senders may add fields; q2c reads only these

    id: str = Field(
        min_length=1,
        max_length=255,
        pattern=PRINTABLE,
        description="Event id, the same on every redelivery.",
    )
    opportunity_id: RecordId


class ClosedWon(_Event):
    """An opportunity was closed-won: start its contract (signal-with-start)."""

    type: Literal["opportunity.closed_won"]


class ContractAmended(_Event):
    """An amendment (`Q2C_Amendment__c`) was submitted for the contract."""

    type: Literal["contract.amended"]
    amendment_id: RecordId


class ContractCancelled(_Event):
    """A cancellation amendment (`Q2C_Cancel__c = true`) was submitted for the contract."""

    type: Literal["contract.cancelled"]
    amendment_id: RecordId


SalesforceEvent = Annotated[
    ClosedWon | ContractAmended | ContractCancelled, Field(discriminator="type")
]
SALESFORCE_EVENT: TypeAdapter[ClosedWon | ContractAmended | ContractCancelled] = TypeAdapter(
    SalesforceEvent
)


class BillingObject(BaseModel):
    """`data.object` of a billing event: the invoice (q2c reads its id and metadata)."""

    model_config = ConfigDict(extra="allow")

    object: str = Field(description="`invoice` for the events q2c acts on.")
    id: str = Field(min_length=1, max_length=255, pattern=PRINTABLE)
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="`q2c_key` (`contract-<opportunity>:<effect>`) and `q2c_contract_id` on "
        "the invoices q2c issued; an invoice without them is ignored.",
    )


class BillingEventData(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: BillingObject


class BillingEventBody(BaseModel):
    """A Stripe event as the billing platform delivers it (the OpenAPI document of the body;
    the route verifies the signature on the raw bytes and parses with the Stripe SDK)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "evt_1QaZ",
                    "object": "event",
                    "type": "invoice.paid",
                    "created": 1767225600,
                    "livemode": False,
                    "data": {
                        "object": {
                            "object": "invoice",
                            "id": "in_1QaZ",
                            "metadata": {
                                "q2c_key": "contract-006A:invoice:2026-01",
                                "q2c_contract_id": "C-1001",
                            },
                        }
                    },
                }
            ]
        },
    )

    id: str = Field(min_length=1, max_length=255, pattern=PRINTABLE)
    object: Literal["event"]
    type: str = Field(
        min_length=1,
        max_length=64,
        pattern=PRINTABLE,
        description="invoice.paid and invoice.payment_failed reach the contract; others are "
        "answered 200 ignored.",
    )
    created: int = Field(ge=0, le=253402300799, description="Unix time.")
    livemode: bool = False
    data: BillingEventData


class Answer(BaseModel):
    """What the receiver did with an event."""

    status: Literal["accepted", "duplicate", "ignored"] = Field(
        description="accepted (202): now durably in Temporal; duplicate (200): seen before, "
        "nothing done; ignored (200): not for q2c."
    )
    event_id: str
    workflow_id: str | None = None
    started: bool | None = Field(
        None,
        description="closed-won: a run was started (false: it was already running); a "
        "payment of a contract that has ended: its late-payment workflow was started (false: "
        "it already had that invoice).",
    )
    detail: str | None = None


class Problem(BaseModel):
    """An error answer: one sentence, or the field errors of an invalid body (422)."""

    detail: str | list[dict[str, Any]]
