#!/usr/bin/env bash
# Before/after: the same benchmarks against several GrapeDB builds on the
# same machine in one run (for a change that must not move the figures).
#
#   benches/compare_builds.sh LABEL=BINARY [LABEL=BINARY ...]
#
# Build each binary first, e.g. `git worktree add /tmp/old <commit>` and
# `cargo build --release --bin grapedb` there (copy it out before the next
# build: all worktrees share one target directory). For each build: pgbench.sh
# (PostgreSQL 15 runs beside each, as a noise gauge) and vector_bench.py on
# 100,000 x 128 synthetic vectors (L2; load, HNSW build, recall and QPS at
# ef_search $EFS). Env: DUR (pgbench seconds per run, default 15), EFS
# (default 40,100), SECONDS_PER (QPS seconds, default 5), WORKLOADS (which
# pgbench workloads: default "select insert tpcb copy"), VECTORS=0 (skip the
# vector part). Results:
# benches/results/compare-pgbench.csv and compare-vector.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-15}
EFS=${EFS:-40,100}
SECONDS_PER=${SECONDS_PER:-5}
mkdir -p benches/results
: > benches/results/compare-pgbench.csv
: > benches/results/compare-failed.csv
rm -f benches/results/compare-vector.csv
for spec in "$@"; do
  label=${spec%%=*}
  bin=${spec#*=}
  GRAPEDB_BIN="$bin" benches/pgbench.sh "$DUR" > /dev/null
  sed "s/^grapedb,/$label,/" benches/results/pgbench.csv | grep -v '^target,' >> benches/results/compare-pgbench.csv
  sed "s/^grapedb,/$label,/" benches/results/pgbench-failed.csv | { grep -v '^target,' || true; } >> benches/results/compare-failed.csv
  [ "${VECTORS:-1}" = 0 ] && continue
  rm -rf /tmp/gcompare
  "$bin" start --data-dir /tmp/gcompare --listen 127.0.0.1:55433 > /tmp/gcompare.log 2>&1 &
  pid=$!
  sleep 3
  python3 benches/vector_bench.py --dsn "host=127.0.0.1 port=55433 user=grape" --label "$label" \
    --dataset synthetic:100000:128 --metric l2 --server-pid "$pid" --seconds "$SECONDS_PER" \
    --ef-search "$EFS" --out benches/results/compare-vector.csv > /dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf /tmp/gcompare
done
echo "pgbench (tps; postgresql rows: the reference measured beside each build)"
sort -t, -k2,2 -k3,3 -k4,4n -s benches/results/compare-pgbench.csv | column -s, -t
echo
if [ -f benches/results/compare-vector.csv ]; then
  echo "vector_bench (synthetic 100,000 x 128, L2)"
  column -s, -t < benches/results/compare-vector.csv
fi
echo
echo "TPC-B-like transactions failed after 20 tries (label/postgresql, clients, failed)"
column -s, -t benches/results/compare-failed.csv
