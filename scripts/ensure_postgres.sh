#!/usr/bin/env bash
# Makes sure the PostgreSQL the ledger tests use answers on 127.0.0.1:5432.
# Starts the local cluster when it is down; says so loudly when it cannot.
set -u
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
ready && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "PostgreSQL is down; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
fi
echo "ERROR: PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started;" \
     "ledger tests need it (set Q2C_TEST_POSTGRES_URL to use another server)." >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
