"""Reconciliation of a contract run by the real ContractWorkflow against the sandbox.

(The clean book, every shared scenario reconciled without a difference, is checked where the
scenarios are simulated anyway: tests/workflows/test_simulate_scenarios.py calls
`tests.reconciliation.checks.assert_reconciles_clean`.) Drift made behind q2c's back on a
contract that reconciled clean, each reported by the next run with the exact amount and the
records involved:
(a) an invoice voided directly through billing's Stripe-shaped API,
(b) a stray journal entry posted directly through the ERP's REST API,
(c) a booking edited in Salesforce (a line's quantity and price).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.billing import BillingAdapter
from adapters.database import make_engine
from adapters.erp import ErpClient
from adapters.http import make_http_client
from adapters.observability import metrics
from adapters.salesforce import SalesforceClient
from domain.inputs import load_scenario
from domain.reconciliation import ContractReconciliation, Difference
from domain.schedule import build_schedule
from starter.binaries import temporal_test_server
from starter.simulate import Simulation, simulation
from tests.conftest import SCENARIOS
from tests.reconciliation.checks import only, reconcile
from workflows.reconciliation import UnknownContractError, reconcile_contracts

pytestmark = pytest.mark.slow


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def metrics_bind() -> str:
    return f"127.0.0.1:{_free_port()}"


@pytest.fixture(scope="module")
async def recon_env(metrics_bind: str) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server; its client (so the simulations' workers) carries the metrics
    runtime of `metrics_bind`, as the production worker's does."""
    runtime = metrics.metrics_runtime(metrics_bind)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()),
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    async with env:
        yield env


@pytest.fixture(scope="module")
def other_worker() -> str:
    """The metrics endpoint of another worker: one that runs no reconciliation."""
    bind = f"127.0.0.1:{_free_port()}"
    assert metrics.metrics_runtime(bind) is not None
    return bind


async def _scrape(bind: str) -> dict[str, float]:
    """`kind → value` of q2c_reconciliation_mismatches on a worker's endpoint."""
    async with httpx.AsyncClient(timeout=10) as http:
        page = (await http.get(f"http://{bind}/metrics")).text
    found: dict[str, float] = {}
    for line in page.splitlines():
        match = re.match(r"^q2c_reconciliation_mismatches\{([^}]*)\} (\S+)$", line)
        if match:
            kind = re.search(r'kind="([^"]+)"', match.group(1))
            assert kind is not None, line
            found[kind.group(1)] = float(match.group(2))
    return found


async def mismatch_gauge(sim: Simulation, bind: str, other: str) -> dict[str, float]:
    """`kind → value` of q2c_reconciliation_mismatches on `other`, a worker that did not run
    the reconciliation, after its gauge refresh read the simulation's ledger. The worker that
    ran it (`bind`) sets nothing from the workflow: one source of truth, the recorded run."""
    engine = make_engine(sim.settings.database_url)
    try:
        runtime = metrics.metrics_runtime(other)
        assert runtime is not None
        await metrics.ReconciliationGauge(runtime.metric_meter, engine).refresh()
    finally:
        engine.dispose()
    assert await _scrape(bind) == {}
    return await _scrape(other)


def by_kind(result: ContractReconciliation) -> dict[str, Difference]:
    kinds = [d.kind for d in result.differences]
    assert len(kinds) == len(set(kinds)), kinds
    return {d.kind: d for d in result.differences}


async def _void_directly(sim: Simulation, invoice_id: str) -> None:
    """POST /v1/invoices/{id}/void with the secret key, as an operator's script would."""
    async with httpx.AsyncClient(base_url=sim.settings.billing_url, timeout=30) as http:
        response = await http.post(
            f"/v1/invoices/{invoice_id}/void",
            headers={"Authorization": f"Bearer {sim.settings.billing_api_key}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "void"


async def test_drift_behind_q2cs_back_is_reported_exactly(
    recon_env: WorkflowEnvironment, metrics_bind: str, other_worker: str
) -> None:
    path = SCENARIOS / "01-annual-contract-billed-monthly.json"
    text = read(path)
    scenario = load_scenario(text, source=path.name)
    contract = scenario.contract
    async with simulation(scenario, json.loads(text), env=recon_env) as sim:
        # Every contract (no visibility listing here: the contracts the ledger knows).
        with recon_env.auto_time_skipping_disabled():
            everything = await reconcile_contracts(
                sim.client, task_queue=sim.settings.task_queue, as_of=scenario.as_of
            )
            summary = await reconcile_contracts(
                sim.client,
                task_queue=sim.settings.task_queue,
                as_of=scenario.as_of,
                list_clean_up_to=0,
            )
        assert [c.workflow_id for c in everything.contracts] == [sim.workflow_id]
        # A large book's report lists only contracts with differences; the clean are counted.
        assert (summary.contracts, summary.clean_omitted, summary.compared) == ([], 1, 1)
        assert only(await reconcile(recon_env, sim)).status == "Clean"
        clean = dict.fromkeys(("bookings", "billing_vs_ar", "revenue", "deferred"), 0.0)
        assert await mismatch_gauge(sim, metrics_bind, other_worker) == clean

        # (a) an invoice voided in billing, not through q2c
        async with BillingAdapter(sim.settings) as billing:
            invoices = await billing.list_invoices_for(contract_id=contract.id)
        voided = invoices[-1]
        assert voided.status == "open" and voided.credited == 0
        await _void_directly(sim, voided.id)
        result = only(await reconcile(recon_env, sim))
        found = by_kind(result)
        assert set(found) == {"billing_vs_ar", "deferred"}, result.differences
        billing_diff = found["billing_vs_ar"]
        assert billing_diff.amount == voided.total  # AR still holds what billing voided
        assert billing_diff.expected + voided.total == billing_diff.actual
        assert f"invoice {voided.id} (void)" in billing_diff.records
        assert any(r.startswith("journal ") for r in billing_diff.records)
        assert found["deferred"].amount == voided.total
        assert result.status == "Mismatch"
        # The business metric on a worker's Prometheus endpoint: mismatches by check.
        assert await mismatch_gauge(sim, metrics_bind, other_worker) == {
            **clean,
            "billing_vs_ar": 1.0,
            "deferred": 1.0,
        }

        # (b) a stray journal entry in the ERP: revenue nobody recognized
        stray_amount = Decimal("250.00")
        async with make_http_client(sim.settings) as http:
            erp = ErpClient(sim.settings, http)
            stray_id = await erp.create(
                "journalEntry",
                {
                    "tranDate": scenario.as_of - dt.timedelta(days=3),
                    "subsidiary": {"externalId": contract.legal_entity},
                    "currency": {"externalId": contract.currency},
                    "memo": "manual correction",
                    "custbody_q2c_contract": contract.id,
                    "line": {
                        "items": [
                            {"account": {"externalId": "2400"}, "debit": stray_amount},
                            {"account": {"externalId": "4000"}, "credit": stray_amount},
                        ]
                    },
                },
            )
        found = by_kind(only(await reconcile(recon_env, sim)))
        assert set(found) == {"billing_vs_ar", "revenue", "deferred"}
        assert found["revenue"].amount == stray_amount
        assert found["revenue"].records == [f"journal {stray_id} (not posted by q2c)"]
        assert found["billing_vs_ar"].amount == voided.total  # unchanged
        assert found["deferred"].amount == voided.total - stray_amount
        assert f"journal {stray_id} (not posted by q2c)" in found["deferred"].records

        # (c) the booking edited in Salesforce: line L1 from 50 to 60 seats at 1250.00
        async with make_http_client(sim.settings) as http:
            salesforce = SalesforceClient(sim.settings, http)
            items = await salesforce.query(
                "SELECT Id, Q2C_Line_Id__c FROM OpportunityLineItem "
                f"WHERE OpportunityId = '{sim.opportunity_id}'"
            )
            (item,) = [i for i in items if i["Q2C_Line_Id__c"] == "L1"]
            await salesforce.update(
                "OpportunityLineItem", item["Id"], {"Quantity": 60, "UnitPrice": 1250}
            )
        edited = contract.model_copy(
            update={
                "lines": [
                    line.model_copy(update={"quantity": Decimal(60), "unit_price": Decimal(1250)})
                    if line.id == "L1"
                    else line
                    for line in contract.lines
                ]
            }
        )
        booked_now = build_schedule(edited, scenario.amendments, scenario.usage)
        booked_then = build_schedule(contract, scenario.amendments, scenario.usage)
        result = only(await reconcile(recon_env, sim))
        found = by_kind(result)
        assert set(found) == {"bookings", "billing_vs_ar", "revenue", "deferred"}
        bookings = found["bookings"]
        assert bookings.amount == booked_now.transaction_price - booked_then.transaction_price
        assert bookings.amount == Decimal("15000.00")  # 60 × 1250 − 50 × 1200, a whole year
        assert bookings.records == [f"opportunity {sim.opportunity_id}", "line L1"]
        assert result.status == "Mismatch"


async def test_unknown_contract_is_refused_before_anything_runs(
    recon_env: WorkflowEnvironment,
) -> None:
    with pytest.raises(UnknownContractError, match="NO-SUCH-OPP"):
        await reconcile_contracts(
            recon_env.client, task_queue="nobody-polls-this", contract_ids=["NO-SUCH-OPP"]
        )
