"""The reconciliation activity's answers when a system will not tell (fakes for the vendors and
the contract workflow): one contract's trouble never fails the whole run.

- Salesforce no longer has the opportunity: a `bookings` difference saying so.
- Billing refuses a read: that contract is `Skipped` with the reason; the run goes on.
- A vendor is down: the activity fails retryably (Temporal tries the batch again).
- The contract workflow does not answer its query: `Skipped`.
- A namespace without the `ReconStatus` search attribute: contracts are not signalled (their
  upsert would fail their workflow task again and again).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.reconciliation import ReconcileBatch, ReconciliationActivities
from adapters.errors import BusinessError, NotFoundError, TransientError
from domain.reconciliation import ReconciliationBasis
from tests.reconciliation.books import WORKFLOW, books_of
from tests.reconciliation.test_domain import ANNUAL, scenario


@dataclass
class FakeHandle:
    basis: ReconciliationBasis | Exception

    async def query(self, *_: Any, **__: Any) -> ReconciliationBasis:
        if isinstance(self.basis, Exception):
            raise self.basis
        return self.basis


@dataclass
class FakeClient:
    basis: ReconciliationBasis | Exception

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        assert workflow_id == WORKFLOW
        return FakeHandle(self.basis)


@dataclass
class FakeSalesforce:
    booking: Exception

    async def get_opportunity_booking(self, opportunity_id: str) -> Any:
        raise self.booking


@dataclass
class FakeBilling:
    error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    async def list_invoices_for(self, *, contract_id: str) -> list[Any]:
        self.calls.append(contract_id)
        if self.error is not None:
            raise self.error
        return []


@dataclass
class FakeErp:
    async def list_journal_entries(self, contract_id: str) -> list[Any]:
        return []


def activities(salesforce: Any, billing: Any) -> ReconciliationActivities:
    return ReconciliationActivities(
        store=cast(Any, None), salesforce=salesforce, billing=billing, erp=cast(Any, FakeErp())
    )


AS_OF = dt.date(2026, 6, 15)


def basis() -> ReconciliationBasis:
    return books_of(scenario(ANNUAL)).basis


async def test_an_opportunity_gone_from_salesforce_is_a_bookings_difference() -> None:
    gone = NotFoundError("salesforce", "no Opportunity OPP", code="NOT_FOUND")
    acts = activities(FakeSalesforce(gone), FakeBilling())
    result = await acts.reconcile_one(cast(Client, FakeClient(basis())), WORKFLOW, AS_OF)
    bookings = next(d for d in result.differences if d.kind == "bookings")
    assert bookings.actual == 0 and bookings.expected == bookings.amount * -1
    assert "no Opportunity OPP" in bookings.detail
    assert bookings.records == ["opportunity OPP"]


async def test_a_refused_read_skips_the_contract_and_a_transient_one_is_retried() -> None:
    refused = BusinessError("billing", "search is disabled", code="feature_disabled")
    gone = NotFoundError("salesforce", "no Opportunity OPP", code="NOT_FOUND")
    acts = activities(FakeSalesforce(gone), FakeBilling(refused))
    result = await acts.reconcile_one(cast(Client, FakeClient(basis())), WORKFLOW, AS_OF)
    assert result.status == "Skipped" and result.differences == []
    assert "search is disabled" in result.note
    assert result.contract_id == "OPP-1001"

    down = TransientError("billing", "503 Service Unavailable", retry_after=2)
    acts = activities(FakeSalesforce(gone), FakeBilling(down))
    with pytest.raises(ApplicationError) as raised:
        await acts.reconcile_one(cast(Client, FakeClient(basis())), WORKFLOW, AS_OF)
    assert not raised.value.non_retryable


async def test_a_workflow_that_does_not_answer_is_skipped() -> None:
    failed = WorkflowQueryFailedError("task failed")
    acts = activities(FakeSalesforce(RuntimeError("not called")), FakeBilling())
    result = await acts.reconcile_one(cast(Client, FakeClient(failed)), WORKFLOW, AS_OF)
    assert result.status == "Skipped" and "did not answer" in result.note
    pending = basis().model_copy(update={"contract": None, "stage": "Validating"})
    result = await acts.reconcile_one(cast(Client, FakeClient(pending)), WORKFLOW, AS_OF)
    assert result.status == "Skipped" and "not activated" in result.note


@dataclass
class Listed:
    custom_attributes: dict[str, int]


@dataclass
class FakeOperator:
    attributes: dict[str, int]

    async def list_search_attributes(self, *_: Any, **__: Any) -> Listed:
        return Listed(self.attributes)


@dataclass
class SignalledClient(FakeClient):
    operator_service: FakeOperator = field(default_factory=lambda: FakeOperator({}))
    namespace: str = "default"
    signals: list[str] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> Any:
        client = self

        class Handle(FakeHandle):
            async def signal(self, name: str, arg: Any) -> None:
                client.signals.append(f"{name}:{arg.status}")

        return Handle(self.basis)


async def test_contracts_are_marked_only_where_recon_status_is_registered() -> None:
    gone = NotFoundError("salesforce", "no Opportunity OPP", code="NOT_FOUND")
    request = ReconcileBatch(run_id="r", as_of=AS_OF, workflow_ids=[WORKFLOW])
    for attributes, expected in (({}, []), ({"ReconStatus": 2}, ["reconciled:Mismatch"])):
        fake = SignalledClient(basis(), FakeOperator(attributes))
        acts = ReconciliationActivities(
            store=cast(Any, None),
            salesforce=cast(Any, FakeSalesforce(gone)),
            billing=cast(Any, FakeBilling()),
            erp=cast(Any, FakeErp()),
            client=lambda fake=fake: cast(Client, fake),  # type: ignore[misc]
        )
        (result,) = await ActivityEnvironment().run(acts.reconcile_batch, request)
        assert result.status == "Mismatch"
        assert fake.signals == expected  # no upsert a namespace would refuse
