"""Every shared scenario through the real ContractWorkflow, checked against the domain engine.

`q2c simulate` must print the scenario's `.report.json` (invoice numbers aside), and what the
workflow left in the systems must be exactly what the domain engine says should be there by
`as_of`: every billing document one domain document and vice versa, every ERP journal entry
one journal of the posting rules and vice versa, each balanced, none twice. The expected
postings come from replaying `posting_difference` day by day from the start date (how a
contract that wakes every day would post), so a missed wake-up, a journal dated the wrong day,
a document posted twice or lost, all fail here; the ERP totals are also reconciled with the
schedule directly (AR = billed, revenue by closed month = the schedule's months), and q2c's own
three-way reconciliation of the contract must find no difference (no false alarm).

All eight scenarios share one time-skipping server of this module (each run skips months of
server time, which other modules' workflows in a shared server should not see).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.billing import BillingAdapter
from adapters.erp import ErpClient
from adapters.erp import JournalEntry as ErpJournalEntry
from adapters.http import make_http_client
from domain.documents import Account, BillingDocument, JournalEntry
from domain.inputs import load_scenario
from domain.posting import posting_difference
from domain.schedule import Schedule, build_schedule
from starter.binaries import temporal_test_server
from starter.readback import BilledDocument, billing_documents
from starter.simulate import Simulation, quiet_runtime, simulation
from tests.conftest import SCENARIOS
from tests.reconciliation.checks import assert_reconciles_clean

# The sandbox ERP's chart of accounts, by the name its journal lines refer to.
ACCOUNT_NAMES = {
    Account.CASH: "Cash",
    Account.ACCOUNTS_RECEIVABLE: "Accounts Receivable",
    Account.DEFERRED_REVENUE: "Deferred Revenue",
    Account.REVENUE: "Revenue",
}
REVENUE_PREFIX = "journal:revenue:"

JournalShape = tuple[str, dt.date, tuple[tuple[str, Decimal, Decimal], ...]]
DocShape = tuple[str, str, dt.date, dt.date, dt.date, Decimal]


def scenario_files() -> list[Path]:
    assert SCENARIOS.is_dir(), f"shared scenarios not found at {SCENARIOS}"
    files = sorted(p for p in SCENARIOS.glob("*.json") if not p.name.endswith(".report.json"))
    assert files, f"no scenarios in {SCENARIOS}"
    return files


def read_scenario(path: Path) -> tuple[str, dict[str, Any]]:
    """A scenario's text and its expected report."""
    expected = json.loads(path.with_name(f"{path.stem}.report.json").read_text(encoding="utf-8"))
    return path.read_text(encoding="utf-8"), expected


def without_numbers(report: dict[str, Any]) -> dict[str, Any]:
    """Invoice numbers are labels (scenarios/README.md); everything else must match."""
    out = dict(report)
    out["invoices"] = [{k: v for k, v in d.items() if k != "number"} for d in out["invoices"]]
    return out


@pytest.fixture(scope="module")
async def simulate_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()),
        data_converter=pydantic_data_converter,
        runtime=quiet_runtime(),
    )
    async with env:
        yield env


# -- what the domain says should be posted -------------------------------------------------


def expected_postings(
    schedule: Schedule, as_of: dt.date
) -> tuple[dict[str, BillingDocument], dict[str, JournalEntry]]:
    """Documents and journals posted by `as_of` by a contract that processes every day."""
    docs: dict[str, BillingDocument] = {}
    journals: dict[str, JournalEntry] = {}
    day = schedule.start_date
    while day <= as_of:
        plan = posting_difference(schedule, docs, journals, day)
        for doc in plan.documents:
            assert doc.key not in docs, f"domain posts {doc.key} twice"
            docs[doc.key] = doc
        for entry in plan.journals:
            assert entry.key not in journals, f"domain posts {entry.key} twice"
            journals[entry.key] = entry
        day += dt.timedelta(days=1)
    return docs, journals


def _doc_shape(
    key: str | None, kind: str, start: dt.date, end: dt.date, date: dt.date, total: Decimal
) -> DocShape:
    return (key or "", kind, date, start, end, total)


def _domain_journal_shape(entry: JournalEntry) -> JournalShape:
    lines = sorted((ACCOUNT_NAMES[x.account], x.debit, x.credit) for x in entry.lines)
    return (entry.key, entry.date, tuple(lines))


def _erp_journal_shape(entry: ErpJournalEntry, workflow_id: str) -> JournalShape:
    key = entry.idempotency_key or ""
    prefix = f"{workflow_id}:"
    assert key.startswith(prefix), f"ERP entry {entry.id} has key {key!r}, not {prefix}…"
    lines = sorted(
        (line.account.ref_name or line.account.id, line.debit, line.credit) for line in entry.lines
    )
    return (key[len(prefix) :], entry.tran_date, tuple(lines))


# -- the checks ------------------------------------------------------------------------------


async def read_systems(
    sim: Simulation,
) -> tuple[list[BilledDocument], list[ErpJournalEntry]]:
    """The contract's billing documents (not void) and ERP journal entries."""
    contract_id = sim.scenario.contract.id
    async with BillingAdapter(sim.settings) as billing, make_http_client(sim.settings) as http:
        billed = await billing_documents(billing, contract_id)
        journals = await ErpClient(sim.settings, http).list_journal_entries(contract_id)
    return billed, journals


def check_billing(billed: list[BilledDocument], expected: dict[str, BillingDocument]) -> None:
    """One billing document per domain document posted by `as_of`, and nothing else."""
    got = Counter(
        _doc_shape(d.document_key, d.kind, d.period_start, d.period_end, d.date, d.total)
        for d in billed
    )
    want = Counter(
        _doc_shape(d.key, d.kind, d.period_start, d.period_end, d.date, d.total)
        for d in expected.values()
    )
    assert not got - want, f"in billing, not in the domain: {sorted(got - want)}"
    assert not want - got, f"in the domain, not in billing: {sorted(want - got)}"
    assert all(n == 1 for n in got.values()), "a document is in billing twice"
    keys = Counter(d.key for d in billed)
    assert all(n == 1 for n in keys.values()), f"idempotency keys used twice: {keys}"


def check_journals(
    entries: list[ErpJournalEntry],
    expected: dict[str, JournalEntry],
    workflow_id: str,
) -> None:
    """One ERP entry per journal the posting rules give by `as_of`, balanced, none twice."""
    for entry in entries:
        debits = sum((line.debit for line in entry.lines), Decimal(0))
        credits = sum((line.credit for line in entry.lines), Decimal(0))
        assert debits == credits, f"{entry.idempotency_key}: {debits} ≠ {credits}"
        assert len(entry.lines) >= 2
        assert all((x.debit > 0) != (x.credit > 0) for x in entry.lines), entry
    got = Counter(_erp_journal_shape(e, workflow_id) for e in entries)
    want = Counter(_domain_journal_shape(e) for e in expected.values())
    assert not got - want, f"in the ERP, not in the domain: {sorted(got - want)}"
    assert not want - got, f"in the domain, not in the ERP: {sorted(want - got)}"
    keys = Counter(e.idempotency_key for e in entries)
    assert all(n == 1 for n in keys.values()), f"journal keys posted twice: {keys}"


def check_reconciliation(
    entries: list[ErpJournalEntry],
    billed: list[BilledDocument],
    schedule: Schedule,
    as_of: dt.date,
    workflow_id: str,
) -> None:
    """Three-way figures straight from the schedule (not from `posting_difference`).

    AR in the ERP = billing's invoices − credit notes = the schedule's billed to date, and the
    revenue posted for each month (base entry plus adjustments) = the schedule's month, for
    every month closed by `as_of` and for no other month.
    """
    net: defaultdict[str, Decimal] = defaultdict(Decimal)
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        key = _erp_journal_shape(entry, workflow_id)[0]
        for line in entry.lines:
            net[line.account.ref_name or ""] += line.debit - line.credit
        if key.startswith(REVENUE_PREFIX):
            month = key[len(REVENUE_PREFIX) : len(REVENUE_PREFIX) + 7]
            for line in entry.lines:
                if line.account.ref_name == ACCOUNT_NAMES[Account.REVENUE]:
                    revenue[month] += line.credit - line.debit
    billed_total = sum((d.total if d.kind == "invoice" else -d.total for d in billed), Decimal(0))
    assert net[ACCOUNT_NAMES[Account.ACCOUNTS_RECEIVABLE]] == billed_total
    assert billed_total == schedule.billed_through(as_of)
    closed = {
        month: amount
        for month, amount in schedule.revenue_by_month().items()
        if _month_end(month) < as_of and amount
    }
    assert {m: a for m, a in revenue.items() if a} == closed
    assert -net[ACCOUNT_NAMES[Account.REVENUE]] == sum(closed.values(), Decimal(0))


def _month_end(month: str) -> dt.date:
    year, mon = int(month[:4]), int(month[5:])
    return dt.date(year + mon // 12, mon % 12 + 1, 1) - dt.timedelta(days=1)


async def check_systems_match_domain(sim: Simulation) -> None:
    """Billing and ERP hold exactly what the domain engine says, by `as_of`."""
    scenario = sim.scenario
    schedule = build_schedule(scenario.contract, scenario.amendments, scenario.usage)
    docs, journals = expected_postings(schedule, scenario.as_of)
    billed, entries = await read_systems(sim)
    assert billed and entries, "the simulation posted nothing"
    check_billing(billed, docs)
    check_journals(entries, journals, sim.workflow_id)
    check_reconciliation(entries, billed, schedule, scenario.as_of, sim.workflow_id)


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.stem)
async def test_scenario_through_the_workflow(path: Path, simulate_env: WorkflowEnvironment) -> None:
    text, expected = read_scenario(path)
    scenario = load_scenario(text, source=path.name)
    async with simulation(scenario, json.loads(text), env=simulate_env) as sim:
        got = sim.report.to_json()
        assert set(got) == set(expected)
        assert without_numbers(got) == without_numbers(expected)
        await check_systems_match_domain(sim)
        await assert_reconciles_clean(simulate_env, sim)  # no false alarm on a clean book


# -- the checks themselves fail when the systems are wrong ---------------------------------


def _as_billed(doc: BillingDocument) -> BilledDocument:
    return BilledDocument(
        kind=doc.kind,
        date=doc.date,
        period_start=doc.period_start,
        period_end=doc.period_end,
        total=doc.total,
        source=doc.source,
        key=f"contract-X:{doc.key}",
        document_key=doc.key,
    )


def _as_erp(entry: JournalEntry, n: int) -> ErpJournalEntry:
    return ErpJournalEntry.model_validate(
        {
            "id": str(n),
            "tranDate": entry.date,
            "subsidiary": {"id": "1"},
            "custbody_q2c_key": f"contract-X:{entry.key}",
            "lines": [
                {
                    "account": {"id": "9", "refName": ACCOUNT_NAMES[line.account]},
                    "debit": line.debit,
                    "credit": line.credit,
                }
                for line in entry.lines
            ],
        }
    )


def test_the_checks_refuse_missing_extra_and_misdated_postings() -> None:
    path = SCENARIOS / "06-price-decrease-prospective.json"
    scenario = load_scenario(path.read_text(encoding="utf-8"))
    schedule = build_schedule(scenario.contract, scenario.amendments, scenario.usage)
    docs, journals = expected_postings(schedule, scenario.as_of)
    billed = [_as_billed(d) for d in docs.values()]
    entries = [_as_erp(e, n) for n, e in enumerate(journals.values())]
    assert any(e.key.startswith(REVENUE_PREFIX) for e in journals.values())
    assert any(d.kind == "credit_note" for d in docs.values())
    check_billing(billed, docs)
    check_journals(entries, journals, "contract-X")
    check_reconciliation(entries, billed, schedule, scenario.as_of, "contract-X")

    wrong_billing = [
        billed[1:],  # a document lost
        [*billed, billed[0]],  # issued twice
        [replace(billed[0], total=Decimal("0.01")), *billed[1:]],  # another amount
        [replace(billed[0], date=scenario.as_of), *billed[1:]],  # another date
    ]
    for wrong in wrong_billing:
        with pytest.raises(AssertionError):
            check_billing(wrong, docs)
    late = entries[-1].model_copy(update={"tran_date": scenario.as_of + dt.timedelta(days=1)})
    wrong_journals = [entries[1:], [*entries, entries[0]], [*entries[:-1], late]]
    for wrong_entries in wrong_journals:
        with pytest.raises(AssertionError):
            check_journals(wrong_entries, journals, "contract-X")
    revenue = [e for e in entries if (e.idempotency_key or "").startswith("contract-X:journal:rev")]
    with pytest.raises(AssertionError):
        check_reconciliation(
            [e for e in entries if e is not revenue[0]],
            billed,
            schedule,
            scenario.as_of,
            "contract-X",
        )
