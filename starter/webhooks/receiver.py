"""What the receiver does with a verified event: reach the contract through Temporal, once.

Order matters for "nothing lost, nothing twice": an event id already recorded is answered as a
duplicate; otherwise the signal (or signal-with-start) is sent and, once Temporal has stored
it, the id is recorded and the event accepted. A crash between the two is a redelivery that
signals again, which the workflow ignores (it keeps the ids of the messages it has seen).

A payment event for a contract whose run has ended (an invoice paid after the term, or after a
cancellation) reaches no signal: `invoice.paid` starts `LatePaymentWorkflow`, id
`contract-<opportunity>:payment:<invoice id>`, which posts the payment journal under the
contract's own key (accepted, 202; a second event for the same invoice starts nothing);
`invoice.payment_failed` is answered 200 ignored. A contract that never ran stays 404.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client

from adapters.billing import BillingAdapter
from adapters.billing.records import BillingEvent
from adapters.observability.logging import contract_context
from adapters.settings import Settings
from adapters.webhook_events import WebhookEvents
from starter.control import (
    ContractNotFound,
    closed_contract,
    signal_contract,
    start_contract,
    start_late_payment,
)
from starter.webhooks.models import Answer, ClosedWon, ContractAmended, ContractCancelled
from workflows.contract import workflow_id_for
from workflows.contract_models import AmendmentRequest, PaymentNotice

SALESFORCE, BILLING = "salesforce", "billing"
log = logging.getLogger("q2c.webhooks")
PAYMENT_SIGNALS = {"invoice.paid": "payment", "invoice.payment_failed": "payment_failed"}
WORKFLOW_PREFIX = workflow_id_for("")
_OPPORTUNITY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # models.RecordId


def workflow_of_invoice(event: BillingEvent) -> str | None:
    """The contract workflow that issued the event's invoice, from the invoice's `q2c_key`.

    Every document q2c issues carries its idempotency key, `<workflow id>:<effect>`
    (DESIGN.md §4), in its metadata; an invoice without one was not issued by q2c.
    """
    if event.object_type != "invoice" or not event.key or not event.contract_id:
        return None
    workflow_id = event.key.split(":", 1)[0]
    opportunity_id = workflow_id.removeprefix(WORKFLOW_PREFIX)
    if workflow_id == opportunity_id or not _OPPORTUNITY_ID.fullmatch(opportunity_id):
        return None  # not `contract-<opportunity id>`: not a key q2c wrote
    return workflow_id


class Ignored(Exception):
    """The event is for q2c but there is nothing to do with it (the message says why)."""


@dataclass(frozen=True)
class Delivered:
    """Where an event went when it is not the contract's running workflow."""

    workflow_id: str
    started: bool | None = None
    detail: str | None = None


@dataclass
class Receiver:
    """The receiver's collaborators: Temporal, the accepted-event table, the billing verifier."""

    settings: Settings
    client: Client
    events: WebhookEvents
    billing: BillingAdapter

    @property
    def timeout(self) -> float:
        return self.settings.webhook_temporal_timeout_seconds

    async def _once(
        self,
        source: str,
        event_id: str,
        event_type: str,
        workflow_id: str,
        deliver: Callable[[], Awaitable[bool | Delivered | None]],
    ) -> tuple[int, Answer]:
        with contract_context(workflow_id):  # log lines of this event carry its contract id
            return await self._deliver_once(source, event_id, event_type, workflow_id, deliver)

    async def _deliver_once(
        self,
        source: str,
        event_id: str,
        event_type: str,
        workflow_id: str,
        deliver: Callable[[], Awaitable[bool | Delivered | None]],
    ) -> tuple[int, Answer]:
        if await asyncio.to_thread(self.events.seen, source, event_id):
            log.info("%s event %s (%s): duplicate, nothing done", source, event_id, event_type)
            return 200, Answer(
                status="duplicate",
                event_id=event_id,
                workflow_id=workflow_id,
                detail="already accepted; nothing done again",
            )
        try:
            delivered = await deliver()
        except Ignored as exc:  # not recorded: a redelivery is answered the same way
            log.info("%s event %s (%s) ignored: %s", source, event_id, event_type, exc)
            return 200, Answer(
                status="ignored", event_id=event_id, workflow_id=workflow_id, detail=str(exc)
            )
        detail = None
        if isinstance(delivered, Delivered):
            workflow_id, started, detail = (
                delivered.workflow_id,
                delivered.started,
                delivered.detail,
            )
        else:
            started = delivered
        await asyncio.to_thread(self.events.record, source, event_id, event_type, workflow_id)
        log.info(
            "%s event %s (%s) accepted for %s%s",
            source,
            event_id,
            event_type,
            workflow_id,
            " (workflow started)" if started else "",
        )
        return 202, Answer(
            status="accepted",
            event_id=event_id,
            workflow_id=workflow_id,
            started=started,
            detail=detail,
        )

    async def salesforce(
        self, event: ClosedWon | ContractAmended | ContractCancelled
    ) -> tuple[int, Answer]:
        workflow_id = workflow_id_for(event.opportunity_id)

        async def deliver() -> bool | None:
            if isinstance(event, ClosedWon):
                outcome = await start_contract(
                    self.client,
                    self.settings.task_queue,
                    event.opportunity_id,
                    source=f"salesforce event {event.id}",
                    timeout=self.timeout,
                )
                return outcome.started
            request = AmendmentRequest(amendment_id=event.amendment_id)
            await signal_contract(
                self.client, workflow_id, "amendment", request, timeout=self.timeout
            )
            return None

        return await self._once(SALESFORCE, event.id, event.type, workflow_id, deliver)

    async def billing_event(self, event: BillingEvent) -> tuple[int, Answer]:
        signal = PAYMENT_SIGNALS.get(event.type)
        workflow_id = workflow_of_invoice(event) if signal else None
        if signal is None or workflow_id is None or event.object_id is None:
            why = "not a payment event" if signal is None else "not an invoice issued by q2c"
            return 200, Answer(status="ignored", event_id=event.id, detail=why)
        invoice_id = event.object_id
        # One payment journal per paid invoice (the workflow reads the amount paid); each
        # failed attempt is its own event.
        payment_id = invoice_id if signal == "payment" else event.id
        notice = PaymentNotice(payment_id=payment_id, invoice_id=invoice_id)

        async def deliver() -> Delivered | None:
            try:
                await signal_contract(
                    self.client, workflow_id, signal, notice, timeout=self.timeout
                )
                return None
            except ContractNotFound:
                # Ended (paid after the term, or after a cancellation), or never existed:
                # `closed_contract` raises ContractNotFound again for the latter (404).
                closed = await closed_contract(self.client, workflow_id, timeout=self.timeout)
            if signal != "payment":
                raise Ignored(
                    f"{workflow_id} has ended ({closed.stage}): a failed payment of an ended "
                    "contract is for billing's dunning; nothing to post"
                )
            outcome = await start_late_payment(
                self.client, self.settings.task_queue, closed, invoice_id, timeout=self.timeout
            )
            return Delivered(
                workflow_id=outcome.workflow_id,
                started=outcome.started,
                detail=f"{workflow_id} has ended ({closed.stage}); workflow "
                f"{outcome.workflow_id} posts the payment journal"
                + ("" if outcome.started else " (it already had this invoice)"),
            )

        return await self._once(BILLING, event.id, event.type, workflow_id, deliver)
