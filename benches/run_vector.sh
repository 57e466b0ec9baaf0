#!/usr/bin/env bash
# GrapeDB vs PostgreSQL 15 + pgvector, side by side, same harness and SQL:
# 100,000 x 128 clustered vectors (L2) and the 384-d sentence embeddings
# (cosine). Needs a release grapedb (GRAPEDB_BIN), PostgreSQL 15 with pgvector
# installed (benches/README.md) and the Python client packages.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GRAPEDB_BIN:-${CARGO_TARGET_DIR:-target}/release/grapedb}
SECONDS_PER=${SECONDS_PER:-10}
DATA=${DATA:-../shared/data/minilm-man-384}
PGBIN=/usr/lib/postgresql/15/bin
OUT=benches/results/vector.csv
# A fine sweep, so each system is read at its own best point for a recall.
EFS=${EFS:-10,15,20,25,30,40,60,80,100,150,200}
mkdir -p benches/results
rm -f "$OUT"

run_grape() {  # dataset metric [label [extra harness options]]
  rm -rf /tmp/gbench
  "$BIN" start --data-dir /tmp/gbench --listen 127.0.0.1:55433 > /tmp/gbench.log 2>&1 &
  local pid=$!
  sleep 3
  python3 benches/vector_bench.py --dsn "host=127.0.0.1 port=55433 user=grape" --label "${3:-grapedb}" \
    --dataset "$1" --metric "$2" --server-pid "$pid" --seconds "$SECONDS_PER" --ef-search "$EFS" --out "$OUT" "${@:4}" | tee -a benches/results/vector.md
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_pg() {  # dataset metric
  runuser -u postgres -- "$PGBIN/pg_ctl" -D /tmp/pgbench-data -m fast stop > /dev/null 2>&1 || true
  rm -rf /tmp/pgbench-data && mkdir -p /tmp/pgbench-data && chown postgres /tmp/pgbench-data
  runuser -u postgres -- "$PGBIN/initdb" -D /tmp/pgbench-data -A trust > /dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D /tmp/pgbench-data -l /tmp/pgbench.log \
    -o "-p 55439 -k /tmp -c shared_buffers=2GB -c maintenance_work_mem=2GB -c max_parallel_maintenance_workers=2" -w start > /dev/null
  python3 benches/vector_bench.py --dsn "host=127.0.0.1 port=55439 user=postgres" --label pgvector \
    --dataset "$1" --metric "$2" --seconds "$SECONDS_PER" --ef-search "$EFS" --out "$OUT" | tee -a benches/results/vector.md
  runuser -u postgres -- "$PGBIN/pg_ctl" -D /tmp/pgbench-data -m fast stop > /dev/null
}

: > benches/results/vector.md
for ds in "synthetic:100000:128 l2" "npy:$DATA cosine"; do
  set -- $ds
  run_grape "$1" "$2"
  run_pg "$1" "$2"
done
# GrapeDB's storage options: 1-bit codes with re-ranking on the embeddings,
# half-precision graphs on the clustered set.
run_grape "npy:$DATA" cosine grapedb-binary --quantization binary
run_grape synthetic:100000:128 l2 grapedb-halfvec --quantization halfvec
python3 benches/summarize.py "$OUT" | tee benches/results/summary.md
echo "results: $OUT, benches/results/vector.md and benches/results/summary.md"
