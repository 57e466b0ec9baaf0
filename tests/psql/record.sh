#!/usr/bin/env bash
# Record the expected output of tests/psql/NAME.sql from PostgreSQL itself:
#   tests/psql/record.sh NAME PORT
# PORT: a PostgreSQL 15 on 127.0.0.1 (user grape, trust auth); the script
# runs in a scratch database made for it and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")"
name=$1 port=$2
db="record_$$"
psql -X -q -h 127.0.0.1 -p "$port" -U grape -d postgres -c "CREATE DATABASE $db"
psql -X -h 127.0.0.1 -p "$port" -U grape -d "$db" -v ON_ERROR_STOP=0 -f "$name.sql" > "$name.out" 2>&1 || true
psql -X -q -h 127.0.0.1 -p "$port" -U grape -d postgres -c "DROP DATABASE $db"
echo "wrote tests/psql/$name.out"
