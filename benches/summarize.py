#!/usr/bin/env python3
"""Side-by-side summary of a benchmark run (benches/results/vector.csv).

For each dataset: build time and memory per vector of every label, then the
best QPS each label reaches at recall@10 >= 0.95 and >= 0.99 (over the
hnsw.ef_search values the run swept), 1 and 4 clients, with the ef_search,
recall and p99 behind it, and GrapeDB's ratio to pgvector.

  python3 benches/summarize.py [benches/results/vector.csv]
"""
import csv
import sys


def best(rows, name, threshold):
    """The row of `name` with the highest QPS whose recall meets `threshold`."""
    ok = [r for r in rows if r["name"] == name and r.get("recall") and float(r["recall"]) >= threshold]
    return max(ok, key=lambda r: float(r["value"]), default=None)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "benches/results/vector.csv"
    rows = list(csv.DictReader(open(path)))
    datasets = list(dict.fromkeys((r["dataset"], r["metric"]) for r in rows))
    for ds, metric in datasets:
        here = [r for r in rows if r["dataset"] == ds and r["metric"] == metric]
        labels = list(dict.fromkeys(r["label"] for r in here))
        print(f"\n## {ds} ({metric})\n")
        print("| label | build s | index B/vector | server RSS growth B/vector |")
        print("|---|---|---|---|")
        for lab in labels:
            g = {r["name"]: r for r in here if r["label"] == lab}

            def cell(name, fmt):
                return fmt.format(float(g[name]["value"])) if name in g else ""

            print(f"| {lab} | {cell('index_build_seconds', '{:.2f}')} | "
                  f"{cell('index_bytes_per_vector', '{:,.0f}')} | "
                  f"{cell('rss_growth_per_vector_bytes', '{:,.0f}')} |")
        print("\n| recall ≥ | clients | " + " | ".join(labels) + " | grapedb / pgvector |")
        print("|---|---|" + "---|" * (len(labels) + 1))
        for threshold in (0.95, 0.99):
            for name, clients in (("qps_1_client", 1), ("qps_4_clients", 4)):
                cells, qps = [], {}
                for lab in labels:
                    b = best([r for r in here if r["label"] == lab], name, threshold)
                    if b is None:
                        cells.append("not reached")
                        continue
                    qps[lab] = float(b["value"])
                    cells.append(f"{qps[lab]:,.0f} (ef {b['ef_search']}, {float(b['recall']):.3f}, p99 {float(b['p99_ms']):.2f} ms)")
                ratio = f"{qps['grapedb'] / qps['pgvector']:.2f}×" if "grapedb" in qps and "pgvector" in qps else ""
                print(f"| {threshold} | {clients} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
