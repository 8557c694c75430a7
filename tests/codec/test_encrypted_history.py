"""On the dev server: with a key set, the history Temporal stores holds only ciphertext.

A contract runs with the codec (worker and client): it parks on a missing product mapping (an
activity failure, whose message names the products), is signalled, mapped, retried, and
catches up on two months of invoices and journals. Its history is then fetched with the raw
gRPC service, which no codec touches: every payload of every event is `binary/encrypted`
under the key id, and neither the customer's name, nor the prices, nor the failure's message
appear anywhere. Search attributes and headers are the exception the SDK makes (it never runs
them through a codec): search attributes stay in clear by design (the server indexes them).
The key decodes everything; after a rotation the old key in the previous keys still does;
without it, decoding names the missing key id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.billing import BillingAdapter
from adapters.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecError,
    EncryptionCodec,
    EncryptionKey,
    data_converter_for,
)
from adapters.database import make_engine
from adapters.erp import ErpClient
from adapters.http import make_http_client
from adapters.salesforce import SalesforceClient
from domain.calendar import add_months
from tests.fixtures.sandbox import SandboxHandle
from tests.workflows.conftest import ContractRig, contract_scenario, seats
from worker import running_worker
from workflows.contract import ContractWorkflow

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

K1 = EncryptionKey.from_bytes("k1", bytes(range(32)))
K2 = EncryptionKey.from_bytes("k2", bytes(range(100, 132)))
UNIT_PRICE = "1234.56"
# Patch markers (`workflow.patched`) hold only the patch id, written by the SDK's core in clear.
CLEAR_BY_DESIGN = ("search_attributes", "header", "details[patch-data]")


@pytest.fixture
async def encrypted_rig(
    dev_env: WorkflowEnvironment, sandbox: SandboxHandle, sqlite_url: str
) -> AsyncIterator[ContractRig]:
    """A worker and client on the dev server whose data converter carries the codec (K1)."""
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=data_converter_for(EncryptionCodec(K1)),
    )
    settings = sandbox.settings.model_copy(
        update={"task_queue": f"q2c-codec-{uuid.uuid4().hex[:8]}"}
    )
    engine = make_engine(sqlite_url)
    async with (
        running_worker(client, settings, engine),
        make_http_client(settings) as http,
        BillingAdapter(settings) as billing,
    ):
        rig = ContractRig(
            client=client,
            sandbox=sandbox,
            settings=settings,
            salesforce=SalesforceClient(settings, http),
            billing=billing,
            erp=ErpClient(settings, http),
        )
        try:
            yield rig
        finally:
            await rig.terminate_running()
    engine.dispose()


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload inside a protobuf message, with the field path that leads to it."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        where = f"{path}.{field.name}" if path else field.name
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    yield from payloads_in(item, f"{where}[{key}]")
        elif field.is_repeated:
            for item in value:
                yield from payloads_in(item, where)
        else:
            yield from payloads_in(value, where)


def without_clear_by_design(event: HistoryEvent) -> bytes:
    """The event's bytes with its search attributes and headers removed."""
    copy = HistoryEvent()
    copy.CopyFrom(event)
    for field, value in copy.ListFields():
        if field.message_type is not None and field.name.endswith("_attributes"):
            for name in ("search_attributes", "header"):
                if name in field.message_type.fields_by_name:
                    value.ClearField(name)
    return copy.SerializeToString()


async def stored_history(client: Client, workflow_id: str) -> list[HistoryEvent]:
    """The history as the server stores it: the raw gRPC call, no data converter, no codec."""
    events: list[HistoryEvent] = []
    token = b""
    while True:
        page = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id),
                next_page_token=token,
            )
        )
        events.extend(page.history.events)
        token = page.next_page_token
        if not token:
            return events


async def test_stored_history_holds_only_ciphertext(
    encrypted_rig: ContractRig, dev_env: WorkflowEnvironment
) -> None:
    rig = encrypted_rig
    today = dt.datetime.now(dt.UTC).date()
    start = add_months(today.replace(day=1), -2)
    raw = contract_scenario(
        start=start,
        end=add_months(start, 12) - dt.timedelta(days=1),
        lines=[seats(7, UNIT_PRICE)],
    )
    customer = f"Geheimkunde {uuid.uuid4().hex[:10]}"
    raw["contract"]["customer"]["name"] = customer
    booked = await rig.book(raw, mapped=False)
    handle = await rig.start(booked, business_now=None)
    await rig.parked(handle, "missing_product_mapping")
    await handle.signal(ContractWorkflow.booked, f"codec test for {customer}")
    await rig.map_products(booked)
    await handle.signal(ContractWorkflow.retry)
    status = await rig.settled(handle)
    assert status.stage == "Active"
    assert len(await rig.invoices(booked)) >= 3

    events = await stored_history(dev_env.client, handle.id)
    found = [(path, p) for event in events for path, p in payloads_in(event)]
    encrypted = [p for path, p in found if not any(c in path for c in CLEAR_BY_DESIGN)]
    paths = {path for path, _ in found}
    # The kinds of payload a contract's history holds, each one there.
    for expected in (
        "workflow_execution_started_event_attributes.input.payloads",
        "activity_task_scheduled_event_attributes.input.payloads",
        "activity_task_completed_event_attributes.result.payloads",
        "workflow_execution_signaled_event_attributes.input.payloads",
        "activity_task_failed_event_attributes.failure.encoded_attributes",
        "user_metadata.summary",
    ):
        assert any(path.endswith(expected) for path in paths), (expected, sorted(paths))
    assert len(encrypted) > 30
    for path, payload in found:
        if any(c in path for c in CLEAR_BY_DESIGN):
            continue
        assert payload.metadata["encoding"] == ENCODING, path
        assert payload.metadata[KEY_ID_METADATA] == b"k1", path
        assert set(payload.metadata) == {"encoding", KEY_ID_METADATA}, path
    # A failure's message and stack trace are inside its encrypted attributes.
    failures = [
        e.activity_task_failed_event_attributes.failure
        for e in events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert failures and all(f.message == "Encoded failure" and not f.stack_trace for f in failures)

    stored = b"".join(without_clear_by_design(e) for e in events)
    for secret in (customer, UNIT_PRICE, "SEAT-PRO", booked.contract_id, "Geheimkunde"):
        assert secret.encode() not in stored, secret
    # Search attributes are the documented exception: the server indexes them in clear.
    everything = b"".join(e.SerializeToString() for e in events)
    assert booked.contract_id.encode() in everything

    # The key reads it all back; the customer, the prices and the failure are in there.
    decoded = await EncryptionCodec(K1).decode(encrypted)
    clear = b"".join(p.data for p in decoded)
    for secret in (customer, UNIT_PRICE, "SEAT-PRO"):
        assert secret.encode() in clear, secret
    # Rotated (K2 current, K1 kept as previous): the old history still decodes.
    assert await EncryptionCodec(K2, [K1]).decode(encrypted) == decoded
    # Without K1, decoding names the key id it lacks.
    with pytest.raises(CodecError, match="key id 'k1', which is not configured"):
        await EncryptionCodec(K2).decode(encrypted)
    # And a client without the codec cannot read the result of a query.
    plain = dev_env.client.get_workflow_handle(handle.id)
    with pytest.raises(Exception, match="binary/encrypted"):
        await plain.query(ContractWorkflow.status)
