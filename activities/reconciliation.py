"""The reconciliation activities: read each system back and compare (domain/reconciliation.py).

Nothing here changes an outside system. Per contract: the contract workflow's
`reconciliation_basis` query (the contract as q2c booked it), the booking and the applied
amendments as Salesforce holds them now, the contract's invoices and credit notes in billing
(by their `q2c_contract_id` metadata) and its journal entries in the ERP (by
`custbody_q2c_contract`). The verdict goes back to the contract workflow as the `reconciled`
signal (search attribute `ReconStatus`); the run is recorded in the ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.booking import amendment_from_salesforce, booking_from_salesforce
from activities.contract import ERP_ACCOUNTS, vendor_errors
from adapters.billing import BillingAdapter, BillingCreditNote, BillingInvoice
from adapters.erp import ErpClient
from adapters.errors import BusinessError, NotFoundError
from adapters.reconciliation_store import ReconciliationStore
from adapters.salesforce import SalesforceClient
from domain.documents import Account
from domain.reconciliation import (
    BilledRecord,
    BookedContract,
    ContractReconciliation,
    ErpEntry,
    ErpLine,
    ReconciledNotice,
    ReconciliationBasis,
    ReconciliationReport,
    reconcile_contract,
)

CONTRACT_WORKFLOW = "Contract"
CONTRACT_PREFIX = "contract-"
BASIS_QUERY = "reconciliation_basis"
RECONCILED_SIGNAL = "reconciled"
QUERY_TIMEOUT = dt.timedelta(seconds=30)
RECON_STATUS = "ReconStatus"  # workflows/search_attributes.py RECON_STATUS
# Closed contracts stay in the daily run this long (a last month of checks after they end):
# querying a closed workflow replays its whole history on a worker.
CLOSED_WITHIN = dt.timedelta(days=35)


class FindContracts(BaseModel):
    """None: every contract (Temporal visibility and the ledger); else these ids."""

    contract_ids: list[str] | None = None


class ReconcileBatch(BaseModel):
    run_id: str
    as_of: dt.date
    workflow_ids: list[str]
    notify: bool = Field(True, description="Signal each contract workflow its verdict.")


class RecordRun(BaseModel):
    report: ReconciliationReport
    finished: dt.datetime


class UnknownContractError(Exception):
    """No contract workflow answers to this id (the message names it)."""


def _is_not_found(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.NOT_FOUND


async def resolve_contract(client: Client, ident: str) -> str | None:
    """The workflow id of a contract named by opportunity id, workflow id or contract number
    (`ContractId`, through visibility where the server has it); None if there is none."""
    ident = ident.strip()
    if not ident:
        return None
    workflow_id = ident if ident.startswith(CONTRACT_PREFIX) else f"{CONTRACT_PREFIX}{ident}"
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return workflow_id
    except RPCError as exc:
        if not _is_not_found(exc):
            raise
    query = f"WorkflowType = '{CONTRACT_WORKFLOW}' AND ContractId = '{_quoted(ident)}'"
    try:
        async for found in client.list_workflows(query, limit=1):
            return found.id
    except RPCError:
        return None  # no visibility (the time-skipping test server) or no ContractId there
    return None


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def resolve_contracts(client: Client, idents: list[str]) -> list[str]:
    """Workflow ids of the named contracts; `UnknownContractError` naming any not found."""
    found: list[str] = []
    unknown: list[str] = []
    for ident in idents:
        workflow_id = await resolve_contract(client, ident)
        if workflow_id is None:
            unknown.append(ident)
        elif workflow_id not in found:
            found.append(workflow_id)
    if unknown:
        raise UnknownContractError(
            "unknown contract "
            + ", ".join(repr(i) for i in unknown)
            + " (give the opportunity id, the workflow id contract-<opportunity id> or the "
            "contract number; `q2c status` lists contracts)"
        )
    return found


async def listed_contracts(
    client: Client, *, closed_within: dt.timedelta = CLOSED_WITHIN
) -> list[str] | None:
    """Contract workflows that visibility lists with a stage: running, or closed (expired,
    cancelled) within `closed_within`; None where the server cannot list (time-skipping)."""
    since = (dt.datetime.now(dt.UTC) - closed_within).isoformat()
    query = (
        f"WorkflowType = '{CONTRACT_WORKFLOW}' AND "
        f"(ExecutionStatus = 'Running' OR CloseTime > '{since}')"
    )
    seen: list[str] = []
    try:
        async for execution in client.list_workflows(query):
            stage = execution.search_attributes.get("ContractStage")
            if stage and execution.id not in seen:
                seen.append(execution.id)
    except RPCError:
        return None
    return seen


def _account_of(numbers: dict[str, str], ref_id: str) -> Account | None:
    number = numbers.get(ref_id)
    by_number = {v: k for k, v in ERP_ACCOUNTS.items()}
    return by_number.get(number) if number is not None else None


class ReconciliationActivities:
    """Read-only activities around one set of adapters (the worker's)."""

    def __init__(
        self,
        *,
        store: ReconciliationStore,
        salesforce: SalesforceClient,
        billing: BillingAdapter,
        erp: ErpClient,
        client: Callable[[], Client] = activity.client,
    ) -> None:
        self.store = store
        self.salesforce = salesforce
        self.billing = billing
        self.erp = erp
        self._client = client
        self._accounts: dict[str, str] = {}
        self._recon_status_known = False

    # -- which contracts -------------------------------------------------------------------

    @activity.defn(name="find_contracts_to_reconcile")
    async def find_contracts(self, request: FindContracts) -> list[str]:
        client = self._client()
        if request.contract_ids is not None:
            try:
                return await resolve_contracts(client, request.contract_ids)
            except UnknownContractError as exc:
                raise ApplicationError(
                    str(exc), type="UnknownContract", non_retryable=True
                ) from None
        listed = await listed_contracts(client)
        if listed is not None:
            return sorted(listed)
        # No visibility listing: every contract that ever posted, by the ledger's keys.
        return await asyncio.to_thread(self.store.contract_workflows)

    # -- one batch of contracts ------------------------------------------------------------

    @activity.defn(name="reconcile_contracts")
    async def reconcile_batch(self, request: ReconcileBatch) -> list[ContractReconciliation]:
        client = self._client()
        notify = request.notify and await self._recon_status_registered(client)
        results: list[ContractReconciliation] = []
        for workflow_id in request.workflow_ids:
            result = await self.reconcile_one(client, workflow_id, request.as_of)
            results.append(result)
            activity.heartbeat(workflow_id)
            if notify and result.status != "Skipped":
                await self._notify(client, request.run_id, result)
        return results

    async def _recon_status_registered(self, client: Client) -> bool:
        """Whether the namespace has the `ReconStatus` search attribute.

        A contract upserting an attribute the namespace lacks fails its workflow task again and
        again, so contracts are only signalled once the attribute is known to exist.
        """
        if self._recon_status_known:
            return True
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace),
                retry=True,
                timeout=QUERY_TIMEOUT,
            )
        except RPCError as exc:
            activity.logger.warning("cannot list search attributes (%s): ReconStatus not set", exc)
            return False
        self._recon_status_known = RECON_STATUS in listed.custom_attributes
        if not self._recon_status_known:
            activity.logger.warning(
                "search attribute %s is not registered in namespace %s: contracts are not "
                "marked (register it: deploy/temporal/register-search-attributes.sh)",
                RECON_STATUS,
                client.namespace,
            )
        return self._recon_status_known

    async def reconcile_one(
        self, client: Client, workflow_id: str, as_of: dt.date
    ) -> ContractReconciliation:
        try:
            basis = await client.get_workflow_handle(workflow_id).query(
                BASIS_QUERY, result_type=ReconciliationBasis, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            if _is_not_found(exc):
                return _skipped(workflow_id, as_of, "no such workflow (retention over?)")
            return _skipped(workflow_id, as_of, f"the contract workflow did not answer: {exc}")
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            return _skipped(workflow_id, as_of, f"the contract workflow did not answer: {exc}")
        if basis.contract is None:
            return reconcile_contract(basis, None, [], [], as_of)
        contract_id = basis.contract.id
        try:
            # Transient errors are retried (the batch again: it only reads); a refusal is
            # this contract's problem, not the run's.
            with vendor_errors():
                salesforce = await self._salesforce_side(basis) if basis.term == 1 else None
                docs = await self._billing_records(contract_id)
                entries = await self._erp_entries(contract_id)
        except ApplicationError as exc:
            if not exc.non_retryable:
                raise
            note = f"could not read the contract's records: {exc.message}"
            return _skipped(workflow_id, as_of, note, basis.contract.id)
        return reconcile_contract(basis, salesforce, docs, entries, as_of)

    async def _notify(self, client: Client, run_id: str, result: ContractReconciliation) -> None:
        status = "Mismatch" if result.differences else "Clean"
        notice = ReconciledNotice(
            run_id=run_id, as_of=result.as_of, status=status, mismatches=len(result.differences)
        )
        try:
            await client.get_workflow_handle(result.workflow_id).signal(RECONCILED_SIGNAL, notice)
        except RPCError as exc:
            if not _is_not_found(exc):  # a closed workflow takes no signal: nothing to mark
                raise

    async def _salesforce_side(self, basis: ReconciliationBasis) -> BookedContract | str:
        """The contract as Salesforce holds it now, with the amendments q2c applied re-read."""
        try:
            booking = await self.salesforce.get_opportunity_booking(basis.opportunity_id)
            contract = booking_from_salesforce(booking).contract
        except BusinessError as exc:  # deleted, or edited into something q2c cannot book
            return str(exc)
        amendments = []
        for held in basis.amendments:
            record_id = basis.amendment_requests.get(held.id)
            if record_id is None:  # a cancellation q2c was asked for, not an amendment
                amendments.append(held)
                continue
            try:
                read = amendment_from_salesforce(await self.salesforce.get_amendment(record_id))
            except NotFoundError:
                continue  # deleted in Salesforce: the value without it is what it books now
            except BusinessError as exc:
                return str(exc)
            amendments.append(read.model_copy(update={"received_on": held.received_on}))
        return BookedContract(contract=contract, amendments=amendments, usage=basis.usage)

    async def _billing_records(self, contract_id: str) -> list[BilledRecord]:
        """The contract's invoices and credit notes, void and draft ones included."""
        records: list[BilledRecord] = []
        for invoice in await self.billing.list_invoices_for(contract_id=contract_id):
            records.append(_billed("invoice", invoice))
            for note in await self.billing.list_credit_notes(invoice.id):
                records.append(_billed("credit_note", note))
        return records

    async def _account_numbers(self, wanted: set[str]) -> dict[str, str]:
        """ERP account internal id → account number (read once, again for a new account)."""
        if not wanted <= set(self._accounts):
            for record_id in await self.erp.list_ids("account"):
                if record_id not in self._accounts:
                    record = await self.erp.get("account", record_id)
                    self._accounts[record_id] = str(
                        record.get("acctNumber") or record.get("externalId") or ""
                    )
        return self._accounts

    async def _erp_entries(self, contract_id: str) -> list[ErpEntry]:
        posted = await self.erp.list_journal_entries(contract_id)
        numbers = await self._account_numbers(
            {line.account.id for entry in posted for line in entry.lines}
        )
        return [
            ErpEntry(
                id=entry.id,
                key=entry.idempotency_key,
                date=entry.tran_date,
                lines=[
                    ErpLine(
                        account=_account_of(numbers, line.account.id),
                        debit=line.debit,
                        credit=line.credit,
                    )
                    for line in entry.lines
                ],
            )
            for entry in posted
        ]

    # -- the run's record ------------------------------------------------------------------

    @activity.defn(name="record_reconciliation_run")
    async def record_run(self, request: RecordRun) -> bool:
        return await asyncio.to_thread(self.store.record_run, request.report, request.finished)

    def all(self) -> list[Callable[..., Any]]:
        return [self.find_contracts, self.reconcile_batch, self.record_run]


def _skipped(
    workflow_id: str, as_of: dt.date, note: str, contract_id: str | None = None
) -> ContractReconciliation:
    opportunity = workflow_id.removeprefix(CONTRACT_PREFIX)
    return ContractReconciliation(
        workflow_id=workflow_id,
        opportunity_id=opportunity,
        contract_id=contract_id or opportunity,
        as_of=as_of,
        status="Skipped",
        note=note,
    )


def _billed(
    kind: Literal["invoice", "credit_note"], document: BillingInvoice | BillingCreditNote
) -> BilledRecord:
    return BilledRecord(
        id=document.id,
        kind=kind,
        status=document.status,
        date=document.document_date or document.created.date(),
        total=document.total,
        key=document.key,
    )
