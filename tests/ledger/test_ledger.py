"""The ledger on SQLite and PostgreSQL: effects once per key, conflicts refused, trail immutable."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from adapters.database import make_engine
from adapters.errors import BusinessError, IdempotencyConflictError
from adapters.ledger import Ledger, request_hash
from adapters.webhook_events import WebhookEvents


@pytest.fixture
def engine(ledger_url: str):
    engine = make_engine(ledger_url)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    ledger = Ledger(engine)
    ledger.create_tables()
    return ledger


KEY = "contract-OPP-1:invoice:2026-03"


def test_request_hash_is_canonical() -> None:
    a = {"amount": Decimal("10.00"), "date": date(2026, 3, 1), "lines": [1, 2]}
    b = {"lines": [1, 2], "date": date(2026, 3, 1), "amount": Decimal("10.00")}
    assert request_hash(a) == request_hash(b)
    assert len(request_hash(a)) == 64
    assert request_hash(a) != request_hash({**a, "amount": Decimal("10.01")})
    assert request_hash(a) != request_hash({**a, "lines": [2, 1]})


def test_create_tables_twice(ledger: Ledger) -> None:
    ledger.create_tables()
    assert ledger.lookup(KEY) is None


def test_record_then_lookup(ledger: Ledger) -> None:
    h = request_hash({"x": 1})
    rec = ledger.record(
        KEY, h, {"id": "in_1", "total": Decimal("5.00")}, "billing", "invoice", "OPP-1"
    )
    assert rec.response == {"id": "in_1", "total": "5.00"}
    found = ledger.lookup(KEY)
    assert found is not None
    assert (found.key, found.request_hash, found.response) == (KEY, h, rec.response)
    assert (found.system, found.kind, found.contract_id) == ("billing", "invoice", "OPP-1")
    assert found.created_at.tzinfo is not None


def test_same_key_same_request_returns_the_first_response(ledger: Ledger) -> None:
    h = request_hash({"x": 1})
    first = ledger.record(KEY, h, {"id": "in_1"}, "billing", "invoice", "OPP-1")
    again = ledger.record(KEY, h, {"id": "in_2"}, "billing", "invoice", "OPP-1")
    assert again.response == first.response == {"id": "in_1"}


def test_a_new_record_is_one_statement_and_a_repeat_reads_the_winner(
    ledger: Ledger, engine: Engine
) -> None:
    """The insert itself says whether it made the row (RETURNING): a PostgreSQL INSERT's
    rowcount reads -1 through SQLAlchemy, which once sent every record on to a lookup."""
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", seen)
    try:
        h = request_hash({"x": 1})
        ledger.record(KEY, h, {"id": "in_1"}, "billing", "invoice", "OPP-1")
        assert statements == ["INSERT"]
        statements.clear()
        ledger.record(KEY, h, {"id": "in_2"}, "billing", "invoice", "OPP-1")
        assert statements == ["INSERT", "SELECT"]
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def test_webhook_event_recorded_once(engine: Engine) -> None:
    events = WebhookEvents(engine)
    events.create_tables()
    assert events.record("billing", "evt_1", "invoice.paid", "contract-OPP-1") is True
    assert events.record("billing", "evt_1", "invoice.paid", "contract-OPP-1") is False
    assert events.seen("billing", "evt_1")


def test_same_key_other_request_is_refused(ledger: Ledger) -> None:
    ledger.record(KEY, request_hash({"x": 1}), {"id": "in_1"}, "billing", "invoice", "OPP-1")
    with pytest.raises(IdempotencyConflictError) as info:
        ledger.record(KEY, request_hash({"x": 2}), {"id": "in_2"}, "billing", "invoice", "OPP-1")
    assert isinstance(info.value, BusinessError)
    assert info.value.code == "idempotency_conflict"
    assert ledger.lookup(KEY).response == {"id": "in_1"}  # type: ignore[union-attr]


def test_effects_for_contract(ledger: Ledger) -> None:
    for n in range(3):
        ledger.record(
            f"contract-OPP-1:invoice:2026-0{n + 1}", "h", {"n": n}, "billing", "invoice", "OPP-1"
        )
    ledger.record("contract-OPP-2:invoice:2026-01", "h", {}, "billing", "invoice", "OPP-2")
    assert [e.response["n"] for e in ledger.effects_for("OPP-1")] == [0, 1, 2]
    assert ledger.effects_for("OPP-3") == []


def test_audit_trail_in_order(ledger: Ledger) -> None:
    ledger.audit("OPP-1", "stage", {"to": "Validating"})
    ledger.audit("OPP-2", "stage", {"to": "Validating"})
    ledger.audit("OPP-1", "stage", {"to": "Active", "amount": Decimal("1.50")})
    trail = ledger.audit_trail("OPP-1")
    assert [(e.event, e.detail) for e in trail] == [
        ("stage", {"to": "Validating"}),
        ("stage", {"to": "Active", "amount": "1.50"}),
    ]
    assert trail[0].id is not None and trail[1].id is not None and trail[0].id < trail[1].id
    assert not hasattr(ledger, "update_audit") and not hasattr(ledger, "delete_audit")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE q2c_audit_event SET event = 'forged'",
        "DELETE FROM q2c_audit_event",
    ],
)
def test_database_refuses_audit_edits(ledger: Ledger, engine: Engine, statement: str) -> None:
    ledger.audit("OPP-1", "stage", {"to": "Active"})
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))
    assert [e.event for e in ledger.audit_trail("OPP-1")] == ["stage"]


def test_postgres_refuses_audit_truncate(postgres_url: str) -> None:
    """SQLite has no TRUNCATE; its DELETE without WHERE is refused above."""
    engine = make_engine(postgres_url)
    try:
        ledger = Ledger(engine)
        ledger.create_tables()
        ledger.audit("OPP-1", "stage", {"to": "Active"})
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE q2c_audit_event"))
        assert len(ledger.audit_trail("OPP-1")) == 1
    finally:
        engine.dispose()


def test_workers_starting_together_create_the_schema_once(ledger_url: str) -> None:
    """Several workers start at once on an empty database: none fails creating the tables."""
    engines = [make_engine(ledger_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        barrier.wait()
        try:
            Ledger(engine).create_tables()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    Ledger(engines[0]).record("k", request_hash({"a": 1}), {"ok": True}, "billing", "x", "C-1")
    assert Ledger(engines[1]).lookup("k") is not None
    for engine in engines:
        engine.dispose()
