#!/usr/bin/env bash
# Record PostgreSQL 15's side of the client tests: runs each script
# (tests/clients/NAME.py, tests/clients/node/NAME.mjs) against a private PostgreSQL 15 + pgvector 0.8.6
# (a scratch database each) and writes its output to NAME.out, which
# tests/it/clients.rs compares GrapeDB's with. A developer's tool: CI
# needs no PostgreSQL. Run from the repository, with scripts/setup.sh's
# virtual environment on PATH:
#
#   bash tests/clients/record.sh [asyncpg_client.py node/node_pg.mjs ...]
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-55451}
source ../../scripts/private_pg.sh
# Scripts: NAME.py (Python), node/NAME.mjs (Node.js, its packages in
# node/node_modules: `npm ci --prefix node`) and jdbc/NAME.java (Java 17,
# Debian's pgjdbc in /usr/share/java/postgresql.jar).
scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
  scripts=(*.py node/*.mjs jdbc/*.java)
fi
for script in "${scripts[@]}"; do
  base="${script%.*}"
  db="rec_$(basename "$base" | tr 'A-Z' 'a-z')"
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U grape "$db"
  case "$script" in
    *.py) python3 "$script" 127.0.0.1 "$PORT" "$db" > "$base.out" ;;
    *.mjs) node "$script" 127.0.0.1 "$PORT" "$db" > "$base.out" ;;
    *.java) java -cp /usr/share/java/postgresql.jar "$script" 127.0.0.1 "$PORT" "$db" > "$base.out" ;;
    *) echo "record.sh: $script is not .py, .mjs or .java" >&2; exit 1 ;;
  esac
  echo "recorded tests/clients/$base.out"
done
