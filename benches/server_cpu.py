"""Server CPU time per KNN query, 1 client, against a loaded bench_items table.

QPS on this 2-core machine mixes the server's cost with the Python client's
and the scheduler's; the server's own CPU time per query (utime + stime of
its process, read from /proc around a bounded loop) is steadier and is what
4 clients on 2 cores are bound by. Works for GrapeDB (pass the server's pid)
and PostgreSQL (the backend's pid is found with pg_backend_pid()).

  python3 benches/server_cpu.py --dsn "host=127.0.0.1 port=55433 user=grape" \
      --pid PID --dataset npy:../shared/data/minilm-man-384 --metric cosine --ef 20
  python3 benches/server_cpu.py --dsn "host=127.0.0.1 port=55439 user=postgres" \
      --dataset npy:../shared/data/minilm-man-384 --metric cosine --ef 20

Load the table first with vector_bench.py (same dataset, same metric).
"""
import argparse
import os
import time

import psycopg
from pgvector.psycopg import register_vector

from vector_bench import load_dataset


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--pid", type=int, default=0, help="server pid (default: the backend's, PostgreSQL)")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--metric", default="l2", choices=["l2", "cosine"])
    ap.add_argument("--ef", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=6)
    args = ap.parse_args()
    queries = load_dataset(args.dataset, 200)[1]
    op = "<->" if args.metric == "l2" else "<=>"
    sql = f"SELECT id FROM bench_items ORDER BY embedding {op} %s LIMIT 10"
    conn = psycopg.connect(args.dsn, autocommit=True)
    register_vector(conn)
    conn.execute(f"SET hnsw.ef_search = {args.ef}")
    pid = args.pid or conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    for q in queries:  # warm up, and let the driver prepare the statement
        conn.execute(sql, (q,), prepare=True).fetchall()
    before, n, start = cpu_seconds(pid), 0, time.time()
    while time.time() - start < args.seconds:
        conn.execute(sql, (queries[n % len(queries)],), prepare=True).fetchall()
        n += 1
    elapsed, used = time.time() - start, cpu_seconds(pid) - before
    print(f"ef_search {args.ef}: {n / elapsed:.0f} queries/s, server CPU {1e6 * used / n:.0f} us/query")


if __name__ == "__main__":
    main()
