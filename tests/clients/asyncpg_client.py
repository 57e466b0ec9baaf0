"""asyncpg + pgvector-python against a server (DSN parts in argv: host
port dbname). Prints a transcript; tests/clients/asyncpg_client.out is
this script's output against PostgreSQL 15 + pgvector
(tests/clients/record.sh) and tests/it/clients.rs compares GrapeDB's
output with it.

What asyncpg does beyond plain queries: every statement is prepared
(Parse/Describe with parameter types it then encodes in binary), a
result column of a type it does not know (vector, an enum) makes it
introspect pg_type with its own catalog query, COPY in binary,
executemany in a pipeline, savepoints for nested transactions, and
a cancel request when a query times out."""
import asyncio
import json
import sys

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

HOST, PORT, DB = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def show(label, value):
    print(f"{label}: {value!r}")


async def main():
    conn = await asyncpg.connect(host=HOST, port=PORT, user="grape", database=DB)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    await register_vector(conn)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.execute(
        "CREATE TABLE apg_items (id bigserial PRIMARY KEY, embedding vector(3), "
        "tags text[], meta jsonb, price numeric(8,2), name text UNIQUE)"
    )
    await conn.execute("CREATE INDEX ON apg_items USING hnsw (embedding vector_l2_ops)")
    show("insert", await conn.execute(
        "INSERT INTO apg_items (embedding, tags, meta, price, name) VALUES ($1, $2, $3, $4, $5)",
        np.array([1, 2, 3]), ["a", "b"], {"k": 1}, 1.5, "first"))
    await conn.executemany(
        "INSERT INTO apg_items (embedding, name) VALUES ($1, $2)",
        [(np.array([i, 0, 0]), f"n{i}") for i in range(5)])
    rows = await conn.fetch(
        "SELECT id, embedding, tags, meta, price, name FROM apg_items "
        "ORDER BY embedding <-> $1 LIMIT 3", np.array([1.2, 0.1, 0]))
    for r in rows:
        show("knn", (r["id"], r["embedding"].to_list(), r["tags"], r["meta"], r["price"], r["name"]))
    show("distance", await conn.fetchval("SELECT $1::vector <=> $2", np.array([1, 0, 0]), np.array([0, 1, 0])))
    show("params", await conn.fetchrow("SELECT $1::int + 1 AS a, $2::text || 'x' AS b, $3::float8 * 2 AS c", 41, "y", 1.25))

    # Binary COPY in, COPY out to a callback.
    show("copy in", await conn.copy_records_to_table(
        "apg_items", records=[(100, np.array([9, 9, 9]), "copied")], columns=["id", "embedding", "name"]))
    chunks = []

    async def sink(data):
        chunks.append(data)

    await conn.copy_from_query("SELECT id, name FROM apg_items WHERE id >= 100 ORDER BY id", output=sink)
    show("copy out", b"".join(chunks))

    # Transactions: commit, rollback, and a savepoint (nested block).
    async with conn.transaction():
        await conn.execute("INSERT INTO apg_items (id, name) VALUES (200, 'kept')")
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO apg_items (id, name) VALUES (201, 'inner')")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO apg_items (id, name) VALUES (202, 'gone')")
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    show("after transactions", await conn.fetch("SELECT id, name FROM apg_items WHERE id >= 200 ORDER BY id"))

    # Errors: the exception class follows the SQLSTATE.
    for sql, args in [
        ("INSERT INTO apg_items (id, name) VALUES ($1, $2)", (300, "first")),
        ("INSERT INTO apg_items (id, embedding) VALUES ($1, $2)", (301, np.array([1, 2]))),
        ("SELECT * FROM no_such_table", ()),
        ("SELECT 1/0", ()),
    ]:
        try:
            await conn.fetch(sql, *args)
        except asyncpg.PostgresError as e:
            show("error", (type(e).__name__, e.sqlstate, str(e)))

    # Type introspection on first sight of an enum column.
    await conn.execute("CREATE TYPE apg_mood AS ENUM ('sad', 'ok', 'happy')")
    await conn.execute("CREATE TABLE apg_feel (id int PRIMARY KEY, m apg_mood)")
    await conn.execute("INSERT INTO apg_feel VALUES ($1, $2), (2, 'happy')", 1, "ok")
    show("enum", await conn.fetch("SELECT id, m FROM apg_feel ORDER BY m"))

    # A prepared statement reused; a cursor (portal) read in pieces.
    stmt = await conn.prepare("SELECT id, name FROM apg_items WHERE id = $1")
    show("prepared params", [t.name for t in stmt.get_parameters()])
    show("prepared columns", [(a.name, a.type.name) for a in stmt.get_attributes()])
    show("prepared", [await stmt.fetchrow(i) for i in (1, 2)])
    async with conn.transaction():
        cur = await conn.cursor("SELECT id FROM apg_items ORDER BY id")
        show("cursor", [r["id"] for r in await cur.fetch(3)] + [r["id"] for r in await cur.fetch(2)])

    # A query past its timeout is cancelled (CancelRequest); the
    # connection stays usable.
    try:
        await conn.fetchval("SELECT pg_sleep(5)", timeout=0.5)
    except asyncio.TimeoutError:
        show("timeout", "cancelled")
    show("after cancel", await conn.fetchval("SELECT count(*) FROM apg_items"))

    await conn.execute("DROP TABLE apg_feel")
    await conn.execute("DROP TYPE apg_mood")
    await conn.execute("DROP TABLE apg_items")
    await conn.close()


asyncio.run(main())
