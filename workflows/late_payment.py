"""LatePaymentWorkflow: the payment journal of an invoice paid after its contract's run ended.

A contract's last invoices are usually paid after its term ended (net 30), or after it was
cancelled, when `ContractWorkflow` has completed and no signal reaches it. The webhook receiver
then starts this workflow, id `contract-<opportunity>:payment:<invoice id>`
(`late_payment_id`), which posts what the contract would have posted on the `payment` signal:
`payment_journal` (Dr Cash / Cr Accounts Receivable, the amount paid, dated the paid date),
through the contract's own activities (`read_payment`, `ensure_erp_customer`, `post_journal`),
under the contract's own key `contract-<opportunity>:[term-N:]journal:payment:<invoice id>`.
The ledger and the ERP's external id make that key post once, so a race with the contract run,
a repeated webhook or a restarted workflow cannot post it twice (DESIGN.md §4).

Where the facts come from: Temporal, nothing new stored. The receiver describes the contract's
workflow (its last run must have COMPLETED: Expired or Cancelled) and asks that closed run its
`reconciliation_basis` query (Temporal answers a query on a closed workflow by replaying it on a
worker): the contract as booked for the term that ended (number, currency, legal entity, the
customer's account and name) and `key_prefix`, the term's key prefix. The workflow input
carries those facts, so this workflow is deterministic and replays on its own. The one fact
no query gives, the ERP customer id, comes from `ensure_erp_customer` with the customer the
contract activated with: the ledger answers it as recorded (the same request, the same key,
`account-<account>:customer:erp`), nothing is created.

Failing visibly: activities retry like the contract's (backoff from 1 s to 5 min) for the
transient window; a business error, or an outage past the window, fails this workflow with
the reason, the invoice and the key (Web UI: `WorkflowType = "LatePayment" AND ExecutionStatus
= "Failed"`), never silently. Once the cause is fixed, a redelivered webhook (a new event id)
starts it again (the id can be reused after a failure only), or `temporal workflow reset`.
It sets no search attribute: `ContractId` is how `q2c` finds a contract's workflow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from activities.contract import ContractActivities
    from activities.contract_io import EnsureCustomer, PostJournal, ReadPayment
    from domain.documents import payment_journal

T = TypeVar("T")

ACTIVITY_TIMEOUT = timedelta(seconds=60)  # as ContractWorkflow's
RETRY = RetryPolicy(  # as ContractWorkflow's
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
WORKFLOW_TYPE = "LatePayment"


def late_payment_id(contract_workflow_id: str, invoice_id: str) -> str:
    """The workflow id of an invoice's late payment: one per contract and invoice."""
    return f"{contract_workflow_id}:payment:{invoice_id}"


class LatePaymentInput(BaseModel):
    """A paid invoice of a contract whose run has ended, with what the closed run told."""

    contract_workflow_id: str = Field(description="`contract-<opportunity id>`.")
    contract_run_id: str = Field(description="The closed run the facts were read from.")
    final_stage: str = Field(description="Expired or Cancelled.")
    key_prefix: str = Field(
        description="The ended term's key prefix, `contract-<opp>:` or `contract-<opp>:term-N:` "
        "(ReconciliationBasis.key_prefix)."
    )
    contract_id: str
    currency: str
    legal_entity: str
    account_id: str
    customer_name: str
    invoice_id: str
    payment_id: str = Field(description="The invoice id: one payment journal per paid invoice.")
    clock_offset_days: int = Field(
        0,
        description="Business date − workflow clock, in days, of the closed run (0 in "
        "production): dates the payment when billing gives no paid date.",
    )
    transient_window_seconds: float = 3600.0


class LatePaymentOutcome(BaseModel):
    key: str
    erp_journal_id: str | None = Field(
        description="None when the invoice was settled by credit notes alone (no cash moved)."
    )
    amount: Decimal
    currency: str
    paid_on: dt.date


@workflow.defn(name=WORKFLOW_TYPE)
class LatePaymentWorkflow:
    @workflow.run
    async def run(self, input: LatePaymentInput) -> LatePaymentOutcome:
        self._input = input
        self._details(f"reading invoice {input.invoice_id} ← billing")
        facts = await self._call(
            ContractActivities.read_payment,
            ReadPayment(invoice_id=input.invoice_id, payment_id=input.payment_id),
            summary=f"payment {input.payment_id} ← billing",
        )
        today = (workflow.now() + timedelta(days=input.clock_offset_days)).date()
        key = f"{input.key_prefix}journal:payment:{input.payment_id}"
        if facts.amount <= 0:  # settled by credit notes alone: no cash, no journal
            self._details(f"invoice {input.invoice_id} settled by credit notes: nothing to post")
            return LatePaymentOutcome(
                key=key,
                erp_journal_id=None,
                amount=facts.amount,
                currency=input.currency,
                paid_on=facts.paid_on or today,
            )
        erp_customer_id = await self._call(
            ContractActivities.ensure_erp_customer,
            EnsureCustomer(
                key=f"{input.key_prefix}customer",
                contract_id=input.contract_id,
                account_id=input.account_id,
                name=input.customer_name,
                currency=input.currency,
                legal_entity=input.legal_entity,
            ),
            summary=f"customer {input.account_id} ← erp (as recorded)",
        )
        # Exactly what ContractWorkflow._apply_payment builds, so the ledger sees one request.
        entry = payment_journal(
            input.contract_id,
            input.payment_id,
            facts.paid_on or today,
            facts.amount,
            input.currency,
        )
        assert key == f"{input.key_prefix}{entry.key}"
        self._details(f"posting {key} → erp")
        journal_id = await self._call(
            ContractActivities.post_journal,
            PostJournal(
                key=key,
                entry=entry,
                legal_entity=input.legal_entity,
                erp_customer_id=erp_customer_id,
            ),
            summary=f"{entry.key} → erp",
        )
        self._details(f"posted {key} (ERP journal {journal_id})")
        return LatePaymentOutcome(
            key=key,
            erp_journal_id=journal_id,
            amount=facts.amount,
            currency=input.currency,
            paid_on=entry.date,
        )

    async def _call(
        self, activity: Callable[[Any, Any], Awaitable[T]], arg: Any, *, summary: str
    ) -> T:
        """Run a contract activity; a business error or an outage past the window fails the
        workflow, saying which invoice and which key (nothing is lost silently)."""
        try:
            return await workflow.execute_activity_method(
                activity,
                arg,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=self._input.transient_window_seconds),
                retry_policy=RETRY,
                summary=summary,
            )
        except ActivityError as err:
            reason, detail = _classify(err)
            i = self._input
            message = (
                f"payment of invoice {i.invoice_id} of {i.contract_workflow_id} "
                f"({i.final_stage}) not posted: {summary}: {detail}"
            )
            self._details(f"**failed: {reason}** — {message}")
            raise ApplicationError(
                message,
                {
                    "reason": reason,
                    "invoice_id": self._input.invoice_id,
                    "contract_workflow_id": self._input.contract_workflow_id,
                },
                type="LatePaymentNotPosted",
                non_retryable=True,
            ) from err

    def _details(self, doing: str) -> None:
        i = self._input
        workflow.set_current_details(
            f"late payment of invoice {i.invoice_id} · contract {i.contract_id} "
            f"({i.contract_workflow_id}, {i.final_stage}) · {i.currency} · {i.legal_entity}"
            f"\n\n{doing}"
        )


def _classify(err: ActivityError) -> tuple[str, str]:
    """The reason (as ContractWorkflow would park with) and the message of a failed activity."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        info = cause.details[0] if cause.details else {}
        reason = info.get("reason") if isinstance(info, dict) else None
        return str(reason or "business_error"), cause.message
    if isinstance(cause, TemporalTimeout):
        return "unavailable", "no answer within the retry window"
    return "unavailable", str(cause) if cause is not None else str(err)
