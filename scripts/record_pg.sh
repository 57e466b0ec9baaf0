#!/usr/bin/env bash
# Record PostgreSQL 15's answers into tests/pg/*.slt: starts a private
# PostgreSQL 15 (Debian's postgresql-15 with pgvector 0.8.6 built against
# it; a developer's tool, CI does not need it), runs every file there (a scratch database each, via
# sqllogictest's override) and stops it. Commit the rewritten files; CI
# compares GrapeDB with them and needs no PostgreSQL (tests/it/pg_areas.rs).
#
#   scripts/record_pg.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-55450}
source scripts/private_pg.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/grapedb-target}"
GRAPEDB_RECORD_PG="host=127.0.0.1 port=$PORT user=grape" \
  cargo test --test it record_sql_areas_from_postgresql -- --ignored --nocapture
