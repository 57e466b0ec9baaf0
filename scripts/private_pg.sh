# Sourced by the recording scripts (scripts/record_pg.sh,
# scripts/record_pg_opclass.sh, tests/clients/record.sh): starts a private
# PostgreSQL 15 + pgvector 0.8.6 on 127.0.0.1:$PORT in a scratch directory,
# user grape, trust authentication, and stops and removes it when the
# sourcing script exits. A developer's tool: CI needs no PostgreSQL.
PGBIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PGBIN/initdb" ] || [ ! -f /usr/lib/postgresql/15/lib/vector.so ]; then
  echo "$(basename "$0") needs PostgreSQL 15 with pgvector 0.8.6:" >&2
  echo "  apt-get install postgresql-15 postgresql-server-dev-15" >&2
  echo "  then in a checkout of pgvector v0.8.6: make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config && make install" >&2
  exit 1
fi
PG_WORK="$(mktemp -d /tmp/grape-pg.XXXXXX)"
chmod 755 "$PG_WORK"
_private_pg_stop() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_WORK/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PG_WORK"
}
trap _private_pg_stop EXIT
mkdir -p "$PG_WORK/pg" && chown postgres "$PG_WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$PG_WORK/pg" -A trust -U grape >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_WORK/pg" \
  -o "-p $PORT -k $PG_WORK/pg -c listen_addresses=127.0.0.1" -l "$PG_WORK/pg/log" start >/dev/null
