"""The §6 report of a contract, read back from the systems of record, not recomputed.

Documents come from the billing platform (invoices and credit notes of the contract, with the
business date and service period q2c stored on them); the transaction price, the obligations
and the revenue by month come from the revenue schedule q2c posted to the ERP, which also says
what is recognized through any day; the status is what q2c wrote back to Salesforce.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from adapters.billing import BillingAdapter
from adapters.billing.records import BillingCreditNote, BillingInvoice
from adapters.erp import ErpClient, external_id_for
from adapters.salesforce import SalesforceClient
from domain.documents import whole_key
from domain.money import format_minor, to_minor
from domain.report import Report, ReportDocument, ReportObligation
from domain.revenue_plan import RevenuePlan

# Same-day order of documents (DESIGN.md §5): usage, amendments, the period invoice.
_RANK = {"usage": 0, "amendment": 1, "period": 2, "one_time": 3}


@dataclass(frozen=True, slots=True)
class BilledDocument:
    """An invoice or credit note as the billing platform holds it (a credit's total positive).

    `document_key` is q2c's key of the document (`invoice:2026-03-15`, `amendment:AMD-1`...),
    `key` the idempotency key it was created with.
    """

    kind: Literal["invoice", "credit_note"]
    date: dt.date
    period_start: dt.date
    period_end: dt.date
    total: Decimal
    source: str
    key: str
    document_key: str | None

    @property
    def order(self) -> tuple[dt.date, int, str]:
        return (self.date, _RANK.get(self.source, 9), self.key)


def _invoice_doc(invoice: BillingInvoice) -> BilledDocument:
    date = invoice.document_date or invoice.created.date()
    return BilledDocument(
        kind="invoice",
        date=date,
        period_start=invoice.period_start or date,
        period_end=invoice.period_end or date,
        total=invoice.total,
        source=invoice.metadata.get("q2c_source", "period"),
        key=invoice.key or invoice.id,
        document_key=invoice.metadata.get("q2c_document"),
    )


def _credit_doc(note: BillingCreditNote) -> BilledDocument:
    date = note.document_date or note.created.date()
    meta = note.metadata
    return BilledDocument(
        kind="credit_note",
        date=date,
        period_start=(
            dt.date.fromisoformat(meta["q2c_period_start"]) if "q2c_period_start" in meta else date
        ),
        period_end=(
            dt.date.fromisoformat(meta["q2c_period_end"]) if "q2c_period_end" in meta else date
        ),
        total=note.total,
        source=meta.get("q2c_source", "amendment"),
        key=whole_key(note.key) if note.key else note.id,
        document_key=meta.get("q2c_document"),
    )


def _whole(parts: list[BilledDocument]) -> BilledDocument:
    """One credit note of the contract from its parts on several invoices (`_credit`)."""
    return replace(parts[0], total=sum((p.total for p in parts), Decimal(0)))


async def billing_documents(billing: BillingAdapter, contract_id: str) -> list[BilledDocument]:
    """The contract's invoices and credit notes that are not void, in report order; a credit
    note split over several invoices is one document."""
    invoices = await billing.list_invoices_for(contract_id=contract_id)
    docs = [_invoice_doc(i) for i in invoices if i.status != "void"]
    credits: dict[str, list[BilledDocument]] = {}
    for invoice in invoices:
        for note in await billing.list_credit_notes(invoice.id):
            if note.status != "void":
                doc = _credit_doc(note)
                credits.setdefault(doc.key, []).append(doc)
    docs += [_whole(parts) for parts in credits.values()]
    return sorted(docs, key=lambda d: d.order)


async def revenue_plan_of(erp: ErpClient, workflow_id: str, term_prefix: str = "") -> RevenuePlan:
    record = await erp.get_revenue_schedule(
        external_id_for(f"{workflow_id}:{term_prefix}revenue-schedule")
    )
    return RevenuePlan.model_validate_json(record.schedule or "{}")


async def report_from_systems(
    *,
    workflow_id: str,
    opportunity_id: str,
    contract_id: str,
    as_of: dt.date,
    billing: BillingAdapter,
    erp: ErpClient,
    salesforce: SalesforceClient,
) -> Report:
    plan = await revenue_plan_of(erp, workflow_id)
    exponent = plan.exponent

    def text(amount: Decimal) -> str:
        return format_minor(to_minor(amount, exponent), exponent)

    listed: list[ReportDocument] = []
    billed = Decimal(0)
    n_inv = n_cn = 0
    for doc in await billing_documents(billing, contract_id):
        if doc.kind == "invoice":
            n_inv += 1
            number = f"INV-{n_inv:04d}"
        else:
            n_cn += 1
            number = f"CN-{n_cn:04d}"
        if doc.date > as_of:
            continue
        billed += doc.total if doc.kind == "invoice" else -doc.total
        listed.append(
            ReportDocument(
                number=number,
                kind=doc.kind,
                date=doc.date,
                period_start=doc.period_start,
                period_end=doc.period_end,
                total=text(doc.total),
            )
        )
    recognized = plan.recognized_through(as_of)
    opportunity = await salesforce.get("Opportunity", opportunity_id)
    status = str(opportunity.get("Q2C_Status__c") or "Active")
    reason = opportunity.get("Q2C_Attention_Reason__c") or None
    return Report(
        contract_id=contract_id,
        currency=plan.currency,
        as_of=as_of,
        transaction_price=text(plan.transaction_price),
        obligations=[
            ReportObligation(
                line_id=o.obligation_id, allocated=text(o.allocated), treatment=o.treatment
            )
            for o in plan.obligations
        ],
        invoices=listed,
        revenue_by_month={k: text(v) for k, v in plan.revenue_by_month.items()},
        billed_to_date=text(billed),
        recognized_to_date=text(recognized),
        deferred_revenue=text(billed - recognized),
        status=status,
        attention_reason=str(reason) if reason else None,
    )
