#!/usr/bin/env bash
# Record what pg_dump prints for tests/pg_dump/schema.sql on PostgreSQL 15
# + pgvector into tests/pg_dump/expected.sql (and --schema-only's into
# expected_schema_only.sql) (tests/it/pg_dump.rs compares
# GrapeDB's dump of the same schema with it):
#   tests/pg_dump/record.sh PORT
# PORT: a PostgreSQL 15 on 127.0.0.1 (user grape, trust auth); the script
# runs in a scratch database made for it and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")"
port=$1
db="record_$$"
psql -X -q -h 127.0.0.1 -p "$port" -U grape -d postgres -c "CREATE DATABASE $db"
psql -X -q -h 127.0.0.1 -p "$port" -U grape -d "$db" -v ON_ERROR_STOP=1 -f schema.sql > /dev/null
pg_dump -h 127.0.0.1 -p "$port" -U grape "$db" > expected.sql
pg_dump --schema-only -h 127.0.0.1 -p "$port" -U grape "$db" > expected_schema_only.sql
psql -X -q -h 127.0.0.1 -p "$port" -U grape -d postgres -c "DROP DATABASE $db"
echo "wrote tests/pg_dump/expected.sql and expected_schema_only.sql"
