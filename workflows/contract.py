"""ContractWorkflow: one contract's whole life, durable, idempotent and inspectable.

Workflow id `contract-<opportunity id>`. It activates the booking, then sleeps on durable timers
from one due day to the next; each day it takes the messages that arrived (amendments, usage,
cancellations, payments), rebuilds the schedule with the domain engine and posts exactly the
difference (`domain.posting.posting_difference`). Business dates come from `workflow.now()`
plus an offset carried in the input: zero in production, set by `q2c simulate`.

A business error never fails the workflow: the contract parks in `NeedsAttention` with a reason
and waits for an operator's `retry`. Transient errors are retried by Temporal with backoff for
the transient window, after which the contract parks with `<system>_unavailable`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    # Imported by its full name, so the sandbox passes the host's module through: its backlog
    # table is the worker's, not one per workflow run (`from workflows import` would reload it).
    import workflows.metrics as metrics
    from activities.contract import ContractActivities
    from activities.contract_io import (
        EnsureCustomer,
        IssueDocument,
        PostJournal,
        PostRevenuePlan,
        ReadAmendment,
        ReadBooking,
        ReadPayment,
        WriteBack,
    )
    from domain.documents import BillingDocument, payment_journal
    from domain.errors import InputError, PostingConflict
    from domain.lifecycle import annual_recurring_revenue, next_due_date, renewal_contract
    from domain.models import Amendment, UsageRecord
    from domain.posting import posting_difference
    from domain.reconciliation import ReconciledNotice, ReconciliationBasis
    from domain.report import Report, build_report
    from domain.revenue_plan import revenue_plan
    from domain.schedule import Schedule, build_schedule
    from workflows import search_attributes as sa
    from workflows.contract_models import (
        AmendmentOutcome,
        AmendmentRequest,
        CancelRequest,
        ContractInput,
        ContractOutcome,
        ContractState,
        ContractStatus,
        PaymentNotice,
        PendingUsage,
        PostedDocument,
        Stage,
    )

T = TypeVar("T")

ACTIVITY_TIMEOUT = timedelta(seconds=60)
CONTINUE_AS_NEW_EVENTS = 5000
# Patch: an amendment that comes after today's documents were issued, which it would change or
# drop, is taken tomorrow, as received then (found by the chaos run: a back-dated cancellation
# left the invoice of a period starting that day issued and never credited).
AFTER_TODAYS_BILLING = "amendment-after-todays-billing"
# Patch: a run that would time out before its next due day continues as new first (the
# time-skipping test server caps every run at 10 years: a 10-year contract kept in one run
# timed out on its business day 2036-01-13, two days before it would have expired).
BEFORE_RUN_TIMEOUT = "continue-before-run-timeout"
RUN_TIMEOUT_MARGIN = timedelta(days=1)
# Patch: a contract that parks writes `NeedsAttention` and its reason onto the opportunity
# before it waits for `retry`, so sales and finance see it in Salesforce (unless Salesforce is
# what failed). A few attempts, bounded: a failed write is logged, never parks it again.
PARK_WRITES_SALESFORCE = "park-writes-salesforce"
PARK_WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)
PARK_WRITE_TIMEOUT = timedelta(seconds=30)
# Patch: a payment signalled while the contract writes its final status (Expired, Cancelled)
# is applied before the run completes; it used to be taken into the state and dropped, its
# journal never posted (the receiver's late-payment path only sees a signal that fails).
PAYMENTS_AT_THE_END = "payments-at-the-end"
# Patch: an invoice "paid" by credit notes alone (amount paid 0: a credit that covered it
# whole, and billing's invoice.paid for it) moves no cash: no payment journal, no park. It
# parked `payment_not_found` before (found by the chaos run once credits were split).
CREDIT_SETTLED_PAYMENT = "credit-settled-payment"
PARK_WRITE_WINDOW = timedelta(minutes=2)
SALESFORCE, BILLING, ERP = "salesforce", "billing", "erp"
# Parks on what Salesforce holds (it answered): the opportunity can still take the status.
# Any other park on a Salesforce call (down, refused, the opportunity gone) skips the write.
SALESFORCE_DATA_REASONS = frozenset(
    {"missing_product_mapping", "invalid_booking", "invalid_amendment"}
)
# Errors reading an amendment that no retry can cure (no such record, another contract's):
# the amendment is refused with the reason instead of parking the whole contract on it.
UNREADABLE_AMENDMENT = frozenset({"NOT_FOUND", "MALFORMED_ID", "WRONG_CONTRACT"})

FIXES = {
    "missing_product_mapping": (
        "`q2c catalog sync` (or the catalog-sync Schedule) maps the product onto Product2 "
        "Q2C_Billing_Price_Id__c and Q2C_ERP_Item_Id__c and retries this contract; it says why "
        "a product cannot be mapped (fix that in Salesforce). Mapped by hand: `q2c retry`"
    ),
    "negative_remaining_consideration": (
        "an accountant must review the amendment (its prospective remainder is negative); "
        "correct it in Salesforce, then `q2c retry` re-reads it"
    ),
    "invalid_amendment": "correct the amendment in Salesforce, then `q2c retry` re-reads it",
    "invalid_booking": "correct the opportunity in Salesforce, then `q2c retry`",
    "posting_conflict": (
        "a posted document differs from the schedule; compare billing with `q2c report`, "
        "fix the record, then `q2c retry`"
    ),
}


def workflow_id_for(opportunity_id: str) -> str:
    return f"contract-{opportunity_id}"


@workflow.defn(name="Contract")
class ContractWorkflow:
    @workflow.init
    def __init__(self, input: ContractInput) -> None:
        self.s: ContractState = input.state or ContractState(
            opportunity_id=input.opportunity_id,
            clock_offset_seconds=input.clock_offset_seconds,
            transient_window_seconds=input.transient_window_seconds,
            search_attributes=input.search_attributes,
        )
        self._retry_requested = False
        self._schedule_cache: tuple[str, Schedule] | None = None
        self._search_cache: dict[str, Any] = {}
        self._next_due: dt.date | None = None
        self._metrics_token = metrics.track(self)

    # -- the run -------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ContractInput) -> ContractOutcome:
        if not self.s.activated:
            await self._activate()
        else:
            self._publish()
        while True:
            await self._take_messages()
            await self._post_due()
            if self._next_due is None and not self._has_messages():
                break
            if self._should_continue_as_new():
                # An `amend` update waits for the loop to answer it: take new messages first.
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() or self._has_messages()
                )
                if not self._has_messages():
                    workflow.continue_as_new(self._continuation(self.s))
                continue
            await self._sleep_until_due()
        return await self._end_of_term()

    # -- activation ------------------------------------------------------------------------

    async def _activate(self) -> None:
        self._set_stage("Validating")
        while True:
            booking = await self._call(
                ContractActivities.read_booking,
                ReadBooking(opportunity_id=self.s.opportunity_id),
                system=SALESFORCE,
                summary=f"read booking {self.s.opportunity_id} ← salesforce",
            )
            try:
                build_schedule(booking.contract)
            except InputError as exc:
                await self._park("invalid_booking", str(exc))
                continue
            break
        self.s.booking = booking
        contract = booking.contract
        self._upsert(
            {
                sa.CONTRACT_ID: contract.id,
                sa.CUSTOMER_ID: contract.customer.id,
                sa.CURRENCY: contract.currency,
                sa.LEGAL_ENTITY: contract.legal_entity,
            }
        )
        self._set_stage("Provisioning")
        customer = EnsureCustomer(
            key=self._key("customer"),
            contract_id=contract.id,
            account_id=contract.customer.id,
            name=contract.customer.name,
            currency=contract.currency,
            legal_entity=contract.legal_entity,
        )
        self.s.billing_customer_id = await self._call(
            ContractActivities.ensure_billing_customer,
            customer,
            system=BILLING,
            summary=f"customer {contract.customer.id} → billing",
        )
        self.s.erp_customer_id = await self._call(
            ContractActivities.ensure_erp_customer,
            customer,
            system=ERP,
            summary=f"customer {contract.customer.id} → erp",
        )
        schedule_id = await self._post_plan(self._schedule())
        await self._write_back("Active", revenue_schedule_id=schedule_id)
        self.s.activated = True
        self._set_stage("Active")

    # -- messages --------------------------------------------------------------------------

    @workflow.signal
    def amendment(self, request: AmendmentRequest) -> None:
        """A Salesforce amendment (by id) for this contract; duplicates change nothing."""
        self._enqueue_amendment(request.amendment_id)

    @workflow.update
    async def amend(self, request: AmendmentRequest) -> AmendmentOutcome:
        """Apply an amendment and answer whether it was accepted (and how it was treated)."""
        self._enqueue_amendment(request.amendment_id)
        await workflow.wait_condition(lambda: request.amendment_id in self.s.amendment_outcomes)
        return self.s.amendment_outcomes[request.amendment_id]

    @amend.validator
    def _validate_amend(self, request: AmendmentRequest) -> None:
        if not request.amendment_id.strip():
            raise ValueError("amendment_id is empty")
        if self.s.stage in ("Cancelled", "Expired"):
            raise ValueError(f"contract {self.s.opportunity_id} is {self.s.stage}")

    @workflow.update
    async def activated(self) -> str:
        """Answers once activation is over, with the stage then (Active, NeedsAttention…).

        `q2c start --from-salesforce --wait-activated` paces a migration by it: one call per
        contract that the server answers when it completes, instead of polling.
        """
        await workflow.wait_condition(
            lambda: self.s.activated or self.s.stage not in ("Validating", "Provisioning")
        )
        return self.s.stage

    @workflow.signal
    def usage(self, record: PendingUsage) -> None:
        if self._first_time(f"usage:{record.usage_id}"):
            self.s.pending_usage.append(record)

    @workflow.signal
    def payment(self, notice: PaymentNotice) -> None:
        if self._first_time(f"payment:{notice.payment_id}"):
            self.s.pending_payments.append(notice)

    @workflow.signal
    def payment_failed(self, notice: PaymentNotice) -> None:
        """Billing could not collect an invoice: shown on the contract (dunning is billing's)."""
        if self._first_time(f"payment_failed:{notice.payment_id}"):
            self.s.last_error = f"payment of invoice {notice.invoice_id} failed"
            self._describe()

    @workflow.signal
    def booked(self, source: str) -> None:
        """Signal-with-start's signal (`q2c start`, closed-won webhook); changes nothing, so a
        repeated start is harmless. `source` says who started it, in the history."""

    @workflow.signal
    def cancel(self, request: CancelRequest) -> None:
        if self._first_time(f"cancel:{request.request_id}"):
            self.s.pending_cancels.append(request)

    @workflow.signal
    def retry(self) -> None:
        """Resume a parked step, and re-read amendments that were refused."""
        self._retry_requested = True

    @workflow.query
    def status(self) -> ContractStatus:
        figures = None
        if self.s.booking is not None:
            figures = self._schedule().figures(self._today())
        return ContractStatus(
            contract_id=self.s.opportunity_id,
            term=self.s.term,
            stage=self.s.stage,
            business_date=self._today(),
            processed_through=self.s.processed_through,
            next_due=self._next_due,
            next_wake=self._workflow_time_of(self._next_due) if self._next_due else None,
            attention_reason=self.s.attention_reason,
            attention_detail=self.s.attention_detail,
            currency=self.s.booking.contract.currency if self.s.booking else None,
            billed_to_date=figures.billed if figures else None,
            recognized_to_date=figures.recognized if figures else None,
            deferred_revenue=figures.deferred if figures else None,
            pending_messages=self._pending_count(),
            finished=self.s.finished,
            documents_posted=len(self.s.posted_documents),
            journals_posted=len(self.s.posted_journals),
        )

    @workflow.query
    def report(self) -> Report:
        """The §6 report of the live contract as of today's business date."""
        if self.s.booking is None:
            raise ApplicationError("the contract is not activated yet")
        return build_report(self._schedule(), self._today())

    @workflow.query
    def reconciliation_basis(self) -> ReconciliationBasis:
        """What reconciliation compares the systems with: the contract as q2c booked it, the
        amendments it took (with the day each was received) and its usage."""
        return ReconciliationBasis(
            workflow_id=workflow.info().workflow_id,
            opportunity_id=self.s.opportunity_id,
            term=self.s.term,
            stage=self.s.stage,
            business_date=self._today(),
            processed_through=self.s.processed_through,
            next_due=self._next_due,
            finished=self.s.finished,
            contract=self.s.booking.contract if self.s.booking else None,
            amendments=list(self.s.amendments),
            amendment_requests=dict(self.s.amendment_requests),
            usage=list(self.s.usage),
        )

    @workflow.signal
    def reconciled(self, outcome: ReconciledNotice) -> None:
        """The last reconciliation's verdict, as search attribute `ReconStatus`."""
        self._upsert({sa.RECON_STATUS: outcome.status})

    def _first_time(self, message_id: str) -> bool:
        if message_id in self.s.seen_messages:
            return False
        self.s.seen_messages.append(message_id)
        return True

    def _enqueue_amendment(self, amendment_id: str) -> None:
        if self._first_time(f"amendment:{amendment_id}"):
            self.s.pending_amendments.append(amendment_id)
            metrics.amendment_backlog(self._metrics_token, len(self.s.pending_amendments))

    def _has_messages(self) -> bool:
        return self._pending_count() > 0 or self._retry_requested

    def _pending_count(self) -> int:
        s = self.s
        return (
            len(s.pending_amendments)
            + len(s.pending_usage)
            + len(s.pending_payments)
            + len(s.pending_cancels)
        )

    async def _take_messages(self) -> None:
        if self._retry_requested:
            self._retry_requested = False
            self._reread_refused()
        if self.s.deferred_amendments and self.s.deferred_on != self._today():
            deferred, self.s.deferred_amendments = self.s.deferred_amendments, []
            for amendment in deferred:
                self._apply_amendment(amendment)
        if self.s.pending_amendments or self.s.pending_cancels:
            self._set_stage("Amending")
        while self.s.pending_amendments:
            amendment_id = self.s.pending_amendments[0]
            try:
                amendment = await self._call(
                    ContractActivities.read_amendment,
                    ReadAmendment(opportunity_id=self.s.opportunity_id, amendment_id=amendment_id),
                    system=SALESFORCE,
                    summary=f"read amendment {amendment_id} ← salesforce",
                    answer_codes=UNREADABLE_AMENDMENT,
                )
            except ActivityError as err:
                _, detail = self._classify(err, SALESFORCE)
                self.s.pending_amendments.pop(0)
                self.s.last_error = f"amendment {amendment_id} refused: {detail}"
                self._outcome(amendment_id, accepted=False, message=detail)
                continue
            self.s.pending_amendments.pop(0)
            self.s.amendment_requests[amendment.id] = amendment_id
            self._apply_amendment(amendment)
        while self.s.pending_cancels:
            request = self.s.pending_cancels.pop(0)
            self._apply_amendment(
                Amendment(
                    id=f"CANCEL-{request.request_id}",
                    effective_date=request.effective_date,
                    cancel=True,
                )
            )
        while self.s.pending_usage:
            self._apply_usage(self.s.pending_usage.pop(0))
        while self.s.pending_payments:
            await self._apply_payment(self.s.pending_payments[0])
            self.s.pending_payments.pop(0)
        self._set_stage(self._steady_stage())

    def _apply_amendment(self, amendment: Amendment) -> None:
        """Accept an amendment into the schedule, or refuse it with the reason."""
        today = self._today()
        received = amendment.model_copy(
            update={"received_on": max(today, amendment.effective_date)}
        )
        others = [a for a in self.s.amendments if a.id != amendment.id]
        try:
            schedule = self._build([*others, received], self.s.usage)
        except InputError as exc:
            self.s.refused_amendments[amendment.id] = f"invalid_amendment: {exc}"
            self._outcome(amendment.id, accepted=False, message=str(exc))
            return
        if (
            received.received_on == today
            and self._rewrites_issued(schedule)
            and workflow.patched(AFTER_TODAYS_BILLING)
        ):
            # Today's documents went out before the amendment came: received today, it would
            # apply before them (DESIGN.md §5, order of events on one day), and a cancellation
            # would leave today's invoice issued but in no schedule, never credited. It is
            # taken tomorrow instead, as received then: its document credits or re-bills what
            # went out today.
            self.s.deferred_amendments.append(amendment)
            self.s.deferred_on = today
            return
        self.s.amendments = [*others, received]
        refused = next((a for a in schedule.attention if a.amendment_id == amendment.id), None)
        if refused is not None:
            self.s.refused_amendments[amendment.id] = f"{refused.reason}: {refused.detail}"
            self._outcome(amendment.id, accepted=False, message=refused.detail)
            return
        self.s.refused_amendments.pop(amendment.id, None)
        treatment = next(
            (a.kind for a in schedule.amendments if a.amendment_id == amendment.id), None
        )
        self._outcome(amendment.id, accepted=True, treatment=treatment)

    def _rewrites_issued(self, schedule: Schedule) -> bool:
        """Whether the schedule drops or changes a document billing has already issued."""
        planned = {d.key: d for d in schedule.documents()}
        for posted in self.s.posted_documents.values():
            doc = planned.get(posted.key)
            if doc is None or (doc.kind, doc.date, doc.total) != (
                posted.kind,
                posted.date,
                posted.total,
            ):
                return True
        return False

    def _outcome(
        self, amendment_id: str, *, accepted: bool, treatment: str | None = None, message: str = ""
    ) -> None:
        """The answer, filed under the id the amendment was asked for by (what `amend` awaits)."""
        requested_as = self.s.amendment_requests.get(amendment_id, amendment_id)
        self.s.amendment_outcomes[requested_as] = AmendmentOutcome(
            amendment_id=amendment_id, accepted=accepted, treatment=treatment, message=message
        )

    def _reread_refused(self) -> None:
        for amendment_id in list(self.s.refused_amendments):
            if amendment_id.startswith("CANCEL-"):
                continue
            self.s.refused_amendments.pop(amendment_id)
            requested_as = self.s.amendment_requests.get(amendment_id, amendment_id)
            self.s.amendment_outcomes.pop(requested_as, None)
            if requested_as not in self.s.pending_amendments:
                self.s.pending_amendments.append(requested_as)

    def _apply_usage(self, pending: PendingUsage) -> None:
        record = UsageRecord(
            id=pending.usage_id,
            line_id=pending.line_id,
            date=pending.date,
            quantity=pending.quantity,
        )
        try:
            self._build(self.s.amendments, [*self.s.usage, record])
        except InputError as exc:
            workflow.logger.warning("usage %s refused: %s", pending.usage_id, exc)
            self.s.last_error = f"usage {pending.usage_id} refused: {exc}"
            return
        self.s.usage.append(record)

    async def _apply_payment(self, notice: PaymentNotice) -> None:
        facts = await self._call(
            ContractActivities.read_payment,
            ReadPayment(invoice_id=notice.invoice_id, payment_id=notice.payment_id),
            system=BILLING,
            summary=f"payment {notice.payment_id} ← billing",
        )
        if facts.amount <= 0 and workflow.patched(CREDIT_SETTLED_PAYMENT):
            workflow.logger.info(
                "invoice %s settled by credit notes: no cash, no journal", notice.invoice_id
            )
            return
        contract = self._contract()
        entry = payment_journal(
            contract.id,
            notice.payment_id,
            facts.paid_on or self._today(),
            facts.amount,
            contract.currency,
        )
        if entry.key not in self.s.posted_journals:
            await self._post_journal(entry)

    # -- posting ---------------------------------------------------------------------------

    async def _post_due(self) -> None:
        while True:
            today = self._today()
            schedule = self._schedule()
            try:
                plan = posting_difference(
                    schedule, self.s.posted_documents, self.s.posted_journals, today
                )
            except PostingConflict as exc:
                await self._park("posting_conflict", str(exc))
                continue
            break
        await self._post_plan(schedule)
        for document in plan.documents:
            await self._issue(document)
        for entry in plan.journals:
            await self._post_journal(entry)
        self.s.processed_through = today
        self._next_due = next_due_date(schedule, today)
        if self.s.deferred_amendments:  # taken tomorrow
            tomorrow = today + timedelta(days=1)
            self._next_due = min(self._next_due or tomorrow, tomorrow)
        self._set_stage(self._steady_stage())
        self._publish()
        written = f"{self.s.stage}:{self.s.attention_reason or ''}"
        if written != self.s.written_status:
            await self._write_back(self.s.stage)

    async def _issue(self, document: BillingDocument) -> None:
        assert self.s.billing_customer_id is not None
        credit_against: list[str] = []
        if document.kind == "credit_note":
            credit_against = [
                p.billing_id
                for p in sorted(
                    self.s.posted_documents.values(),
                    key=lambda p: (p.date, p.key),
                    reverse=True,
                )
                if p.kind == "invoice" and p.source != "usage"
            ]
        issued = await self._call(
            ContractActivities.issue_document,
            IssueDocument(
                key=self._key(document.key),
                customer_id=self.s.billing_customer_id,
                document=document,
                credit_against=credit_against,
            ),
            system=BILLING,
            summary=f"{document.kind.replace('_', ' ')} {document.key} → billing",
        )
        self.s.posted_documents[document.key] = PostedDocument.of(
            document, issued.billing_id, issued.number
        )

    async def _post_journal(self, entry: Any) -> None:
        assert self.s.erp_customer_id is not None
        await self._call(
            ContractActivities.post_journal,
            PostJournal(
                key=self._key(entry.key),
                entry=entry,
                legal_entity=self._contract().legal_entity,
                erp_customer_id=self.s.erp_customer_id,
            ),
            system=ERP,
            summary=f"{entry.key} → erp",
        )
        first_invoice = self._first_invoice_journal(entry)
        self.s.posted_journals[entry.key] = entry
        if first_invoice:
            info = workflow.info()
            metrics.quote_to_bill((workflow.now() - info.workflow_start_time).total_seconds())

    def _first_invoice_journal(self, entry: Any) -> bool:
        """Is `entry` the contract's first invoice journal, posted in the run that booked it?

        Closed-won is when that run started (the closed-won webhook, or `q2c start`); a later
        term or a continued run has no such start, and is not measured.
        """
        if self.s.term != 1 or workflow.info().continued_run_id is not None:
            return False

        def invoice(journal: Any) -> bool:
            document = self.s.posted_documents.get(journal.source_key or "")
            return document is not None and document.kind == "invoice"

        return invoice(entry) and not any(invoice(j) for j in self.s.posted_journals.values())

    async def _post_plan(self, schedule: Schedule) -> str | None:
        """Post the revenue plan to the ERP when it changed (activation, amendments)."""
        plan = revenue_plan(schedule)
        digest = hashlib.sha256(plan.model_dump_json().encode()).hexdigest()
        if digest == self.s.plan_posted_hash:
            return None
        assert self.s.erp_customer_id is not None
        version = self.s.plan_version + 1
        schedule_id = await self._call(
            ContractActivities.post_revenue_plan,
            PostRevenuePlan(
                key=self._key("revenue-schedule"),
                contract_id=schedule.contract.id,
                erp_customer_id=self.s.erp_customer_id,
                legal_entity=schedule.contract.legal_entity,
                start_date=schedule.start_date,
                end_date=schedule.end_date,
                version=version,
                plan=plan,
            ),
            system=ERP,
            summary=f"revenue schedule v{version} → erp",
        )
        self.s.plan_version = version
        self.s.plan_posted_hash = digest
        return schedule_id

    # -- time ------------------------------------------------------------------------------

    def _today(self) -> dt.date:
        return (workflow.now() + timedelta(seconds=self.s.clock_offset_seconds)).date()

    def _workflow_time_of(self, day: dt.date) -> dt.datetime:
        """The workflow-clock instant at which business day `day` begins."""
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        return midnight - timedelta(seconds=self.s.clock_offset_seconds)

    async def _sleep_until_due(self) -> None:
        if self._has_messages():
            return
        if self._next_due is None:
            await workflow.wait_condition(self._has_messages)
            return
        delay = self._workflow_time_of(self._next_due) - workflow.now()
        if delay <= timedelta(0):
            return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                self._has_messages,
                timeout=delay,
                timeout_summary=f"next due {self._next_due}",
            )

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > CONTINUE_AS_NEW_EVENTS
            or (self._outlives_run() and workflow.patched(BEFORE_RUN_TIMEOUT))
        )

    def _outlives_run(self) -> bool:
        """Whether this run's timeout comes before its next due day (a new run has its own).

        A real server sets no run timeout unless the starter asks; the time-skipping test
        server gives every run at most 10 years. A run a day old or less never continues for
        this, so a due day more than a run timeout away cannot loop.
        """
        info = workflow.info()
        if info.run_timeout is None or self._next_due is None:
            return False
        if workflow.now() - info.workflow_start_time <= RUN_TIMEOUT_MARGIN:
            return False
        ends = info.workflow_start_time + info.run_timeout - RUN_TIMEOUT_MARGIN
        return self._workflow_time_of(self._next_due) >= ends

    def _continuation(self, state: ContractState) -> ContractInput:
        return ContractInput(
            opportunity_id=state.opportunity_id,
            clock_offset_seconds=state.clock_offset_seconds,
            transient_window_seconds=state.transient_window_seconds,
            search_attributes=state.search_attributes,
            state=state,
        )

    # -- end of term -----------------------------------------------------------------------

    async def _end_of_term(self) -> ContractOutcome:
        schedule = self._schedule()
        booking = self.s.booking
        assert booking is not None
        if schedule.cancellation is not None:
            final: Stage = "Cancelled"
        else:
            renewal = renewal_contract(schedule) if booking.auto_renew else None
            if renewal is not None:
                self._set_stage("Renewing")
                await workflow.wait_condition(workflow.all_handlers_finished)
                nxt = ContractState(
                    opportunity_id=self.s.opportunity_id,
                    term=self.s.term + 1,
                    clock_offset_seconds=self.s.clock_offset_seconds,
                    transient_window_seconds=self.s.transient_window_seconds,
                    search_attributes=self.s.search_attributes,
                    booking=booking.model_copy(update={"contract": renewal}),
                    billing_customer_id=self.s.billing_customer_id,
                    erp_customer_id=self.s.erp_customer_id,
                    activated=True,
                    stage="Active",
                    pending_amendments=list(self.s.pending_amendments),
                    pending_usage=list(self.s.pending_usage),
                    pending_payments=list(self.s.pending_payments),
                    pending_cancels=list(self.s.pending_cancels),
                    seen_messages=list(self.s.seen_messages),
                    # A message seen before is not taken again, so its answer must come along:
                    # else `amend` for an amendment of an earlier term would wait forever.
                    amendment_requests=dict(self.s.amendment_requests),
                    amendment_outcomes=dict(self.s.amendment_outcomes),
                )
                workflow.continue_as_new(self._continuation(nxt))
            final = "Expired"
        self._set_stage(final)
        await self._write_back(final)
        if workflow.patched(PAYMENTS_AT_THE_END):
            # Signals that came during the write: payments are money received (their journal
            # is owed); anything else is for a contract that has ended.
            while self.s.pending_payments:
                await self._apply_payment(self.s.pending_payments[0])
                self.s.pending_payments.pop(0)
        self.s.finished = True
        return ContractOutcome(
            contract_id=self.s.opportunity_id, final_stage=final, terms_served=self.s.term
        )

    # -- activities, parking ---------------------------------------------------------------

    async def _call(
        self,
        activity: Callable[[Any, Any], Awaitable[T]],
        arg: Any,
        *,
        system: str,
        summary: str,
        answer_codes: frozenset[str] = frozenset(),
    ) -> T:
        """Run an activity; a business error or an outage past the window parks the contract.

        A business error whose code is in `answer_codes` is raised instead, for the caller to
        answer (an unreadable amendment is refused, the contract goes on).
        """
        while True:
            try:
                return await workflow.execute_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    schedule_to_close_timeout=timedelta(seconds=self.s.transient_window_seconds),
                    retry_policy=RetryPolicy(
                        initial_interval=timedelta(seconds=1),
                        backoff_coefficient=2.0,
                        maximum_interval=timedelta(minutes=5),
                    ),
                    summary=summary,
                )
            except ActivityError as err:
                if self._code(err) in answer_codes:
                    raise
                document = getattr(arg, "document", None)
                metrics.posting_parked(
                    getattr(activity, "__name__", ""), getattr(document, "kind", None)
                )
                reason, detail = self._classify(err, system)
                salesforce_failed = reason == f"{SALESFORCE}_unavailable" or (
                    system == SALESFORCE
                    and (
                        activity is ContractActivities.write_back
                        or reason not in SALESFORCE_DATA_REASONS
                    )
                )
                await self._park(
                    reason, f"{summary}: {detail}", salesforce_failed=salesforce_failed
                )

    @staticmethod
    def _code(err: ActivityError) -> str | None:
        """The vendor's error code of a business error (None for anything else)."""
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.non_retryable and cause.details:
            info = cause.details[0]
            if isinstance(info, dict) and isinstance(info.get("code"), str):
                return str(info["code"])
        return None

    @staticmethod
    def _classify(err: ActivityError, system: str) -> tuple[str, str]:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            info = cause.details[0] if cause.details else {}
            reason = info.get("reason") if isinstance(info, dict) else None
            return reason or "business_error", cause.message
        if isinstance(cause, TemporalTimeout):
            return f"{system}_unavailable", f"{system} did not answer within the retry window"
        message = str(cause) if cause is not None else str(err)
        return f"{system}_unavailable", message

    async def _park(self, reason: str, detail: str, *, salesforce_failed: bool = False) -> None:
        """NeedsAttention until an operator's `retry`; the interrupted step then runs again.

        The opportunity shows `NeedsAttention` and the reason meanwhile (patch
        park-writes-salesforce), unless Salesforce is the system that failed.
        """
        previous = self.s.stage if self.s.stage != "NeedsAttention" else "Active"
        self.s.attention_reason = reason
        self.s.attention_detail = detail
        self.s.last_error = detail
        self._set_stage("NeedsAttention")
        workflow.logger.warning("contract parked: %s: %s", reason, detail)
        self._retry_requested = False
        if not salesforce_failed and workflow.patched(PARK_WRITES_SALESFORCE):
            await self._write_parked(reason)
        await workflow.wait_condition(lambda: self._retry_requested)
        self._retry_requested = False
        self.s.attention_reason = None
        self.s.attention_detail = None
        self._set_stage(previous)

    async def _write_parked(self, reason: str) -> None:
        """`NeedsAttention` and the reason onto the opportunity: a few tries, then only a log.

        Not through `_call`: a failed write must not park the parked contract again. What is
        recorded as written is the parked status either way, so the steady state after `retry`
        differs from it and `_post_due` writes the contract's status again.
        """
        status: Stage = "NeedsAttention"
        self.s.written_status = f"{status}:{reason}"
        try:
            await workflow.execute_activity_method(
                ContractActivities.write_back,
                WriteBack(
                    opportunity_id=self.s.opportunity_id,
                    status=status,
                    attention_reason=reason,
                    workflow_id=workflow.info().workflow_id,
                    billing_customer_id=self.s.billing_customer_id,
                    erp_customer_id=self.s.erp_customer_id,
                ),
                start_to_close_timeout=PARK_WRITE_TIMEOUT,
                schedule_to_close_timeout=PARK_WRITE_WINDOW,
                retry_policy=PARK_WRITE_RETRY,
                summary=f"status {status} ({reason}) → salesforce",
            )
        except ActivityError as err:
            cause = err.cause if err.cause is not None else err
            workflow.logger.warning(
                "parked status not written to salesforce (still parked): %s", cause
            )

    async def _write_back(self, status: str, *, revenue_schedule_id: str | None = None) -> None:
        """Status (and ids) onto the opportunity, where sales and finance look."""
        self.s.written_status = f"{status}:{self.s.attention_reason or ''}"
        await self._call(
            ContractActivities.write_back,
            WriteBack(
                opportunity_id=self.s.opportunity_id,
                status=status,
                attention_reason=self.s.attention_reason,
                workflow_id=workflow.info().workflow_id,
                billing_customer_id=self.s.billing_customer_id,
                erp_customer_id=self.s.erp_customer_id,
                erp_revenue_schedule_id=revenue_schedule_id,
            ),
            system=SALESFORCE,
            summary=f"status {status} → salesforce",
        )

    # -- state, schedule, visibility -------------------------------------------------------

    def _contract(self) -> Any:
        assert self.s.booking is not None
        return self.s.booking.contract

    def _key(self, suffix: str) -> str:
        term = "" if self.s.term == 1 else f"term-{self.s.term}:"
        return f"{workflow_id_for(self.s.opportunity_id)}:{term}{suffix}"

    def _build(self, amendments: list[Amendment], usage: list[UsageRecord]) -> Schedule:
        return build_schedule(self._contract(), amendments, usage)

    def _schedule(self) -> Schedule:
        """The schedule of what is known now (cached until amendments or usage change)."""
        fingerprint = f"{len(self.s.amendments)}:{len(self.s.usage)}:" + ",".join(
            f"{a.id}@{a.received_on}" for a in self.s.amendments
        )
        if self._schedule_cache is None or self._schedule_cache[0] != fingerprint:
            self._schedule_cache = (fingerprint, self._build(self.s.amendments, self.s.usage))
        return self._schedule_cache[1]

    def _steady_stage(self) -> Stage:
        """Active, Cancelled or Expired by the schedule; NeedsAttention for a refused amendment."""
        if self.s.booking is None:
            return self.s.stage
        today = self._today()
        for amendment_id, reason in self.s.refused_amendments.items():
            amendment = next((a for a in self.s.amendments if a.id == amendment_id), None)
            if amendment is None or amendment.effective_date <= today:
                self.s.attention_reason = reason.split(":", 1)[0]
                self.s.attention_detail = f"amendment {amendment_id}: {reason}"
                return "NeedsAttention"
        # No refusal in force: clear its reason whatever stage we pass through (a re-read
        # amendment goes NeedsAttention → Amending → Active). Parking clears its own on retry.
        self.s.attention_reason = None
        self.s.attention_detail = None
        status, _ = self._schedule().status(today)
        if status == "NeedsAttention":  # refused by the schedule but not yet effective above
            return "Active"
        return status

    def _set_stage(self, stage: Stage) -> None:
        self.s.stage = stage
        self._upsert({sa.CONTRACT_STAGE: stage, sa.ATTENTION_REASON: self.s.attention_reason})
        self._describe()

    def _publish(self) -> None:
        """Search attributes that change with time: next billing date and ARR."""
        if self.s.booking is None:
            return
        today = self._today()
        schedule = self._schedule()
        upcoming = [d.date for d in schedule.documents() if d.date > today and d.source == "period"]
        nxt = min(upcoming) if upcoming else None
        self._upsert(
            {
                sa.NEXT_BILLING_DATE: (
                    dt.datetime.combine(nxt, dt.time(), tzinfo=dt.UTC) if nxt else None
                ),
                sa.ARR: float(annual_recurring_revenue(schedule, today)),
            }
        )
        self._describe()

    def _upsert(self, values: dict[SearchAttributeKey[Any], Any]) -> None:
        if not self.s.search_attributes:
            return
        updates: list[SearchAttributeUpdate[Any]] = []
        for key, value in values.items():
            if self._search_cache.get(key.name, ...) == value:
                continue
            self._search_cache[key.name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)

    def _describe(self) -> None:
        """The Web UI's current details: what the contract is doing and, if stuck, the fix."""
        s = self.s
        lines = [f"**{s.stage}** · term {s.term} · business date {self._today()}"]
        if s.booking is not None:
            c = s.booking.contract
            lines.append(
                f"{c.customer.name} · {c.currency} · {c.start_date} → {c.end_date} · "
                f"{c.billing_frequency}"
            )
        if self._next_due is not None:
            lines.append(f"next due: {self._next_due}")
        lines.append(
            f"posted: {len(s.posted_documents)} documents, {len(s.posted_journals)} journals"
        )
        if s.attention_reason:
            lines.append(f"**needs attention: {s.attention_reason}** — {s.attention_detail}")
            fix = FIXES.get(s.attention_reason)
            if fix is None and s.attention_reason.endswith("_unavailable"):
                fix = "check the system's status, then `q2c retry`"
            lines.append(f"how to fix: {fix or 'see the error, then `q2c retry`'}")
        elif s.last_error:
            lines.append(f"last error: {s.last_error}")
        workflow.set_current_details("\n\n".join(lines))
        metrics.amendment_backlog(self._metrics_token, len(s.pending_amendments))
