#!/usr/bin/env python3
"""Vector benchmark for any PostgreSQL-wire server with pgvector's SQL surface:
GrapeDB, or PostgreSQL + pgvector. The same SQL runs against both.

Measures, for one dataset: COPY load (binary and text), index build time,
index size and server RSS, recall@10 against exact ground truth at several
hnsw.ef_search, QPS and p50/p99 latency with 1 and 4 clients, and filtered
recall and rows returned at 10 %, 1 % and 0.1 % selectivity. Every loop is
bounded (query count and seconds). Appends CSV rows and prints a markdown table.

  python3 benches/vector_bench.py --dsn "host=127.0.0.1 port=5433 user=grape" \
      --label grapedb --dataset synthetic:100000:128 --metric l2 --server-pid PID

See benches/README.md.
"""
import argparse
import csv
import multiprocessing
import os
import statistics
import threading
import time

import numpy as np
import psycopg
from pgvector.psycopg import register_vector


def load_dataset(spec, nq):
    kind, _, rest = spec.partition(":")
    if kind == "synthetic":
        parts = rest.split(":")
        n, dim = int(parts[0]), int(parts[1])
        seed = int(parts[2]) if len(parts) > 2 else 42
        rng = np.random.default_rng(seed)
        centers = rng.normal(0, 4, size=(100, dim)).astype(np.float32)
        base = centers[rng.integers(0, 100, size=n)] + rng.normal(0, 1, size=(n, dim)).astype(np.float32)
        queries = centers[rng.integers(0, 100, size=nq)] + rng.normal(0, 1, size=(nq, dim)).astype(np.float32)
        return base.astype(np.float32), queries.astype(np.float32)
    if kind == "npy":
        base = np.load(os.path.join(rest, "base.npy")).astype(np.float32)
        queries = np.load(os.path.join(rest, "queries.npy")).astype(np.float32)[:nq]
        return base, queries
    raise SystemExit(f"unknown dataset {spec}")


def exact_topk(base, queries, metric, k, mask=None):
    if metric == "cosine":
        b = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
        q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        d = -q @ b.T
    else:
        d = (queries ** 2).sum(1)[:, None] - 2 * queries @ base.T + (base ** 2).sum(1)[None, :]
    if mask is not None:
        d = np.where(mask[None, :], d, np.inf)
    idx = np.argsort(d, axis=1)[:, :k]
    return [[int(i) for i in row if np.isfinite(d[r, i])] for r, row in enumerate(idx)]


def rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def connect(dsn):
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    return conn


def client_process(dsn, sql, queries, settings, cid, clients, seconds, max_queries, out):
    """One client of a multi-client run, in its own process: its latencies."""
    conn = connect(dsn)
    for s in settings:
        conn.execute(s)
    local = []
    start = time.time()
    deadline = start + seconds
    for n in range(max_queries // clients):
        if time.time() > deadline:
            break
        q = queries[(cid + n * clients) % len(queries)]
        t0 = time.perf_counter()
        conn.execute(sql, (q,), prepare=True).fetchall()
        local.append(time.perf_counter() - t0)
    end = time.time()
    conn.close()
    out.put((local, start, end))


def run_queries(dsn, sql, queries, settings, clients, seconds, max_queries):
    """Run `sql` with each query vector; returns (results, latencies, qps).

    Several clients run as separate processes (as separate applications
    would), so the harness's own Python interpreter lock does not serialize
    them; their results are not kept (recall comes from the 1-client run)."""
    if clients > 1:
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        procs = [ctx.Process(target=client_process,
                             args=(dsn, sql, queries, settings, c, clients, seconds, max_queries, out))
                 for c in range(clients)]
        for p in procs:
            p.start()
        latencies, starts, ends = [], [], []
        for _ in procs:
            local, start, end = out.get()
            latencies.extend(local)
            starts.append(start)
            ends.append(end)
        for p in procs:
            p.join()
        # From the first client's first query to the last one's end
        # (process start-up and connecting are not timed).
        return [None] * len(queries), latencies, len(latencies) / (max(ends) - min(starts))
    results = [None] * len(queries)
    latencies = []
    lock = threading.Lock()
    deadline = time.time() + seconds
    counter = [0]

    def worker(cid):
        conn = connect(dsn)
        for s in settings:
            conn.execute(s)
        local = []
        while True:
            with lock:
                i = counter[0]
                counter[0] += 1
            if i >= max_queries or time.time() > deadline:
                break
            q = queries[i % len(queries)]
            t0 = time.perf_counter()
            rows = conn.execute(sql, (q,), prepare=True).fetchall()
            local.append(time.perf_counter() - t0)
            if i < len(queries):
                results[i] = [r[0] for r in rows]
        with lock:
            latencies.extend(local)
        conn.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    return results, latencies, len(latencies) / elapsed


def recall(results, truth):
    scores = []
    for got, want in zip(results, truth):
        if got is None or not want:
            continue
        scores.append(len(set(got) & set(want)) / len(want))
    return statistics.mean(scores) if scores else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--label", required=True, help="grapedb or pgvector (goes into the CSV)")
    ap.add_argument("--dataset", required=True, help="synthetic:N:DIM[:seed] or npy:DIR")
    ap.add_argument("--metric", default="l2", choices=["l2", "cosine"])
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=64)
    ap.add_argument("--ef-search", default="10,20,40,80,100,200")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10, help="bound per QPS measurement")
    ap.add_argument("--server-pid", default="", help="comma-separated pids whose RSS is the server's")
    ap.add_argument("--text-copy-rows", type=int, default=20000, help="rows loaded again with text COPY")
    ap.add_argument("--out", default="benches/results/vector.csv")
    ap.add_argument("--quantization", default="", help="binary or halfvec (GrapeDB index option)")
    ap.add_argument("--rerank", type=int, default=0, help="with binary quantization (GrapeDB, default 4)")
    args = ap.parse_args()

    pids = [p for p in args.server_pid.split(",") if p]
    base, queries = load_dataset(args.dataset, args.queries)
    n, dim = base.shape
    op = "<->" if args.metric == "l2" else "<=>"
    opclass = "vector_l2_ops" if args.metric == "l2" else "vector_cosine_ops"
    rows_out = []

    def record(name, value, unit, **extra):
        row = {"label": args.label, "dataset": args.dataset, "metric": args.metric, "n": n, "dim": dim,
               "name": name, "value": value, "unit": unit}
        row.update(extra)
        rows_out.append(row)
        print(f"{args.label:9} {name:40} {value:>12.4f} {unit} {extra if extra else ''}", flush=True)

    conn = connect(args.dsn)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for t in ("bench_items", "bench_text"):
        conn.execute(f"DROP TABLE IF EXISTS {t}")
    conn.execute(f"CREATE TABLE bench_items (id int PRIMARY KEY, cat int, rare int, embedding vector({dim}))")
    conn.execute(f"CREATE TABLE bench_text (id int PRIMARY KEY, cat int, rare int, embedding vector({dim}))")
    ids = np.arange(n)

    # COPY, binary: pgvector's binary vector form.
    t0 = time.time()
    with conn.cursor().copy("COPY bench_items (id, cat, rare, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
        cp.set_types(["int4", "int4", "int4", "vector"])
        for i in range(n):
            cp.write_row((int(i), int(i % 100), int(i % 1000), base[i]))
    dt = time.time() - t0
    record("copy_binary_seconds", dt, "s")
    record("copy_binary_rows_per_s", n / dt, "rows/s")

    # COPY, text, on a prefix.
    tn = min(args.text_copy_rows, n)
    t0 = time.time()
    with conn.cursor().copy("COPY bench_text (id, cat, rare, embedding) FROM STDIN") as cp:
        for i in range(tn):
            vec = "[" + ",".join(repr(float(x)) for x in base[i]) + "]"
            cp.write(f"{i}\t{i % 100}\t{i % 1000}\t{vec}\n")
    dt = time.time() - t0
    record("copy_text_rows_per_s", tn / dt, "rows/s", rows=tn)
    conn.execute("DROP TABLE bench_text")

    rss_before = rss_mb(pids)
    with_opts = f"m = {args.m}, ef_construction = {args.ef_construction}"
    if args.quantization:
        with_opts += f", quantization = '{args.quantization}'"
    if args.rerank:
        with_opts += f", rerank = {args.rerank}"
    t0 = time.time()
    conn.execute(f"CREATE INDEX bench_idx ON bench_items USING hnsw (embedding {opclass}) WITH ({with_opts})")
    build = time.time() - t0
    record("index_build_seconds", build, "s", m=args.m, ef_construction=args.ef_construction)
    if pids:
        rss_after = rss_mb(pids)
        record("server_rss_mb", rss_after, "MB")
        record("rss_growth_per_vector_bytes", (rss_after - rss_before) * 1024 * 1024 / n, "B")
    # pgvector: the index's pages; GrapeDB: what its graphs hold in memory
    # (points, codes, edges, key map, filter columns), from its own view.
    size = None
    for q in ("SELECT pg_relation_size('bench_idx')",
              "SELECT sum(index_bytes) FROM grape_vector_indexes WHERE index_name = 'bench_idx'"):
        try:
            size = conn.execute(q).fetchone()[0]
            break
        except Exception:
            pass
    if size is not None:
        record("index_size_mb", size / 1024 / 1024, "MB")
        record("index_bytes_per_vector", size / n, "B")

    truth = exact_topk(base, queries, args.metric, 10)
    sql = f"SELECT id FROM bench_items ORDER BY embedding {op} %s LIMIT 10"
    for ef in [int(x) for x in args.ef_search.split(",")]:
        settings = [f"SET hnsw.ef_search = {ef}"]
        # 1 client for --seconds, cycling the queries (recall from the first pass).
        res, lat, qps = run_queries(args.dsn, sql, queries, settings, 1, args.seconds, 100000)
        r = recall(res, truth)
        lat_ms = sorted(x * 1000 for x in lat)
        p50 = lat_ms[len(lat_ms) // 2]
        p99 = lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]
        record("recall@10", r, "", ef_search=ef)
        record("qps_1_client", qps, "q/s", ef_search=ef, recall=round(r, 4), p50_ms=round(p50, 3), p99_ms=round(p99, 3))
        _, lat4, qps4 = run_queries(args.dsn, sql, queries, settings, 4, args.seconds, 100000)
        lat4 = sorted(x * 1000 for x in lat4)
        record("qps_4_clients", qps4, "q/s", ef_search=ef, recall=round(r, 4),
               p50_ms=round(lat4[len(lat4) // 2], 3), p99_ms=round(lat4[min(len(lat4) - 1, int(len(lat4) * 0.99))], 3))

    # Filtered search: how many rows come back, and how good they are.
    filters = [("10%", "cat < 10", ids % 100 < 10), ("1%", "cat = 3", ids % 100 == 3), ("0.1%", "rare = 3", ids % 1000 == 3)]
    for name, where, mask in filters:
        ftruth = exact_topk(base, queries, args.metric, 10, mask)
        fsql = f"SELECT id FROM bench_items WHERE {where} ORDER BY embedding {op} %s LIMIT 10"
        for mode in ["default"] + (["relaxed_order"] if args.label.startswith("pgvector") else []):
            settings = ["SET hnsw.ef_search = 40"]
            if mode != "default":
                settings.append(f"SET hnsw.iterative_scan = {mode}")
            res, lat, qps = run_queries(args.dsn, fsql, queries, settings, 1, args.seconds, 100000)
            got = [len(x) for x in res if x is not None]
            lat_ms = sorted(x * 1000 for x in lat)
            record(f"filtered_{name}_recall@10", recall(res, ftruth), "", mode=mode,
                   rows_returned=round(statistics.mean(got), 2), qps=round(qps, 1),
                   p99_ms=round(lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))], 3))

    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    new = not os.path.exists(args.out)
    keys = sorted({k for r in rows_out for k in r})
    with open(args.out, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["label", "dataset", "metric", "n", "dim", "name", "value", "unit"] +
                           [k for k in keys if k not in ("label", "dataset", "metric", "n", "dim", "name", "value", "unit")],
                           extrasaction="ignore")
        if new:
            w.writeheader()
        for r in rows_out:
            w.writerow(r)
    print()
    print("| label | name | value | unit | details |")
    print("|---|---|---|---|---|")
    for r in rows_out:
        extra = {k: v for k, v in r.items() if k not in ("label", "dataset", "metric", "n", "dim", "name", "value", "unit")}
        print(f"| {r['label']} | {r['name']} | {r['value']:.4g} | {r['unit']} | {extra if extra else ''} |")


if __name__ == "__main__":
    main()
