"""Processes racing on the same keys: the database, not a read-then-write, picks one winner."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.pool import Pool
from threading import Barrier

import pytest

from adapters.database import make_engine
from adapters.errors import IdempotencyConflictError
from adapters.ledger import Ledger

RACERS = 4
KEYS = 25


def _race(url: str, racer: int, barrier: Barrier, same_hash: bool) -> list[tuple[str, str]]:
    """Record every key as `racer`; report, per key, whose response came back (or the conflict)."""
    engine = make_engine(url)
    ledger = Ledger(engine)
    outcome: list[tuple[str, str]] = []
    try:
        with engine.connect():  # connect before the start line so the race is on the insert
            pass
        for n in range(KEYS):
            barrier.wait(timeout=30)  # every key starts a fresh race among all racers
            key = f"contract-OPP-9:journal:{n}"
            digest = "same" if same_hash else f"hash-{racer}"
            try:
                got = ledger.record(key, digest, {"by": racer}, "erp", "journal", "OPP-9")
                outcome.append((key, str(got.response["by"])))
            except IdempotencyConflictError:
                outcome.append((key, "conflict"))
    finally:
        engine.dispose()
    return outcome


@pytest.fixture(scope="module")
def racers() -> Iterator[tuple[Pool, Barrier]]:
    """Fresh interpreters (spawn: no inherited threads or connections), shared by the tests."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(RACERS) as pool:
        yield pool, manager.Barrier(RACERS)


@pytest.mark.parametrize("same_hash", [True, False], ids=["same-request", "other-request"])
def test_racing_processes_one_winner_per_key(
    ledger_url: str, same_hash: bool, racers: tuple[Pool, Barrier]
) -> None:
    pool, barrier = racers
    engine = make_engine(ledger_url)
    ledger = Ledger(engine)
    ledger.create_tables()
    results = pool.starmap(
        _race, [(ledger_url, racer, barrier, same_hash) for racer in range(RACERS)]
    )
    effects = ledger.effects_for("OPP-9")
    engine.dispose()
    assert len(effects) == KEYS
    winners = {e.key: str(e.response["by"]) for e in effects}
    for n in range(KEYS):
        key = f"contract-OPP-9:journal:{n}"
        seen = [dict(result)[key] for result in results]
        winner = winners[key]
        if same_hash:
            # every racer, winner and losers alike, got the winner's record back
            assert seen == [winner] * RACERS
        else:
            # exactly the winner got its own record; every other racer was refused
            assert sorted(seen) == sorted([winner] + ["conflict"] * (RACERS - 1))
