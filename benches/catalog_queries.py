#!/usr/bin/env python3
"""How long tools' catalog queries take on a database with many tables
(issue 15: tools run them on every connect).

    python3 benches/catalog_queries.py --dsn "host=127.0.0.1 port=5433 user=grape dbname=grape" \
        [--tables 1000] [--reps 5] [--setup]

With --setup it makes `tables` tables first (each: a bigint primary key, a
NOT NULL text column with a default, a numeric with a CHECK, a vector(3),
and a foreign key to the first table), in the database the DSN names; run
it against an empty database. Then, `reps` times each, it times:

- psql's `\\d t500` (psql runs 11 catalog queries for it) and `\\dt`,
  wall time of the psql process (connection included);
- a JDBC getColumns-shaped query: every column of every table with
  format_type, its default (pg_get_expr) and comment (col_description),
  what BI tools' schema sync reads;
- every constraint with pg_get_constraintdef (ORM reflection);
- information_schema.columns for the public schema;
- a Metabase sync: its table list, privileges, columns, enum and foreign
  key queries (M3-M7) in a row on one connection, the SQL and binds of
  tests/clients/jdbc/BiReplay.java (where each cites Metabase's source);
- `pg_dump --schema-only` of the whole database.

Prints the median of each in milliseconds, as a markdown table row, and
appends CSV lines to benches/results/catalog.csv.
"""
import argparse
import os
import statistics
import subprocess
import time

import psycopg

COLUMNS = """
SELECT n.nspname, c.relname, a.attname, a.atttypid, a.attnotnull,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS default,
       pg_catalog.col_description(a.attrelid, a.attnum) AS remarks, a.attnum
FROM pg_catalog.pg_namespace n
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
LEFT JOIN pg_catalog.pg_attrdef def ON a.attrelid = def.adrelid AND a.attnum = def.adnum
WHERE c.relkind IN ('r', 'v', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname = 'public'
ORDER BY n.nspname, c.relname, a.attnum
"""

CONSTRAINTS = """
SELECT c.relname, con.conname, con.contype, pg_catalog.pg_get_constraintdef(con.oid, true)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY 1, 2
"""

INFO_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'public'
ORDER BY table_name, ordinal_position
"""


def metabase_sync():
    """Metabase's sync statements, as the replay test sends them: (sql with
    %s placeholders, binds)."""
    import json
    import re
    java = open(os.path.join(os.path.dirname(__file__), "..", "tests", "clients", "jdbc",
                             "BiReplay.java")).read()
    # (which of the key's variants: the one without a table filter, binds)
    binds = {"M3": (0, [0, "^pg_", "information_schema", "public"]), "M4": (0, []),
             "M5": (0, ["public", "public"]), "M6": (0, []), "M7": (1, ["public"])}
    out = []
    for key, (variant, values) in binds.items():
        found = re.findall(r"// " + key + r"\..*?prepareStatement\((\".*?\")\)\) \{", java, re.S)
        sql = json.loads(found[variant]).replace("%", "%%")
        # pgjdbc's ? outside quotes and string literals.
        sql = re.sub(r"('[^']*')|(\"[^\"]*\")|\?",
                     lambda g: g.group(1) or g.group(2) or "%s", sql)
        out.append((sql, values))
    return out


def sync(dsn, statements):
    with psycopg.connect(dsn) as c:
        start = time.perf_counter()
        for sql, values in statements:
            c.execute(sql, values).fetchall()
        return time.perf_counter() - start


def setup(dsn, tables):
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        for i in range(tables):
            ref = "" if i == 0 else ", parent bigint REFERENCES t0(id)"
            c.execute(
                f"CREATE TABLE t{i} (id bigint PRIMARY KEY, name text NOT NULL DEFAULT 'x', "
                f"price numeric(8,2) CHECK (price >= 0), v vector(3){ref})"
            )


def psql(dsn, command):
    params = dict(p.split("=", 1) for p in dsn.split())
    env = dict(os.environ, PGPASSWORD=params.get("password", ""))
    start = time.perf_counter()
    subprocess.run(
        ["psql", "-X", "-q", "-h", params["host"], "-p", params["port"], "-U",
         params["user"], "-d", params["dbname"], "-c", command],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def pg_dump(dsn):
    """pg_dump --schema-only of the database, wall time of the process (it
    sends some 50 catalog queries, then one per table for its sequences
    and view definitions)."""
    params = dict(p.split("=", 1) for p in dsn.split())
    env = dict(os.environ, PGPASSWORD=params.get("password", ""))
    start = time.perf_counter()
    subprocess.run(
        ["pg_dump", "--schema-only", "-h", params["host"], "-p", params["port"], "-U",
         params["user"], params["dbname"]],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def query(dsn, sql):
    with psycopg.connect(dsn) as c:
        start = time.perf_counter()
        rows = c.execute(sql).fetchall()
        return time.perf_counter() - start, len(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--tables", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--setup", action="store_true")
    ap.add_argument("--label", default="server")
    args = ap.parse_args()
    if args.setup:
        start = time.perf_counter()
        setup(args.dsn, args.tables)
        print(f"setup: {args.tables} tables in {time.perf_counter() - start:.1f} s")
    results = {}
    for name, run in [
        ("\\d t500", lambda: psql(args.dsn, f"\\d t{min(500, args.tables - 1)}")),
        ("\\dt", lambda: psql(args.dsn, "\\dt")),
        ("columns", lambda: query(args.dsn, COLUMNS)[0]),
        ("constraints", lambda: query(args.dsn, CONSTRAINTS)[0]),
        ("information_schema.columns", lambda: query(args.dsn, INFO_COLUMNS)[0]),
        ("Metabase sync", lambda: sync(args.dsn, metabase_sync())),
        ("pg_dump --schema-only", lambda: pg_dump(args.dsn)),
    ]:
        times = [run() for _ in range(args.reps)]
        results[name] = statistics.median(times) * 1000
    print("| " + " | ".join(["server"] + list(results)) + " |")
    print("| " + " | ".join([args.label] + [f"{v:.0f} ms" for v in results.values()]) + " |")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "catalog.csv"), "a") as f:
        for k, v in results.items():
            f.write(f"{args.label},{args.tables},{k},{v:.1f}\n")


if __name__ == "__main__":
    main()
