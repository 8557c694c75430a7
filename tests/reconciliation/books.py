"""Books that agree by construction: what a contract that processes every day posts by a date,
as the billing platform and the ERP would hold it (for the pure reconciliation tests)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from domain.documents import BillingDocument, JournalEntry
from domain.models import Scenario
from domain.posting import posting_difference
from domain.reconciliation import BilledRecord, ErpEntry, ErpLine, ReconciliationBasis
from domain.schedule import Schedule, build_schedule

WORKFLOW = "contract-OPP"


@dataclass
class Books:
    basis: ReconciliationBasis
    schedule: Schedule
    docs: list[BilledRecord] = field(default_factory=list)
    entries: list[ErpEntry] = field(default_factory=list)


def posted_by(
    schedule: Schedule, as_of: dt.date
) -> tuple[list[BillingDocument], list[JournalEntry]]:
    docs: dict[str, BillingDocument] = {}
    journals: dict[str, JournalEntry] = {}
    day = schedule.start_date
    while day <= as_of:
        plan = posting_difference(schedule, docs, journals, day)
        docs.update({d.key: d for d in plan.documents})
        journals.update({j.key: j for j in plan.journals})
        day += dt.timedelta(days=1)
    return list(docs.values()), list(journals.values())


def books_of(scenario: Scenario, as_of: dt.date | None = None) -> Books:
    as_of = as_of or scenario.as_of
    amendments = [a.model_copy(update={"received_on": a.received}) for a in scenario.amendments]
    schedule = build_schedule(scenario.contract, amendments, scenario.usage)
    documents, journals = posted_by(schedule, as_of)
    basis = ReconciliationBasis(
        workflow_id=WORKFLOW,
        opportunity_id="OPP",
        stage="Active",
        business_date=as_of,
        processed_through=as_of,
        contract=scenario.contract,
        amendments=amendments,
        usage=scenario.usage,
    )
    docs = [
        BilledRecord(
            id=f"{'in' if d.kind == 'invoice' else 'cn'}_{n}",
            kind=d.kind,
            status="open" if d.kind == "invoice" else "issued",
            date=d.date,
            total=d.total,
            key=f"{WORKFLOW}:{d.key}",
        )
        for n, d in enumerate(documents, start=1)
    ]
    entries = [
        ErpEntry(
            id=str(n),
            key=f"{WORKFLOW}:{j.key}",
            date=j.date,
            lines=[ErpLine(account=x.account, debit=x.debit, credit=x.credit) for x in j.lines],
        )
        for n, j in enumerate(journals, start=100)
    ]
    return Books(basis=basis, schedule=schedule, docs=docs, entries=entries)
