"""pgvector's index size per vector for a vector index and a halfvec
expression index over the same rows (the reference for GrapeDB's
`quantization = 'halfvec'`).

Usage: python3 benches/pg_halfvec_size.py "host=... port=... user=postgres" [dataset]
(dataset as vector_bench.py's --dataset; default synthetic:100000:128).
Creates and drops the table `halfvec_size`.
"""
import sys
import time

import vector_bench as vb


def main():
    dsn = sys.argv[1]
    spec = sys.argv[2] if len(sys.argv) > 2 else "synthetic:100000:128"
    base, _ = vb.load_dataset(spec, 1)
    n, dim = base.shape
    conn = vb.connect(dsn)
    conn.execute("DROP TABLE IF EXISTS halfvec_size")
    conn.execute(f"CREATE TABLE halfvec_size (id int PRIMARY KEY, embedding vector({dim}))")
    with conn.cursor().copy("COPY halfvec_size (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
        cp.set_types(["int4", "vector"])
        for i in range(n):
            cp.write_row((i, base[i]))
    for name, expr in (("vector", "embedding vector_l2_ops"),
                       ("halfvec", f"(embedding::halfvec({dim})) halfvec_l2_ops")):
        t0 = time.time()
        conn.execute(f"CREATE INDEX halfvec_size_{name} ON halfvec_size USING hnsw ({expr}) "
                     "WITH (m = 16, ef_construction = 64)")
        size = conn.execute(f"SELECT pg_relation_size('halfvec_size_{name}')").fetchone()[0]
        print(f"pgvector {name} index: {size / n:,.0f} B per vector (build {time.time() - t0:.1f} s)")
    conn.execute("DROP TABLE halfvec_size")


if __name__ == "__main__":
    main()
