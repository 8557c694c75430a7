#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# the q2c ledger gets its own role and database, apart from Temporal's.
set -eu
: "${Q2C_LEDGER_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=password="$Q2C_LEDGER_PASSWORD" <<'SQL'
CREATE ROLE q2c LOGIN PASSWORD :'password';
CREATE DATABASE q2c OWNER q2c;
SQL
