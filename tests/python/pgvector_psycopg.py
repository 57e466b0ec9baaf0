"""psycopg 3 + pgvector-python against a GrapeDB server (port in argv[1]).

register_vector() looks the types up by name in pg_type; vectors then
travel as text and as pgvector's binary form, both ways."""
import sys

import numpy as np
import psycopg
from pgvector import HalfVector, SparseVector
from pgvector.psycopg import register_vector

port = sys.argv[1]


def vec(v):
    """pgvector-python returns numpy arrays or Vector objects, by version."""
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


conn = psycopg.connect(f"host=127.0.0.1 port={port} user=grape dbname=grape", autocommit=True)
conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
register_vector(conn)
conn.execute("CREATE TABLE pyv (id int PRIMARY KEY, v vector(3), h halfvec(3), s sparsevec(5))")
rows = [
    (1, np.array([1, 2, 3]), HalfVector([1, 2, 3]), SparseVector({0: 1.5, 2: 2}, 5)),
    (2, np.array([4, 5, 6]), HalfVector([4, 5, 6]), SparseVector({1: 1}, 5)),
]
with conn.cursor() as cur:
    cur.executemany("INSERT INTO pyv VALUES (%s, %s, %s, %s)", rows)
with conn.cursor(binary=True) as cur:
    cur.execute("INSERT INTO pyv VALUES (%s, %s, %s, %s)",
                (3, np.array([0.5, 0.25, -1]), HalfVector([0.5, 0.25, -1]), SparseVector({4: -2}, 5)))
conn.execute("CREATE INDEX ON pyv USING hnsw (v vector_l2_ops)")
for binary in (False, True):
    with conn.cursor(binary=binary) as cur:
        got = cur.execute(
            "SELECT id, v, h, s, v <-> %s AS d FROM pyv ORDER BY v <-> %s LIMIT 3",
            (np.array([4, 5, 6]), np.array([4, 5, 6])),
        ).fetchall()
        assert [r[0] for r in got] == [2, 1, 3], got
        assert np.array_equal(vec(got[0][1]), np.array([4, 5, 6], dtype=np.float32)), got[0][1]
        assert got[0][2].to_list() == [4, 5, 6], got[0][2]
        assert got[0][3].indices() == [1] and got[0][3].dimensions() == 5, got[0][3]
        assert got[0][4] == 0.0 and isinstance(got[1][4], float), got
        last = got[2]
        assert np.array_equal(vec(last[1]), np.array([0.5, 0.25, -1], dtype=np.float32)), last
assert conn.execute("SELECT %s::vector <=> %s", (np.array([1, 0]), np.array([0, 1]))).fetchone()[0] == 1.0
try:
    conn.execute("SELECT %s::vector <-> %s", (np.array([1, 0]), np.array([0, 1, 2])))
    raise SystemExit("expected a dimension error")
except psycopg.errors.DataException as e:
    assert "different vector dimensions 2 and 3" in str(e), e
print("ok")
