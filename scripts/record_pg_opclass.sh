#!/usr/bin/env bash
# Record PostgreSQL 15 + pgvector 0.8.6's operator classes for btree, hash,
# hnsw and ivfflat into catalog/pg_opclass.tsv, which the binary embeds
# (src/pg_catalog/pg_opclass.rs). Built-in OIDs are PostgreSQL's; pgvector's
# are given at CREATE EXTENSION time there, so they are renumbered here into
# 16100.. (classes) and 16200.. (families), by name: stable, and below the
# OIDs GrapeDB gives relations (16384 and up). A developer's tool, like
# scripts/record_pg.sh (same requirements); commit the file it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-55452}
source scripts/private_pg.sh
psql() { command psql -X -q -h 127.0.0.1 -p "$PORT" -U grape -d postgres "$@"; }
psql -c "CREATE EXTENSION vector"
{
  echo "# pg_opclass of PostgreSQL 15 + pgvector 0.8.6 (scripts/record_pg_opclass.sh):"
  echo "# oid, access method, name, family oid, input type, default, key type (- for none)."
  psql -At -F $'\t' <<'SQL'
WITH c AS (
  SELECT c.*, a.amname, (c.oid >= 16384) AS ext,
         row_number() OVER (PARTITION BY c.oid >= 16384 ORDER BY c.opcname, a.amname) AS k
  FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
  WHERE a.amname IN ('btree', 'hash', 'hnsw', 'ivfflat')
), f AS (
  SELECT oid, row_number() OVER (ORDER BY opfname, opfmethod) AS k FROM pg_opfamily WHERE oid >= 16384
)
SELECT CASE WHEN c.ext THEN 16100 + c.k - 1 ELSE c.oid::int END,
       c.amname, c.opcname,
       CASE WHEN c.opcfamily >= 16384 THEN 16200 + f.k - 1 ELSE c.opcfamily::int END,
       format_type(c.opcintype, NULL), c.opcdefault,
       CASE WHEN c.opckeytype = 0 THEN '-' ELSE format_type(c.opckeytype, NULL) END
FROM c LEFT JOIN f ON f.oid = c.opcfamily
ORDER BY 1
SQL
} > catalog/pg_opclass.tsv
echo "recorded catalog/pg_opclass.tsv ($(grep -vc '^#' catalog/pg_opclass.tsv) classes)"
