//! Client libraries against a live server, PostgreSQL's behaviour the
//! reference: each `tests/clients/NAME.py` prints a transcript, and
//! `NAME.out` beside it is that script's output against PostgreSQL 15 +
//! pgvector (`tests/clients/record.sh`). The scripts run in the pinned
//! virtual environment `scripts/setup.sh` puts first on PATH.

use crate::common::TestServer;

/// asyncpg: every statement prepared with Describe's parameter types
/// (binary encoding), pg_type introspection for vector and enum columns,
/// binary COPY, executemany, savepoints, portals, cancel on timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_as_on_postgresql() {
    same_as_postgresql("asyncpg_client").await;
}

/// psycopg2 with pgvector's register_vector, execute_values, copy_expert
/// both ways, a named (server-side) cursor, errors by SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2_as_on_postgresql() {
    same_as_postgresql("psycopg2_client").await;
}

/// LISTEN / NOTIFY / pg_notify between two psycopg2 connections: sent at
/// commit, once per payload, never after a rollback; heard while idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_as_on_postgresql() {
    same_as_postgresql("psycopg2_notify").await;
}

async fn same_as_postgresql(name: &str) {
    let server = TestServer::start().await;
    let dir = format!("{}/tests/clients", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("python3")
        .arg(format!("{dir}/{name}.py"))
        .arg("127.0.0.1")
        .arg(server.port.to_string())
        .arg("grape")
        .output()
        .await
        .expect("python3 runs");
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name}.py failed:\n{got}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = std::fs::read_to_string(format!("{dir}/{name}.out")).expect("recorded output");
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
