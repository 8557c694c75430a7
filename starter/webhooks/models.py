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

RecordId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="A Salesforce record id.",
    ),
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")  # senders may add fields; q2c reads only these

    id: str = Field(
        min_length=1, max_length=255, description="Event id, the same on every redelivery."
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


class Answer(BaseModel):
    """What the receiver did with an event."""

    status: Literal["accepted", "duplicate", "ignored"] = Field(
        description="accepted (202): now durably in Temporal; duplicate (200): seen before, "
        "nothing done; ignored (200): not for q2c."
    )
    event_id: str
    workflow_id: str | None = None
    started: bool | None = Field(
        None, description="closed-won only: a run was started (false: it was already running)."
    )
    detail: str | None = None


class Problem(BaseModel):
    """An error answer: one sentence, or the field errors of an invalid body (422)."""

    detail: str | list[dict[str, Any]]
