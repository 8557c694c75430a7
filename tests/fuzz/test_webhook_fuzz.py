"""Property-based fuzzing of the webhook receiver from its own OpenAPI schema (schemathesis).

Two runs over both routes, positive and negative data (bodies and headers that fit the schema,
and ones that break it):
- as anyone could send it (the signature header is whatever schemathesis generates): never a
  5xx, every answer one the schema documents, and nothing started or signalled;
- signed with the configured secret (the exact bytes sent, signed just before sending):
  never a 5xx nor a 401, a schema-valid event is accepted (2xx), and an accepted event reached
  Temporal exactly once (a redelivered id reaches it no more).
Then hypothesis on its own: a correctly signed request whose timestamp lies outside the
tolerance is refused 401 and reaches nothing; within it, a replay is a 200 duplicate; signed
junk (any JSON, raw bytes, deep nesting, huge numbers, surrogates) is a 4xx or an ignored 200;
a forged signature header (junk or huge `t=`, non-hex or non-ASCII `v1=`) is 401.
Temporal is a `RecordingClient` (conftest.py): the assertions count its starts and signals.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from schemathesis import GenerationMode, Response
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NotSet

from adapters.settings import Settings
from starter.webhooks import signature
from starter.webhooks.app import STRIPE_SIGNATURE
from starter.webhooks.models import SALESFORCE_EVENT, BillingEventBody
from tests.fuzz.conftest import Call, Rig, build_rig, post, signed_headers, stripe_signature

EXAMPLES = 60  # per route and run; with the coverage phase's cases, some 15 s in all
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same cases on every run: a CI failure reproduces anywhere
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
BILLING_EVENT = TypeAdapter(BillingEventBody)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


STATE = Path(tempfile.mkdtemp(prefix="q2c-fuzz-"))
RIG = build_rig(STATE)
# Loaded at import (schemathesis' fixture-based loader does not run under pytest 9).
schema = schemathesis.openapi.from_asgi("/openapi.json", RIG.app).include(path_regex="^/webhooks/")
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True
)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    yield RIG
    RIG.engine.dispose()
    shutil.rmtree(STATE, ignore_errors=True)


def _raw(body: Any) -> bytes:
    """The bytes a generated body goes out as (raw bytes stay as they are; none is empty)."""
    if isinstance(body, NotSet):
        return b""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def _secrets(rig_settings: Settings) -> dict[str, str]:
    return {
        "/webhooks/salesforce": rig_settings.salesforce_webhook_secret,
        "/webhooks/billing": rig_settings.billing_webhook_secret,
    }


def sign_case(case: Any, secret: str, at: int | None = None) -> bytes:
    """Sign the case's body as its sender would: the exact bytes sent, with `secret`."""
    raw = _raw(case.body)
    if not isinstance(case.body, NotSet):
        case.body = raw  # sent verbatim, so the signature is over what the receiver reads
    headers = dict(case.headers or {})
    if case.path == "/webhooks/billing":
        headers[STRIPE_SIGNATURE] = stripe_signature(raw, secret, at)
    else:
        headers[signature.HEADER] = signature.sign(raw, secret, at)
    case.headers = headers
    return raw


def _new_calls(rig: Rig, before: int) -> list[Call]:
    return rig.client.calls[before:]


@schema.parametrize()
@FUZZ
def test_unsigned_or_forged_requests_start_and_signal_nothing(case: Any, rig: Rig) -> None:
    before = len(rig.client.calls)
    response: Response = case.call_and_validate(checks=CHECKS)
    assert 400 <= response.status_code < 500, response.text  # 405 for other methods
    assert _new_calls(rig, before) == []


@schema.parametrize()
@FUZZ
def test_signed_requests_reach_temporal_exactly_once(case: Any, rig: Rig) -> None:
    # Signed here, just before the call, rather than by a schemathesis auth: an auth signs when
    # the case is generated, and explicit examples are generated at collection, which in a
    # long run can be more than the tolerance before they are sent.
    raw = sign_case(case, _secrets(rig.settings)[case.path])
    before = len(rig.client.calls)
    # Schemathesis' own verdict on valid vs invalid no longer holds once the header is
    # replaced by a good signature, so the body is judged here, by the documented models.
    response: Response = case.call_and_validate(checks=CHECKS[:-1])
    header = STRIPE_SIGNATURE if case.path == "/webhooks/billing" else signature.HEADER
    if header in response.request.headers:  # (a negative case may leave the header out)
        assert response.status_code != 401, response.text  # the auth signed what went out
    calls = _new_calls(rig, before)
    if response.status_code == 202:
        assert len(calls) == 1, calls
        assert calls[0].workflow_id == response.json()["workflow_id"]
    else:  # a duplicate, an ignored event or a refused body reached nothing
        assert calls == [], (response.status_code, calls)
    if header not in response.request.headers or case.method != "POST":
        return
    model = SALESFORCE_EVENT if case.path == "/webhooks/salesforce" else BILLING_EVENT
    try:
        event = model.validate_json(raw)
    except ValidationError:
        if case.path == "/webhooks/salesforce":  # the receiver checks the documented body
            assert 400 <= response.status_code < 500, response.text
        return  # (the billing route takes more than the schema shows, as Stripe's SDK does)
    assert response.status_code in {200, 202}, response.text  # a valid, signed event
    if isinstance(event, BillingEventBody):
        expected = {"invoice.paid": "payment", "invoice.payment_failed": "payment_failed"}
        assert all(call.name == expected[event.type] for call in calls)
    else:
        booked = event.type == "opportunity.closed_won"
        assert all(call.name == ("booked" if booked else "amendment") for call in calls)


# -- replay ----------------------------------------------------------------------------------

EVENT_IDS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)


def _salesforce_event(event_id: str) -> bytes:
    body = {"id": event_id, "type": "opportunity.closed_won", "opportunity_id": "006FUZZ"}
    return json.dumps(body).encode()


def _billing_event(event_id: str) -> bytes:
    invoice = {
        "object": "invoice",
        "id": "in_fuzz",
        "metadata": {"q2c_key": "contract-006FUZZ:invoice:1", "q2c_contract_id": "C-1"},
    }
    body = {
        "id": event_id,
        "object": "event",
        "type": "invoice.paid",
        "created": int(time.time()),
        "data": {"object": invoice},
    }
    return json.dumps(body).encode()


@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(
    route=st.sampled_from(["salesforce", "billing"]),
    event_id=EVENT_IDS,
    beyond=st.integers(min_value=1, max_value=10**9),
    future=st.booleans(),
)
def test_a_signature_outside_the_tolerance_is_refused(
    rig: Rig, route: str, event_id: str, beyond: int, future: bool
) -> None:
    """A captured request replayed after the tolerance is refused, whatever it carries. (Stripe's
    scheme refuses only the past: a billing signature from the future is not a replay.)"""
    tolerance = rig.settings.webhook_tolerance_seconds
    future = future and route == "salesforce"
    offset = tolerance + beyond
    at = int(time.time()) + (offset if future else -offset)
    body = _salesforce_event(event_id) if route == "salesforce" else _billing_event(event_id)
    before = len(rig.client.calls)
    response = post(rig, route, body, signed_headers(rig, route, body, at))
    assert response.status_code == 401, response.text
    assert "tolerance" in response.json()["detail"].lower()
    assert _new_calls(rig, before) == []


@settings(max_examples=20, derandomize=True, deadline=None, database=None)
@given(route=st.sampled_from(["salesforce", "billing"]), event_id=EVENT_IDS)
def test_a_replay_within_the_tolerance_has_one_effect(rig: Rig, route: str, event_id: str) -> None:
    event_id = f"replay-{route}-{event_id}"  # ids of their own, apart from the fuzz runs'
    body = _salesforce_event(event_id) if route == "salesforce" else _billing_event(event_id)
    before = len(rig.client.calls)
    at = int(time.time()) - 10
    headers = signed_headers(rig, route, body, at)
    answers = [post(rig, route, body, headers) for _ in range(3)]
    statuses = [answer.status_code for answer in answers]
    calls = _new_calls(rig, before)
    if statuses[0] == 202:
        assert statuses == [202, 200, 200]
        assert [answer.json()["status"] for answer in answers[1:]] == ["duplicate"] * 2
        assert len(calls) == 1
    else:  # hypothesis replays an id it has already sent: a duplicate from the first
        assert statuses == [200, 200, 200]
        assert calls == []


# -- signed junk -----------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["opportunity.closed_won", "invoice.paid", "event", "invoice", "006A"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "type", "object", "data", "created", "metadata", "q2c_key"])
            | st.text(max_size=6),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)
SIGNED_JUNK = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from(
        [
            b'{"id": "e", "type": "opportunity.closed_won", "opportunity_id": '
            + b"9" * 5000
            + b"}",
            b'{"id": 1e999999999, "object": "event", "type": "invoice.paid", "data": {}}',
            b'{"id": "\\ud800", "type": "opportunity.closed_won", "opportunity_id": "006A"}',
            b'{"id": "e", "object": "event", "type": "invoice.paid", "created": 1e300,'
            b' "data": {"object": {"object": "invoice", "id": "in_1"}}}',
        ]
    ),
)


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(route=st.sampled_from(["salesforce", "billing"]), raw=SIGNED_JUNK)
def test_signed_junk_is_a_4xx_and_reaches_nothing(rig: Rig, route: str, raw: bytes) -> None:
    """A body that is no event, however it is broken, signed with the right secret (a sender's
    bug, or a leaked secret): a 4xx or an ignored 200, never a 5xx, nothing started."""
    before = len(rig.client.calls)
    response = post(rig, route, raw, signed_headers(rig, route, raw))
    assert response.headers["content-type"] == "application/json"
    answer = response.json()  # a well-formed answer, whatever the body held
    calls = _new_calls(rig, before)
    if response.status_code == 202:  # junk that happens to be a valid event
        assert len(calls) == 1
        return
    assert response.status_code in {200, 400, 422}, response.text
    assert calls == []
    if response.status_code == 200:
        assert answer["status"] in {"ignored", "duplicate"}


# -- forged signature headers ----------------------------------------------------------------

LATIN1 = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
)
TIMESTAMPS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=300, max_value=4000).map(lambda n: "9" * n),  # floats overflow
    st.just(str(int(time.time()))),
    LATIN1,
)
DIGESTS = st.one_of(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), LATIN1)
FORGED = st.one_of(
    LATIN1,
    st.lists(
        st.tuples(st.sampled_from(["t", "v1", "v0", "T", " t", "t "]), TIMESTAMPS | DIGESTS),
        max_size=5,
    ).map(lambda parts: ",".join(f"{key}={value}" for key, value in parts)),
    st.tuples(TIMESTAMPS, DIGESTS).map(lambda tv: f"t={tv[0]},v1={tv[1]}"),
)


@settings(max_examples=80, derandomize=True, deadline=None, database=None)
@given(route=st.sampled_from(["salesforce", "billing"]), header=FORGED)
def test_a_forged_signature_header_is_401_and_reaches_nothing(
    rig: Rig, route: str, header: str
) -> None:
    body = _salesforce_event("forged") if route == "salesforce" else _billing_event("forged")
    name = signature.HEADER if route == "salesforce" else STRIPE_SIGNATURE
    before = len(rig.client.calls)
    response = post(rig, route, body, [(name.encode(), header.encode("latin-1"))])
    assert response.status_code == 401, response.text
    assert _new_calls(rig, before) == []
