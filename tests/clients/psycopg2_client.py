"""psycopg2 + pgvector-python against a server (argv: host port dbname).
Prints a transcript; psycopg2_client.out is its output against
PostgreSQL 15 + pgvector (tests/clients/record.sh), compared by
tests/it/clients.rs.

psycopg2 interpolates parameters client-side (simple queries), so what
it exercises is the text forms: register_vector's pg_type lookup,
execute_values' multi-row VALUES, copy_expert both ways, server-side
(named) cursors, LISTEN-free autocommit toggling, and error classes by
SQLSTATE."""
import io
import sys

import numpy as np
import psycopg2
import psycopg2.errors
import psycopg2.extras
from pgvector.psycopg2 import register_vector

HOST, PORT, DB = sys.argv[1], sys.argv[2], sys.argv[3]


def show(label, value):
    print(f"{label}: {value!r}")


conn = psycopg2.connect(host=HOST, port=PORT, user="grape", dbname=DB)
show("server_version", conn.server_version >= 150000)
cur = conn.cursor()
cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
register_vector(conn)
cur.execute(
    "CREATE TABLE pg2_items (id serial PRIMARY KEY, embedding vector(3), "
    "label text NOT NULL, score float8, made date)"
)
conn.commit()

psycopg2.extras.execute_values(
    cur,
    "INSERT INTO pg2_items (embedding, label, score, made) VALUES %s",
    [(np.array([i, i + 1, i + 2]), f"row {i}", i / 4, f"2024-01-0{i + 1}") for i in range(5)],
)
show("execute_values", cur.rowcount)
cur.execute("INSERT INTO pg2_items (embedding, label) VALUES (%s, %s) RETURNING id", (np.array([9, 9, 9]), "it's quoted"))
show("returning", cur.fetchone())
conn.commit()

cur.execute("SELECT id, embedding, label, score, made FROM pg2_items ORDER BY embedding <-> %s LIMIT 3", (np.array([2.2, 3, 4]),))
for r in cur.fetchall():
    show("knn", (r[0], r[1].to_list(), r[2], r[3], str(r[4])))

# COPY both ways through copy_expert.
buf = io.StringIO("100\t[1,1,1]\tcopied\t0.5\t2024-02-01\n101\t\\N\tno vector\t\\N\t\\N\n")
cur.copy_expert("COPY pg2_items (id, embedding, label, score, made) FROM STDIN", buf)
show("copy in", cur.rowcount)
out = io.StringIO()
cur.copy_expert("COPY (SELECT id, embedding, label FROM pg2_items WHERE id >= 100 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)", out)
show("copy out", out.getvalue())
conn.commit()

# A named (server-side) cursor: DECLARE ... / FETCH in a transaction.
named = conn.cursor(name="pg2_cursor")
named.itersize = 2
named.execute("SELECT id FROM pg2_items ORDER BY id")
show("named cursor", [r[0] for r in named])
named.close()
conn.commit()

# Errors roll the transaction back; classes follow the SQLSTATE.
for sql, args in [
    ("INSERT INTO pg2_items (id, label) VALUES (100, 'dup')", None),
    ("INSERT INTO pg2_items (label, embedding) VALUES ('bad', %s)", (np.array([1, 2]),)),
    ("INSERT INTO pg2_items (embedding) VALUES ('[1,2,3]')", None),
    ("SELECT nope FROM pg2_items", None),
]:
    try:
        cur.execute(sql, args)
    except psycopg2.Error as e:
        show("error", (type(e).__name__, e.pgcode, e.diag.message_primary))
        conn.rollback()

conn.autocommit = True
cur.execute("SHOW transaction_isolation")
show("isolation", cur.fetchone())
cur.execute("SELECT count(*), sum(score) FROM pg2_items")
show("totals", cur.fetchone())
cur.execute("DROP TABLE pg2_items")
conn.close()
