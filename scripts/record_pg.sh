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
PGBIN=/usr/lib/postgresql/15/bin
PORT=${PORT:-55450}
if [ ! -x "$PGBIN/initdb" ] || [ ! -f /usr/lib/postgresql/15/lib/vector.so ]; then
  echo "record_pg.sh needs PostgreSQL 15 with pgvector 0.8.6:" >&2
  echo "  apt-get install postgresql-15 postgresql-server-dev-15" >&2
  echo "  then in a checkout of pgvector v0.8.6: make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config && make install" >&2
  exit 1
fi
WORK="$(mktemp -d /tmp/grape-record.XXXXXX)"
chmod 755 "$WORK"
cleanup() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/pg" && chown postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -A trust -U grape >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -o "-p $PORT -k $WORK/pg -c listen_addresses=127.0.0.1" -l "$WORK/pg/log" start >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/grapedb-target}"
GRAPEDB_RECORD_PG="host=127.0.0.1 port=$PORT user=grape" \
  cargo test --test it record_sql_areas_from_postgresql -- --ignored --nocapture
