//! psycopg 3 (Python) with pgvector-python, from the pinned virtual
//! environment `scripts/setup.sh` puts first on PATH.

use crate::common::TestServer;

/// psycopg 3 with pgvector-python's adapters (type lookup by name in
/// pg_type, text and binary vectors), as a Python user would connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_with_pgvector_python() {
    run_script("pgvector_psycopg.py").await;
}

/// A large SELECT streamed to a slow reader (psycopg single-row mode):
/// the table lock lasts until the last row, statement_timeout still stops
/// it midway (`tests/python/streaming.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_rows_to_a_slow_reader() {
    run_script("streaming.py").await;
}

/// Run `tests/python/NAME` against a fresh server; it must exit 0.
async fn run_script(name: &str) {
    let server = TestServer::start().await;
    let script = format!("{}/tests/python/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(server.port.to_string())
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop().await;
}
