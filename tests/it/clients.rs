//! Client libraries against a live server, PostgreSQL's behaviour the
//! reference: each script (`tests/clients/NAME.py`,
//! `tests/clients/node/NAME.mjs`, `tests/clients/jdbc/NAME.java`) prints a
//! transcript, and `NAME.out`
//! beside it is that script's output against PostgreSQL 15 + pgvector
//! (`tests/clients/record.sh`). Python runs in the pinned virtual
//! environment `scripts/setup.sh` puts first on PATH, Node.js with the
//! packages it installs in `tests/clients/node/node_modules`.

use crate::common::TestServer;

/// asyncpg: every statement prepared with Describe's parameter types
/// (binary encoding), pg_type introspection for vector and enum columns,
/// binary COPY, executemany, savepoints, portals, cancel on timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_as_on_postgresql() {
    same_as_postgresql("asyncpg_client.py").await;
}

/// psycopg2 with pgvector's register_vector, execute_values, copy_expert
/// both ways, a named (server-side) cursor, errors by SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2_as_on_postgresql() {
    same_as_postgresql("psycopg2_client.py").await;
}

/// LISTEN / NOTIFY / pg_notify between two psycopg2 connections: sent at
/// commit, once per payload, never after a rollback; heard while idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_as_on_postgresql() {
    same_as_postgresql("psycopg2_notify.py").await;
}

/// node-postgres with pgvector-node: text parameters through the
/// extended protocol (JSON objects, arrays for `= ANY($1)`), results
/// parsed by type OID, named statements, errors with their positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres_as_on_postgresql() {
    same_as_postgresql("node/node_pg.mjs").await;
}

/// pgjdbc's DatabaseMetaData (getTables, getColumns, getPrimaryKeys,
/// getIndexInfo, getImportedKeys, getExportedKeys) as DBeaver and every
/// JDBC tool read it, batches, PGobject vectors, errors by SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_as_on_postgresql() {
    same_as_postgresql("jdbc/JdbcMeta.java").await;
}

/// SQLAlchemy 2.0 reflection (every Inspector call Alembic makes) of
/// vector, FK, CHECK, UNIQUE and HNSW definitions; Alembic autogenerate,
/// upgrade and downgrade; a failing migration whose earlier steps' DDL and
/// data roll back with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_alembic_as_on_postgresql() {
    same_as_postgresql("sqlalchemy_alembic.py").await;
}

/// Django 5.2 with pgvector.django: makemigrations, migrate (Django's own
/// apps too), the ORM with vector distances, inspectdb, migrate to zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_as_on_postgresql() {
    same_as_postgresql("django_app.py").await;
}

/// knex migrations (lock and bookkeeping tables, batches in one
/// transaction, rollback), its schema builder and information_schema
/// lookups, the query builder with pgvector-node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knex_as_on_postgresql() {
    same_as_postgresql("node/knex_migrations.mjs").await;
}

/// Metabase's sync and DBeaver's connect and browse queries, replayed as
/// their source builds them, through pgjdbc with their binds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabase_and_dbeaver_queries_as_on_postgresql() {
    same_as_postgresql("jdbc/BiReplay.java").await;
}

/// Grafana's health check (`-- ping`), version and TimescaleDB probes,
/// table and column pickers and schema API, replayed through
/// node-postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_queries_as_on_postgresql() {
    same_as_postgresql("node/grafana_replay.mjs").await;
}

/// Run `script` (under tests/clients) against a fresh server and compare
/// what it prints with PostgreSQL's recording beside it.
async fn same_as_postgresql(script: &str) {
    let server = TestServer::start().await;
    let dir = format!("{}/tests/clients", env!("CARGO_MANIFEST_DIR"));
    let (program, base, pre): (&str, &str, &[&str]) = match script.rsplit_once('.') {
        Some((base, "py")) => ("python3", base, &[]),
        Some((base, "mjs")) => ("node", base, &[]),
        // Debian's pgjdbc; java compiles and runs the one source file.
        Some((base, "java")) => ("java", base, &["-cp", "/usr/share/java/postgresql.jar"]),
        _ => panic!("{script}: not .py, .mjs or .java"),
    };
    let name = base.rsplit('/').next().unwrap_or(base);
    let out = tokio::process::Command::new(program)
        .args(pre)
        .arg(format!("{dir}/{script}"))
        .arg("127.0.0.1")
        .arg(server.port.to_string())
        .arg("grape")
        .output()
        .await
        .expect("python3 runs");
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{got}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read_to_string(format!("{dir}/{base}.out")).expect("recorded output");
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .filter(|(w, g)| w != g)
            .map(|(w, g)| format!("- {w}\n+ {g}"))
            .collect();
        panic!(
            "{name}: GrapeDB's output differs from PostgreSQL's ({} vs {} lines):\n{}",
            got.lines().count(),
            want.lines().count(),
            diff.join("\n")
        );
    }
    server.stop().await;
}
