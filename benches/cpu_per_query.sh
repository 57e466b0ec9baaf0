#!/usr/bin/env bash
# Server CPU time per point SELECT, for one or more GrapeDB builds: a fresh
# server, a 10,000-row table, then N (default 5,000) single-client pgbench
# transactions of `SELECT a, b FROM kv WHERE id = :id`; the server's
# user+system CPU over them (from /proc) divided by N, with pgbench's tps.
# A single client's rate is bound by this figure; unlike tps it hardly
# moves with the machine's other load.
#
#   benches/cpu_per_query.sh LABEL=BINARY [LABEL=BINARY ...]
#
# Env: N, MODE (prepared or simple; default prepared), ROUNDS (default 2:
# the builds alternate).
set -euo pipefail
N=${N:-5000}
MODE=${MODE:-prepared}
ROUNDS=${ROUNDS:-2}
PORT=55470
WORK="$(mktemp -d /tmp/grape-cpu.XXXXXX)"
GPID=
cleanup() { [ -n "$GPID" ] && kill "$GPID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cat > "$WORK/select.sql" <<'SQL'
\set id random(1, 10000)
SELECT a, b FROM kv WHERE id = :id;
SQL
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
echo "| build | round | mode | tps | server CPU ms per query |"
echo "| --- | --- | --- | --- | --- |"
for round in $(seq 1 "$ROUNDS"); do
  for spec in "$@"; do
    label=${spec%%=*}
    bin=${spec#*=}
    rm -rf "$WORK/data"
    "$bin" start --data-dir "$WORK/data" --listen 127.0.0.1:$PORT > "$WORK/server.log" 2>&1 &
    GPID=$!
    for _ in $(seq 1 100); do psql -h 127.0.0.1 -p $PORT -U grape -d grape -Atc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
    psql -q -h 127.0.0.1 -p $PORT -U grape -d grape \
      -c "CREATE TABLE kv (id int8 PRIMARY KEY, a text, b float8)" \
      -c "INSERT INTO kv SELECT value, 'x', 1.5 FROM generate_series(1, 10000)"
    sleep 1
    t0=$(cpu "$GPID")
    tps=$(pgbench -n -h 127.0.0.1 -p $PORT -U grape -M "$MODE" -c 1 -j 1 -t "$N" -f "$WORK/select.sql" grape 2>&1 \
      | awk '/^tps/ { print $3; exit }')
    t1=$(cpu "$GPID")
    kill "$GPID"; wait "$GPID" 2>/dev/null || true; GPID=
    ms=$(echo "scale=3; ($t1 - $t0) * 1000 / $tick / $N" | bc)
    printf "| %s | %s | %s | %.0f | %s |\n" "$label" "$round" "$MODE" "$tps" "$ms"
  done
done
