"""`q2c stuck` lists the late payments that failed (dev server, worker, sandbox): workflow id,
contract, invoice, the failure's first line, when it closed and the command that runs it again;
one run again since (here: a new run nobody polls) is no longer listed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from urllib.parse import quote

import pytest
from temporalio.client import WorkflowFailureError

from tests.starter.conftest import Stack
from workflows.late_payment import LatePaymentInput, LatePaymentWorkflow, late_payment_id

pytestmark = pytest.mark.devserver

RESULT_SECONDS = 60.0


def _input(contract_workflow_id: str, invoice_id: str) -> LatePaymentInput:
    """A late payment of an invoice billing does not know: its first activity fails for good."""
    return LatePaymentInput(
        contract_workflow_id=contract_workflow_id,
        contract_run_id="run-of-the-ended-contract",
        final_stage="Expired",
        key_prefix=f"{contract_workflow_id}:",
        contract_id="T-LATE",
        currency="EUR",
        legal_entity="EU-DE",
        account_id="ACC-T-LATE",
        customer_name="Customer T-LATE",
        invoice_id=invoice_id,
        payment_id=invoice_id,
        transient_window_seconds=30,
    )


async def _failed(stack: Stack, workflow_id: str, arg: LatePaymentInput) -> None:
    handle = await stack.client.start_workflow(
        LatePaymentWorkflow.run, arg, id=workflow_id, task_queue=stack.settings.task_queue
    )
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), RESULT_SECONDS)


async def test_stuck_lists_failed_late_payments_with_their_fix(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:10].upper()
    contract = f"contract-006LATE{tag}"
    failed_id = late_payment_id(contract, f"in_nosuch{tag}")
    rerun_id = late_payment_id(contract, f"in_rerun{tag}")
    await _failed(stack, failed_id, _input(contract, f"in_nosuch{tag}"))
    await _failed(stack, rerun_id, _input(contract, f"in_rerun{tag}"))
    # Run again (as a redelivered webhook would): the new run is the current one.
    rerun = await stack.client.start_workflow(
        LatePaymentWorkflow.run,
        _input(contract, f"in_rerun{tag}"),
        id=rerun_id,
        task_queue=f"nobody-polls-{tag}",
    )
    try:
        ran = await stack.q2c("stuck", "--json")
        assert ran.code == 0, ran
        answer = json.loads(ran.out)
        listed = {row["workflow_id"]: row for row in answer["late_payments"]}
        assert rerun_id not in listed
        row = listed[failed_id]
        assert row["contract"] == contract
        assert row["invoice_id"] == f"in_nosuch{tag}"
        failure = row["failure"]
        assert f"payment of invoice in_nosuch{tag} of {contract} (Expired) not posted" in failure
        assert "\n" not in failure
        closed = dt.datetime.fromisoformat(row["close_time"])
        assert abs(dt.datetime.now(dt.UTC) - closed) < dt.timedelta(hours=1)
        assert row["fix"] == (
            f"temporal workflow reset --workflow-id {failed_id} "
            '--type FirstWorkflowTask --reason "cause fixed"'
        )
        assert row["web_ui"].endswith(f"/namespaces/default/workflows/{quote(failed_id, safe='')}")
        assert "LatePayment" in answer["late_payments_web_ui"]
        assert "contracts" in answer and "web_ui" in answer  # the parked contracts, as before

        text = await stack.q2c("stuck")
        assert text.code == 0, text
        assert "Late payments that failed (last 30 days)" in text.out
        assert failed_id in text.out and f"in_nosuch{tag}" in text.out
        assert rerun_id not in text.out
        assert row["fix"] in text.out
        assert "resend the invoice.paid event" in text.out
    finally:
        await rerun.terminate(reason="test over")
