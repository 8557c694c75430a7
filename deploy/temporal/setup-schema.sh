#!/bin/sh
# One-shot (temporalio/admin-tools): create Temporal's two PostgreSQL databases and bring their
# schemas to the version this admin-tools release ships. Safe to run on every `docker compose
# up`: a database that exists is not created again, a schema already set up is only updated.
set -eu

: "${SQL_HOST:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
SQL_PORT="${SQL_PORT:-5432}"
SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12
export PGPASSWORD="$SQL_PASSWORD"

psql_q() {  # database, query -> first column of the answer
  psql -h "$SQL_HOST" -p "$SQL_PORT" -U "$SQL_USER" -d "$1" -tAc "$2"
}

until pg_isready -q -h "$SQL_HOST" -p "$SQL_PORT" -U "$SQL_USER"; do
  echo "waiting for PostgreSQL at $SQL_HOST:$SQL_PORT"
  sleep 2
done

for pair in "temporal:temporal" "temporal_visibility:visibility"; do
  db="${pair%%:*}"
  schema="${pair#*:}"
  sql_tool() {
    # The tool reads the password from SQL_PASSWORD.
    temporal-sql-tool --plugin "$SQL_PLUGIN" --ep "$SQL_HOST" -p "$SQL_PORT" -u "$SQL_USER" \
      --db "$db" "$@"
  }
  if [ "$(psql_q postgres "SELECT 1 FROM pg_database WHERE datname = '$db'")" != "1" ]; then
    echo "creating database $db"
    sql_tool create
  fi
  if [ "$(psql_q "$db" "SELECT to_regclass('public.schema_version') IS NOT NULL")" != "t" ]; then
    echo "initialising the schema of $db"
    sql_tool setup-schema -v 0.0
  fi
  echo "updating the schema of $db"
  sql_tool update-schema -d "$SCHEMA_ROOT/$schema/versioned"
done
echo "Temporal schemas are up to date"
