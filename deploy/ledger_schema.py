"""One-shot: create the q2c ledger's tables before any worker starts (`docker compose` runs it).

Workers create the tables too when they start, but several workers starting at once on an
empty PostgreSQL database race on CREATE TABLE (two sessions creating the same type), and
all but one crash. Running this once first leaves them nothing to create. Settings as the
worker reads them (Q2C_DATABASE_URL); exits 2 with one line when the database is unreachable.
"""

from __future__ import annotations

import sys


def main() -> int:
    from adapters.database import check_database, make_engine
    from adapters.ledger import Ledger
    from adapters.reconciliation_store import ReconciliationStore
    from adapters.settings import ConfigError, get_settings

    try:
        engine = make_engine(get_settings().database_url)
        backend = check_database(engine)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        Ledger(engine).create_tables()
        ReconciliationStore(engine).create_tables()
    finally:
        engine.dispose()
    print(f"ledger tables ready ({backend})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
