"""The contract activities: thin and idempotent (DESIGN.md §4).

Each effect: build the key (the workflow does), look it up in the ledger (a recorded effect is
returned as it was; the same key with another request is refused), call the adapter with the
key (which finds an earlier effect in the outside system before creating anything), record the
effect. Adapter errors become Temporal errors: transient ones are retried with the server's
hint, business ones are non-retryable and carry the reason the workflow parks with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.booking import amendment_from_salesforce, booking_from_salesforce
from activities.contract_io import (
    Booking,
    EnsureCustomer,
    IssuedDocument,
    IssueDocument,
    PaymentFacts,
    PostJournal,
    PostRevenuePlan,
    ReadAmendment,
    ReadBooking,
    ReadPayment,
    WriteBack,
)
from adapters.billing import BillingAdapter, stored_key
from adapters.billing.records import BillingCreditNote, BillingInvoice, InvoiceLine
from adapters.erp import ErpClient, external_id_for
from adapters.erp import JournalLine as ErpJournalLine
from adapters.errors import (
    AdapterError,
    BusinessError,
    IdempotencyConflictError,
    MappingError,
    NotFoundError,
    TransientError,
)
from adapters.ledger import Ledger, request_hash
from adapters.observability import metrics
from adapters.salesforce import ExternalIds, SalesforceClient
from domain.documents import Account, credit_part_key, split_credit
from domain.errors import InputError
from domain.models import Amendment

M = TypeVar("M", bound=BaseModel)

BILLING, ERP, SALESFORCE = "billing", "erp", "salesforce"
# What `_once` counts as postings (q2c_invoice_postings, q2c_journal_postings).
POSTING_KINDS = frozenset({"invoice", "credit_note", "journal"})
log = logging.getLogger("q2c.activities")

# The chart of accounts q2c posts to, by account number (external id in the ERP).
ERP_ACCOUNTS: dict[Account, str] = {
    Account.CASH: "1000",
    Account.ACCOUNTS_RECEIVABLE: "1100",
    Account.DEFERRED_REVENUE: "2400",
    Account.REVENUE: "4000",
}

# Business errors, by the reason the contract parks with.
_REASONS: list[tuple[type[AdapterError], str]] = [
    (MappingError, "missing_product_mapping"),
    (IdempotencyConflictError, "idempotency_conflict"),
    (NotFoundError, "record_not_found"),
]


_CODES = {"INVALID_BOOKING": "invalid_booking", "INVALID_AMENDMENT": "invalid_amendment"}


def _reason(exc: BusinessError) -> str:
    if exc.code in _CODES:
        return _CODES[exc.code]
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return f"{exc.system}_rejected"


@contextlib.contextmanager
def vendor_errors() -> Iterator[None]:
    """Adapter errors as Temporal errors: business → non-retryable with a reason."""
    try:
        yield
    except BusinessError as exc:
        raise ApplicationError(
            str(exc),
            {"reason": _reason(exc), "system": exc.system, "code": exc.code},
            type=type(exc).__name__,
            non_retryable=True,
        ) from exc
    except TransientError as exc:
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        raise ApplicationError(str(exc), type="TransientError", next_retry_delay=delay) from exc
    except InputError as exc:
        raise ApplicationError(
            str(exc), {"reason": "invalid_booking"}, type="InputError", non_retryable=True
        ) from exc


def customer_key(account_id: str) -> str:
    """Customers belong to the account, not the contract: two contracts share one."""
    return f"account-{account_id}:customer"


class ContractActivities:
    """The activities of ContractWorkflow, around one worker's adapters and ledger."""

    def __init__(
        self,
        ledger: Ledger,
        salesforce: SalesforceClient,
        billing: BillingAdapter,
        erp: ErpClient,
    ) -> None:
        self.ledger = ledger
        self.salesforce = salesforce
        self.billing = billing
        self.erp = erp

    async def _once(
        self,
        key: str,
        request: Any,
        *,
        system: str,
        kind: str,
        contract_id: str,
        effect: Callable[[], Awaitable[M]],
        result: type[M],
    ) -> M:
        """The effect of `key`: from the ledger if recorded, else made (carrying the key).

        Postings (documents, journals) are counted by outcome on the worker's metrics.
        """
        digest = request_hash(request)
        posting = kind in POSTING_KINDS
        try:
            with vendor_errors():
                recorded = await asyncio.to_thread(self.ledger.lookup, key)
                if recorded is not None:
                    if recorded.request_hash != digest:
                        raise IdempotencyConflictError(
                            "ledger", f"key {key!r} was used for another request"
                        )
                    if posting:
                        metrics.record_posting(kind, metrics.DUPLICATE)
                        log.info("%s %s: already in the ledger, returned as recorded", kind, key)
                    return result.model_validate(recorded.response)
                made = await effect()
                record = await asyncio.to_thread(
                    self.ledger.record,
                    key,
                    digest,
                    made.model_dump(mode="json"),
                    system,
                    kind,
                    contract_id,
                )
        except Exception as exc:
            if posting:
                failed = isinstance(exc, ApplicationError) and exc.non_retryable
                metrics.record_posting(kind, metrics.FAILED if failed else metrics.RETRYING)
            raise
        if posting:
            metrics.record_posting(kind, metrics.POSTED)
            log.info("%s %s posted to %s", kind, key, system)
        return result.model_validate(record.response)

    async def _customer_once(
        self, request: EnsureCustomer, system: str, effect: Callable[[], Awaitable[_Id]]
    ) -> str:
        """A customer per account and system, whichever contract of the account asks first."""
        made = await self._once(
            f"{customer_key(request.account_id)}:{system}",
            {"account_id": request.account_id, "name": request.name},
            system=system,
            kind="customer",
            contract_id=request.contract_id,
            effect=effect,
            result=_Id,
        )
        return made.id

    # -- Salesforce ------------------------------------------------------------------------

    @activity.defn(name="read_booking")
    async def read_booking(self, request: ReadBooking) -> Booking:
        with vendor_errors():
            booking = await self.salesforce.get_opportunity_booking(request.opportunity_id)
            booking.require_mappings()
            return booking_from_salesforce(booking)

    @activity.defn(name="read_amendment")
    async def read_amendment(self, request: ReadAmendment) -> Amendment:
        with vendor_errors():
            amendment = await self.salesforce.get_amendment(request.amendment_id)
            if amendment.opportunity_id != request.opportunity_id:
                raise BusinessError(
                    SALESFORCE,
                    f"amendment {request.amendment_id} belongs to "
                    f"{amendment.opportunity_id}, not {request.opportunity_id}",
                    code="WRONG_CONTRACT",
                )
            return amendment_from_salesforce(amendment)

    @activity.defn(name="write_back")
    async def write_back(self, request: WriteBack) -> None:
        """Status and ids onto the opportunity; the same PATCH twice changes nothing."""
        with vendor_errors():
            await self.salesforce.write_back_status(
                request.opportunity_id,
                request.status,
                ExternalIds(
                    workflow_id=request.workflow_id,
                    billing_customer_id=request.billing_customer_id,
                    erp_customer_id=request.erp_customer_id,
                    erp_revenue_schedule_id=request.erp_revenue_schedule_id,
                ),
                attention_reason=request.attention_reason,
            )

    # -- billing ---------------------------------------------------------------------------

    @activity.defn(name="ensure_billing_customer")
    async def ensure_billing_customer(self, request: EnsureCustomer) -> str:
        key = customer_key(request.account_id)

        async def effect() -> _Id:
            customer = await self.billing.ensure_customer(
                key=key,
                account_id=request.account_id,
                name=request.name,
                currency=request.currency,
            )
            return _Id(id=customer.id)

        return await self._customer_once(request, BILLING, effect)

    @activity.defn(name="issue_document")
    async def issue_document(self, request: IssueDocument) -> IssuedDocument:
        doc = request.document

        async def effect() -> IssuedDocument:
            if doc.kind == "invoice":
                invoice = await self.billing.create_invoice(
                    key=request.key,
                    customer_id=request.customer_id,
                    currency=doc.currency,
                    lines=[
                        InvoiceLine(
                            description=line.description,
                            amount=line.amount,
                            period_start=line.period_start,
                            period_end=line.period_end,
                            line_id=line.line_id,
                            metadata={"q2c_obligation": line.obligation_id or ""},
                        )
                        for line in doc.lines
                    ],
                    document_date=doc.date,
                    period_start=doc.period_start,
                    period_end=doc.period_end,
                    contract_id=doc.contract_id,
                    description=f"{doc.contract_id} {doc.key}",
                    metadata={"q2c_source": doc.source, "q2c_document": doc.key},
                )
                return IssuedDocument(billing_id=invoice.id, number=invoice.number)
            return await self._credit(request)

        return await self._once(
            request.key,
            {"customer": request.customer_id, "document": doc},
            system=BILLING,
            kind=doc.kind,
            contract_id=doc.contract_id,
            effect=effect,
            result=IssuedDocument,
        )

    async def _credit(self, request: IssueDocument) -> IssuedDocument:
        """A credit note against the invoices offered (the latest first), split over several
        when one cannot carry it whole: each part a billing credit note keyed
        `credit_part_key(key, n)`, at most what its invoice can still be credited.

        Parts made before (a retry after a crash or a commit-then-fail) are found among the
        customer's credit notes and counted; only what is still missing is placed, on invoices
        holding no part yet. The whole is refused before any part is made when the invoices
        cannot hold it.
        """
        doc = request.document
        wanted = {
            stored_key(credit_part_key(request.key, n)): n
            for n in range(1, len(request.credit_against) + 1)
        }
        offered = set(request.credit_against)
        # Two lists of the customer's (each one call a page) rather than two calls an invoice:
        # under a flaky vendor an attempt that makes fewer calls fails less often.
        made: dict[int, BillingCreditNote] = {}
        for note in await self.billing.list_customer_credit_notes(request.customer_id):
            if note.key in wanted and note.invoice_id in offered:
                made[wanted[note.key]] = note
        holding = {note.invoice_id for note in made.values()}
        listed = {
            invoice.id: invoice
            for invoice in await self.billing.list_invoices_for(customer_id=request.customer_id)
        }
        free: list[BillingInvoice] = []
        for invoice_id in request.credit_against:
            if invoice_id not in holding:
                invoice = listed.get(invoice_id) or await self.billing.get_invoice(invoice_id)
                free.append(invoice)
        left = doc.total - sum((note.total for note in made.values()), Decimal(0))
        if left < 0:
            raise BusinessError(
                BILLING,
                f"credit note {doc.key}: billing holds {doc.total - left} {doc.currency} of it "
                f"already, more than its {doc.total}",
                code="credit_note_conflict",
            )
        if left > 0:
            free = [i for i in free if i.status in ("open", "paid")]
            try:
                amounts = split_credit(left, [i.total - i.credited for i in free])
            except ValueError as exc:
                raise BusinessError(
                    BILLING,
                    f"credit note {doc.key} of {doc.total} {doc.currency}: {exc} "
                    "(open and paid invoices of the contract)",
                    code="credit_exceeds_invoice",
                ) from None
            part = max(made, default=0)
            for invoice, amount in zip(free, amounts, strict=True):
                if amount <= 0:
                    continue
                part += 1
                made[part] = await self.billing.create_credit_note(
                    key=credit_part_key(request.key, part),
                    invoice_id=invoice.id,
                    amount=amount,
                    document_date=doc.date,
                    contract_id=doc.contract_id,
                    period_start=doc.period_start,
                    period_end=doc.period_end,
                    metadata={
                        "q2c_source": doc.source,
                        "q2c_document": doc.key,
                        "q2c_part": str(part),
                    },
                    memo=f"{doc.contract_id} {doc.key}"
                    + (f" (part {part})" if part > 1 else "")
                    + ": "
                    + "; ".join(line.description for line in doc.lines),
                )
        first = made[min(made)]
        return IssuedDocument(billing_id=first.id, number=first.number)

    @activity.defn(name="read_payment")
    async def read_payment(self, request: ReadPayment) -> PaymentFacts:
        with vendor_errors():
            invoice = await self.billing.get_invoice(request.invoice_id)
        if invoice.status != "paid":
            raise ApplicationError(
                f"invoice {invoice.id} is {invoice.status}, not paid",
                {"reason": "payment_not_found", "system": BILLING},
                non_retryable=True,
            )
        # Paid with amount_paid 0: settled by credit notes alone (billing marks such an invoice
        # paid and sends invoice.paid, as Stripe does). No cash moved: the amount is 0 and the
        # workflow posts no journal.
        return PaymentFacts(
            invoice_id=invoice.id,
            amount=invoice.amount_paid,
            currency=invoice.currency,
            paid_on=invoice.paid_at.date() if invoice.paid_at else None,
        )

    # -- ERP -------------------------------------------------------------------------------

    @activity.defn(name="ensure_erp_customer")
    async def ensure_erp_customer(self, request: EnsureCustomer) -> str:
        external_id = external_id_for(customer_key(request.account_id))

        async def effect() -> _Id:
            ref = await self.erp.ensure_customer(
                external_id,
                request.name,
                subsidiary=request.legal_entity or None,
                currency=request.currency,
            )
            return _Id(id=ref.external_id or external_id)

        return await self._customer_once(request, ERP, effect)

    @activity.defn(name="post_journal")
    async def post_journal(self, request: PostJournal) -> str:
        entry = request.entry
        lines = [
            ErpJournalLine(
                account=ERP_ACCOUNTS[line.account],
                debit=line.debit,
                credit=line.credit,
                memo=line.memo or entry.memo,
                entity=request.erp_customer_id
                if line.account == Account.ACCOUNTS_RECEIVABLE
                else None,
            )
            for line in entry.lines
        ]

        async def effect() -> _Id:
            posted = await self.erp.post_journal_entry_id(  # the id is all that is recorded
                external_id_for(request.key),
                entry.date,
                request.legal_entity,
                entry.currency,
                lines,
                entry.memo,
                contract_id=entry.contract_id,
                idempotency_key=request.key,
            )
            return _Id(id=posted)

        made = await self._once(
            request.key,
            {"entry": entry, "legal_entity": request.legal_entity},
            system=ERP,
            kind="journal",
            contract_id=entry.contract_id,
            effect=effect,
            result=_Id,
        )
        return made.id

    @activity.defn(name="post_revenue_plan")
    async def post_revenue_plan(self, request: PostRevenuePlan) -> str:
        """Upsert the living revenue schedule (replaced as amendments land, versioned)."""
        plan = request.plan
        with vendor_errors():
            ref = await self.erp.post_revenue_schedule(
                external_id_for(request.key),
                request.contract_id,
                name=f"Revenue schedule {request.contract_id}",
                schedule=plan,
                version=request.version,
                customer=request.erp_customer_id,
                subsidiary=request.legal_entity or None,
                currency=plan.currency,
                total=plan.transaction_price,
                start_date=request.start_date,
                end_date=request.end_date,
            )
        await asyncio.to_thread(
            self.ledger.audit,
            request.contract_id,
            "revenue_schedule_posted",
            {"version": request.version, "transaction_price": str(plan.transaction_price)},
        )
        return ref.id

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.read_booking,
            self.read_amendment,
            self.write_back,
            self.ensure_billing_customer,
            self.issue_document,
            self.read_payment,
            self.ensure_erp_customer,
            self.post_journal,
            self.post_revenue_plan,
        ]


class _Id(BaseModel):
    id: str
