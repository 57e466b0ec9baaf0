#!/usr/bin/env bash
# Baseline benchmark: GrapeDB vs PostgreSQL 15 on the same machine, same way.
#
#   benches/pgbench.sh [seconds]        (default 30 s per run)
#
# Builds GrapeDB in release mode, starts it and a throwaway PostgreSQL 15
# cluster (Debian's package, default durability: fsync and synchronous_commit
# on) on loopback ports, and runs pgbench custom scripts against both:
# primary-key point SELECT (-M simple and -M prepared, 1 and 8 clients) and
# single-row INSERT (1 and 8 clients); a transfer transaction shaped like
# pgbench's built-in TPC-B-like script (BEGIN; UPDATE an account, SELECT it,
# UPDATE a teller and a branch, INSERT a history row; COMMIT) at scale 1
# (100,000 accounts, 10 tellers, 1 branch), 1 and 8 clients, serialization
# failures retried up to 20 times (--max-tries; failures counted, not in tps);
# then COPY of 1,000,000 rows
# (id int8, a text, b float8). Prints a markdown table and writes CSV to
# benches/results/pgbench.csv. Every run is bounded by -T; servers are stopped
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-30}"
# WORKLOADS: which of them to run (default all).
WORKLOADS="${WORKLOADS:-select insert tpcb copy}"
has() { [[ " $WORKLOADS " == *" $1 "* ]]; }
ROWS_POINT="${ROWS_POINT:-100000}"
ROWS_COPY="${ROWS_COPY:-1000000}"
GPORT=55433
PPORT=55432
WORK="$(mktemp -d /tmp/grape-bench.XXXXXX)"
chmod 755 "$WORK"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/grapedb-target}"
mkdir -p benches/results

PGBIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PGBIN/initdb" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-client >/dev/null
fi
command -v pgbench >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null

# GRAPEDB_BIN=path skips the build (for trying the script itself).
if [ -z "${GRAPEDB_BIN:-}" ]; then
  cargo build --release --bin grapedb
  GRAPEDB_BIN="$CARGO_TARGET_DIR/release/grapedb"
fi

cleanup() {
  [ -n "${GPID:-}" ] && kill "$GPID" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL 15, default settings (durable commits).
mkdir -p "$WORK/pg" && touch "$WORK/pg.log" && chown postgres "$WORK/pg" "$WORK/pg.log"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -A trust -U grape >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -o "-p $PPORT -k $WORK/pg -c listen_addresses=127.0.0.1" -l "$WORK/pg.log" start >/dev/null
createdb -h 127.0.0.1 -p $PPORT -U grape grape 2>/dev/null || true

# GrapeDB, default settings.
"$GRAPEDB_BIN" start --data-dir "$WORK/grape" --listen 127.0.0.1:$GPORT 2>"$WORK/grape.log" &
GPID=$!
for _ in $(seq 1 100); do psql -h 127.0.0.1 -p $GPORT -U grape -d grape -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done

cat > "$WORK/select.sql" <<SQL
\set id random(1, $ROWS_POINT)
SELECT a, b FROM kv WHERE id = :id;
SQL
cat > "$WORK/insert.sql" <<'SQL'
INSERT INTO ins (a, b) VALUES ('payload', 1.5);
SQL
cat > "$WORK/tpcb.sql" <<'SQL'
\set aid random(1, 100000)
\set bid 1
\set tid random(1, 10)
\set delta random(-5000, 5000)
BEGIN;
UPDATE tb_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM tb_accounts WHERE aid = :aid;
UPDATE tb_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE tb_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO tb_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
COMMIT;
SQL
python3 - "$WORK/copy.csv" $ROWS_COPY <<'PY'
import sys
n = int(sys.argv[2])
with open(sys.argv[1], "w") as f:
    for i in range(1, n + 1):
        f.write(f"{i},row-{i}-abcdefghij,{i * 0.25}\n")
PY

echo "target,workload,mode,clients,tps,avg_latency_ms" > benches/results/pgbench.csv
echo "target,clients,tpcb_failed_transactions" > benches/results/pgbench-failed.csv
run() { # name port
  local name=$1 port=$2
  local P="psql -X -q -h 127.0.0.1 -p $port -U grape -d grape"
  $P -c "DROP TABLE IF EXISTS kv; DROP TABLE IF EXISTS ins; DROP TABLE IF EXISTS bulk" >/dev/null
  $P -c "CREATE TABLE kv (id int8 PRIMARY KEY, a text, b float8)"
  $P -c "CREATE TABLE ins (id bigserial PRIMARY KEY, a text, b float8)"
  $P -c "CREATE TABLE bulk (id int8, a text, b float8)"
  head -n $ROWS_POINT "$WORK/copy.csv" | $P -c "\copy kv FROM pstdin CSV"
  for mode in simple prepared; do
    has select || continue
    for c in 1 8; do
      out=$(pgbench -n -h 127.0.0.1 -p "$port" -U grape -M $mode -c $c -j $c -T "$DUR" -f "$WORK/select.sql" grape 2>&1)
      tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'); lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
      echo "$name,point-select,$mode,$c,$tps,$lat" >> benches/results/pgbench.csv
    done
  done
  for c in 1 8; do
    has insert || continue
    out=$(pgbench -n -h 127.0.0.1 -p "$port" -U grape -M prepared -c $c -j $c -T "$DUR" -f "$WORK/insert.sql" grape 2>&1)
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'); lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
    echo "$name,insert,prepared,$c,$tps,$lat" >> benches/results/pgbench.csv
  done
  $P -c "DROP TABLE IF EXISTS tb_accounts; DROP TABLE IF EXISTS tb_tellers; DROP TABLE IF EXISTS tb_branches; DROP TABLE IF EXISTS tb_history" >/dev/null
  $P -c "CREATE TABLE tb_accounts (aid int PRIMARY KEY, bid int, abalance int, filler text)"
  $P -c "CREATE TABLE tb_tellers (tid int PRIMARY KEY, bid int, tbalance int)"
  $P -c "CREATE TABLE tb_branches (bid int PRIMARY KEY, bbalance int)"
  $P -c "CREATE TABLE tb_history (tid int, bid int, aid int, delta int, mtime timestamp)"
  $P -c "INSERT INTO tb_branches VALUES (1, 0)"
  $P -c "INSERT INTO tb_tellers VALUES (1,1,0),(2,1,0),(3,1,0),(4,1,0),(5,1,0),(6,1,0),(7,1,0),(8,1,0),(9,1,0),(10,1,0)"
  head -n 100000 "$WORK/copy.csv" | cut -d, -f1 | sed 's/$/,1,0,filler/' | $P -c "\copy tb_accounts FROM pstdin CSV"
  for c in 1 8; do
    has tpcb || continue
    out=$(pgbench -n -h 127.0.0.1 -p "$port" -U grape -M prepared -c $c -j $c -T "$DUR" --max-tries 20 -f "$WORK/tpcb.sql" grape 2>&1 || true)
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'); lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
    failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
    echo "$name,tpcb-like,prepared,$c,$tps,$lat" >> benches/results/pgbench.csv
    echo "$name,$c,${failed:-?}" >> benches/results/pgbench-failed.csv
  done
  has copy || return 0
  local t0=$(date +%s.%N)
  $P -c "\copy bulk FROM '$WORK/copy.csv' CSV"
  local t1=$(date +%s.%N)
  python3 -c "import sys; s=$t1-$t0; print(f'$name,copy-1M,csv,1,{$ROWS_COPY/s:.0f},{s*1000:.0f}')" >> benches/results/pgbench.csv
}
run postgresql $PPORT
run grapedb $GPORT

python3 - <<'PY'
import csv
rows = list(csv.DictReader(open("benches/results/pgbench.csv")))
key = lambda r: (r["workload"], r["mode"], r["clients"])
pg = {key(r): r for r in rows if r["target"] == "postgresql"}
print("| workload | mode | clients | GrapeDB tps | PostgreSQL tps | ratio | GrapeDB avg ms | PostgreSQL avg ms |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    if r["target"] != "grapedb":
        continue
    p = pg.get(key(r))
    g_t, p_t = float(r["tps"] or 0), float(p["tps"] or 0) if p else 0
    ratio = f"{g_t / p_t:.2f}" if p_t else "-"
    unit = " (rows/s; ms = total)" if r["workload"].startswith("copy") else ""
    print(f"| {r['workload']}{unit} | {r['mode']} | {r['clients']} | {g_t:.0f} | {p_t:.0f} | {ratio} | {r['avg_latency_ms']} | {p['avg_latency_ms'] if p else '-'} |")
PY
echo
echo "TPC-B-like transactions that failed after 20 tries:"
column -s, -t benches/results/pgbench-failed.csv
