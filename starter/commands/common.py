"""What the contract commands share: the client, naming a contract, errors, Web UI links.

A contract is named by its Salesforce opportunity Id (`006…`), its workflow id
(`contract-006…`) or its contract number (the opportunity's external id, `OPP-1001`), found
through the `ContractId` search attribute or, for a contract that parked before it knew its
number, in Salesforce. Naming one that does not exist is an input error (exit 2); Temporal not
answering is a failed operation (exit 1).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from urllib.parse import quote

from temporalio.client import Client, WorkflowHandle

from adapters import temporal_client
from adapters.errors import AdapterError, BusinessError
from adapters.salesforce import SalesforceClient, soql
from adapters.settings import Settings, get_settings
from domain.errors import InputError
from starter.app import OperationFailed
from starter.control import (
    ContractNotFound,
    StartRefused,
    TemporalUnavailable,
    temporal_call,
)
from workflows.contract import ContractWorkflow, workflow_id_for

TIMEOUT = 30.0  # seconds a command waits for one Temporal call
STUCK_QUERY = 'ContractStage = "NeedsAttention"'
WORKFLOW_PREFIX = workflow_id_for("")
_SAFE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
MAX_REF = 255  # longer is no opportunity Id, workflow id or contract number
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


async def connect() -> Client:
    return await temporal_client.connect()


@contextlib.contextmanager
def operation_errors(what: str) -> Iterator[None]:
    """Errors of a command as exit codes: unknown contract 2, anything that failed 1."""
    try:
        yield
    except ContractNotFound as exc:
        raise InputError(str(exc)) from None
    except (TemporalUnavailable, StartRefused) as exc:
        raise OperationFailed(str(exc)) from None
    except BusinessError as exc:
        raise OperationFailed(_prefixed(what, exc)) from None
    except AdapterError as exc:
        raise OperationFailed(f"{_prefixed(what, exc)} (is it reachable?)") from None


def _prefixed(what: str, exc: AdapterError) -> str:
    """`what: <error>`, unless `what` is the system the error already names (its text starts
    with `<system>: `), which would read `Salesforce: salesforce: …`."""
    return str(exc) if what.casefold() == exc.system.casefold() else f"{what}: {exc}"


Contract = WorkflowHandle[ContractWorkflow, object]


async def _existing(client: Client, workflow_id: str) -> Contract | None:
    handle: Contract = client.get_workflow_handle_for(ContractWorkflow.run, workflow_id)
    try:
        async with temporal_call(f"describe {workflow_id}", TIMEOUT):
            await handle.describe()
    except ContractNotFound:
        return None
    return handle


async def _opportunity_of(number: str) -> str | None:
    """The opportunity Id whose contract number is `number`, if Salesforce answers."""
    text = soql("SELECT Id FROM Opportunity WHERE Q2C_External_Id__c = {n}", n=number)
    try:
        async with SalesforceClient(get_settings()) as salesforce:
            records = await salesforce.query(text)
    except AdapterError:
        return None
    return str(records[0]["Id"]) if records else None


def contract_ref(ref: str | None) -> str | None:
    """Refuse what cannot name a contract (Typer callback: before anything connects)."""
    if ref is not None and not (len(ref) <= MAX_REF and _SAFE_REF.fullmatch(ref)):
        shown = ref if len(ref) <= 80 else f"{ref[:80]}…"
        raise InputError(f"{shown!r} is not a contract: give an opportunity Id or contract number")
    return ref


def contract_refs(refs: list[str] | None) -> list[str] | None:
    """`contract_ref` for a repeatable option."""
    for ref in refs or ():
        contract_ref(ref)
    return refs


async def resolve(client: Client, ref: str) -> Contract:
    """The handle of the contract `ref` names (see the module docstring)."""
    contract_ref(ref)
    workflow_id = ref if ref.startswith(WORKFLOW_PREFIX) else workflow_id_for(ref)
    if handle := await _existing(client, workflow_id):
        return handle
    async with temporal_call("find the contract by number", TIMEOUT):
        async for found in client.list_workflows(f'ContractId = "{ref}"', limit=1):
            return client.get_workflow_handle_for(ContractWorkflow.run, found.id)
    opportunity_id = await _opportunity_of(ref)
    if opportunity_id and (handle := await _existing(client, workflow_id_for(opportunity_id))):
        return handle
    raise ContractNotFound(f"no contract {ref!r} (no workflow {workflow_id}, no ContractId {ref})")


def ui_base(settings: Settings) -> str:
    return (settings.temporal_ui_url or f"http://127.0.0.1:{settings.dev_ui_port}").rstrip("/")


def workflow_link(settings: Settings, namespace: str, workflow_id: str) -> str:
    return f"{ui_base(settings)}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


def stuck_link(settings: Settings, namespace: str) -> str:
    """The Web UI's workflow list filtered to every contract that needs attention."""
    return f"{ui_base(settings)}/namespaces/{namespace}/workflows?query={quote(STUCK_QUERY)}"
