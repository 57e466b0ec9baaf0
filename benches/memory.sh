#!/usr/bin/env bash
# Peak server memory of a big COPY and a big SELECT *, for one or more
# GrapeDB builds (and PostgreSQL 15 beside them).
#
#   benches/memory.sh LABEL=BINARY [LABEL=BINARY ...]
#
# For each build: a fresh server; `COPY big FROM STDIN` of ROWS rows
# (id int8 PRIMARY KEY, a text (~40 bytes), b float8) with psql's \copy;
# the server's peak resident memory (VmHWM) after it; then the server is
# restarted (VmHWM starts again: its value before the next statement is the
# idle server's) and `SELECT * FROM big` runs through psql to /dev/null,
# then `COPY big TO STDOUT`, then `UPDATE big SET b = b + 1`, then
# `DELETE FROM big`; VmHWM after each (a
# peak: each column is the largest so far since the restart). For
# PostgreSQL: the peak of the backend that ran the statement. Env: ROWS
# (default 5,000,000). Prints a markdown table; CSV in
# benches/results/memory.csv. Servers are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-5000000}
PORT=55460
PPORT=55461
WORK="$(mktemp -d /tmp/grape-mem.XXXXXX)"
chmod 755 "$WORK"
mkdir -p benches/results
PGBIN=/usr/lib/postgresql/15/bin
GPID=
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "generating $ROWS rows" >&2
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) printf "%d\tpayload number %d of the memory benchmark\t%d.5\n", i, i, i % 1000 }' > "$WORK/rows.tsv"

kib() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
mib() { echo $(( $1 / 1024 )); }

start() {
  "$1" start --data-dir "$WORK/grape" --listen 127.0.0.1:$PORT 2>>"$WORK/grape.log" &
  GPID=$!
  for _ in $(seq 1 150); do psql -h 127.0.0.1 -p $PORT -U grape -d grape -Atc 'SELECT 1' >/dev/null 2>&1 && return; sleep 0.2; done
  echo "server did not start" >&2; exit 1
}
stop() { kill "$GPID"; wait "$GPID" 2>/dev/null || true; GPID=; }
gsql() { psql -h 127.0.0.1 -p $PORT -U grape -d grape -v ON_ERROR_STOP=1 -q "$@"; }

echo "label,copy_in_mib,idle_mib,select_mib,copy_out_mib,update_mib,delete_mib,copy_s,select_s,update_s,delete_s" > benches/results/memory.csv
for spec in "$@"; do
  label=${spec%%=*}
  bin=${spec#*=}
  rm -rf "$WORK/grape"
  start "$bin"
  gsql -c "CREATE TABLE big (id int8 PRIMARY KEY, a text, b float8)"
  t0=$(date +%s.%N)
  gsql -c "\\copy big FROM '$WORK/rows.tsv'"
  t1=$(date +%s.%N)
  copy_in=$(kib "$GPID")
  [ "$(gsql -Atc 'SELECT count(*) FROM big')" = "$ROWS" ]
  stop
  start "$bin"
  idle=$(kib "$GPID")
  t2=$(date +%s.%N)
  gsql -c "SELECT * FROM big" -o /dev/null
  t3=$(date +%s.%N)
  select_mem=$(kib "$GPID")
  gsql -c "\\copy big TO '/dev/null'"
  copy_out=$(kib "$GPID")
  t4=$(date +%s.%N)
  gsql -c "UPDATE big SET b = b + 1"
  t6=$(date +%s.%N)
  update_mem=$(kib "$GPID")
  gsql -c "DELETE FROM big"
  t5=$(date +%s.%N)
  delete_mem=$(kib "$GPID")
  [ "$(gsql -Atc 'SELECT count(*) FROM big')" = "0" ]
  stop
  echo "$label,$(mib "$copy_in"),$(mib "$idle"),$(mib "$select_mem"),$(mib "$copy_out"),$(mib "$update_mem"),$(mib "$delete_mem"),$(echo "$t1 - $t0" | bc),$(echo "$t3 - $t2" | bc),$(echo "$t6 - $t4" | bc),$(echo "$t5 - $t6" | bc)" >> benches/results/memory.csv
done

# PostgreSQL 15: the backend's peak for the same statements.
mkdir -p "$WORK/pg" && chown postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -A trust -U grape >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -o "-p $PPORT -k $WORK/pg -c listen_addresses=127.0.0.1" -l "$WORK/pg/log" start >/dev/null
psql -h 127.0.0.1 -p $PPORT -U grape -d postgres -qc "CREATE DATABASE grape"
backend_run() {
  # Runs $1 in a backend and prints that backend's VmHWM (KiB) before it ends.
  psql -h 127.0.0.1 -p $PPORT -U grape -d grape -v ON_ERROR_STOP=1 -qAt -o /dev/null <<SQL
SELECT pg_backend_pid() AS pid \\gset
\\setenv BACKEND :pid
$1
\\! awk '/VmHWM/ { print \$2 }' /proc/\$BACKEND/status > $WORK/hwm
SQL
  cat "$WORK/hwm"
}
psql -h 127.0.0.1 -p $PPORT -U grape -d grape -qc "CREATE TABLE big (id int8 PRIMARY KEY, a text, b float8)"
t0=$(date +%s.%N)
pg_in=$(backend_run "\\copy big FROM '$WORK/rows.tsv'")
t1=$(date +%s.%N)
t2=$(date +%s.%N)
pg_sel=$(backend_run "SELECT * FROM big;")
t3=$(date +%s.%N)
pg_out=$(backend_run "\\copy big TO '/dev/null'")
t4=$(date +%s.%N)
pg_upd=$(backend_run "UPDATE big SET b = b + 1;")
t6=$(date +%s.%N)
pg_del=$(backend_run "DELETE FROM big;")
t5=$(date +%s.%N)
echo "postgresql,$(mib "$pg_in"),,$(mib "$pg_sel"),$(mib "$pg_out"),$(mib "$pg_upd"),$(mib "$pg_del"),$(echo "$t1 - $t0" | bc),$(echo "$t3 - $t2" | bc),$(echo "$t6 - $t4" | bc),$(echo "$t5 - $t6" | bc)" >> benches/results/memory.csv

echo "| server | COPY FROM peak MiB | restarted, idle MiB | SELECT * peak MiB | then COPY TO peak MiB | then UPDATE (all rows) peak MiB | then DELETE (all rows) peak MiB | COPY FROM s | SELECT * s | UPDATE s | DELETE s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
tail -n +2 benches/results/memory.csv | awk -F, '{ printf "| %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }'
