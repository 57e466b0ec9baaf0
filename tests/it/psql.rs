//! psql runs each script of tests/psql against a fresh server; its output
//! matches the transcript beside it (recorded from PostgreSQL 15 with
//! tests/psql/record.sh where the file says so).

use std::process::Command;

use crate::common::TestServer;

#[tokio::test]
async fn psql_transcript() {
    transcript("basic").await;
}

#[tokio::test]
async fn psql_transactions_as_postgresql() {
    transcript("transactions").await;
}

/// `\dt`, `\di`, `\dv`, `\ds`, `\dn`, `\dx` and the catalogs behind them
/// (pg_class, pg_index, pg_am, pg_namespace, pg_description, regclass).
#[tokio::test]
async fn psql_catalog_listings_as_postgresql() {
    transcript("catalog").await;
}

/// `\d NAME` (psql's eleven catalog queries: pg_attribute, pg_attrdef,
/// pg_constraint, pg_get_indexdef, pg_policy, pg_publication, ...), and
/// `\du`, `\dT`, `\dp`: the output PostgreSQL 15 + pgvector prints.
#[tokio::test]
async fn psql_describe_as_postgresql() {
    transcript("describe").await;
}

async fn transcript(name: &str) {
    let s = TestServer::start().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psql");
    let expected = std::fs::read_to_string(format!("{dir}/{name}.out")).unwrap();
    let cmd = format!(
        "psql -X -h 127.0.0.1 -p {} -U grape -d grape -v ON_ERROR_STOP=0 -f {name}.sql 2>&1",
        s.port
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("sh")
            .current_dir(dir)
            .args(["-c", &cmd])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("sh runs")
    })
    .await
    .unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(
        !got.contains("command not found"),
        "psql is missing (.ci/run installs postgresql-client)"
    );
    assert_eq!(
        got.trim(),
        expected.trim(),
        "{name}: psql output differs:\n{got}"
    );
    s.stop().await;
}
