//! pg_dump against GrapeDB (issue 15): the dump of tests/pg_dump/schema.sql
//! is the one PostgreSQL 15 + pgvector gives for it (recorded by
//! tests/pg_dump/record.sh), and it restores into a fresh GrapeDB whose
//! own dump is the same again (a view included, which PostgreSQL prints
//! in its own words).

use std::process::Command;

use crate::common::{TestServer, rows};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pg_dump");

/// Run `sh -c cmd` in the test directory; its stdout, and stderr apart.
async fn sh(cmd: String) -> (String, String, bool) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new("sh")
            .current_dir(DIR)
            .args(["-c", &cmd])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("sh runs")
    })
    .await
    .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

async fn psql_file(port: u16, file: &str) {
    let (out, err, ok) = sh(format!(
        "psql -X -q -h 127.0.0.1 -p {port} -U grape -d grape -v ON_ERROR_STOP=1 -f {file}"
    ))
    .await;
    assert!(ok, "psql -f {file} failed:\n{out}\n{err}");
}

async fn pg_dump(port: u16, args: &str) -> String {
    let (out, err, ok) = sh(format!(
        "pg_dump -h 127.0.0.1 -p {port} -U grape {args} grape"
    ))
    .await;
    assert!(
        !err.contains("not found"),
        "pg_dump is missing (.ci/run installs postgresql-client)"
    );
    assert!(ok, "pg_dump failed:\n{err}");
    out
}

/// A dump without what differs between servers and runs: the server's
/// version, the random key of psql's `\restrict`, and the order of the
/// rows in a COPY (a table's rows have none).
fn normalized(dump: &str) -> String {
    let mut out = Vec::new();
    let mut rows: Vec<&str> = Vec::new();
    let mut in_copy = false;
    for line in dump.lines() {
        if line.starts_with("\\restrict ")
            || line.starts_with("\\unrestrict ")
            || line.starts_with("-- Dumped from database version")
        {
            continue;
        }
        if in_copy {
            if line == "\\." {
                rows.sort_unstable();
                out.extend(rows.drain(..).map(str::to_string));
                out.push(line.to_string());
                in_copy = false;
            } else {
                rows.push(line);
            }
            continue;
        }
        in_copy = line.starts_with("COPY ") && line.ends_with("FROM stdin;");
        out.push(line.to_string());
    }
    out.join("\n")
}

#[tokio::test]
async fn pg_dump_prints_what_postgresql_prints() {
    let s = TestServer::start().await;
    psql_file(s.port, "schema.sql").await;
    let got = normalized(&pg_dump(s.port, "").await);
    let expected = normalized(&std::fs::read_to_string(format!("{DIR}/expected.sql")).unwrap());
    assert_eq!(
        got, expected,
        "pg_dump of GrapeDB differs from PostgreSQL's:\n{got}"
    );
    let schema = normalized(&pg_dump(s.port, "--schema-only").await);
    let expected =
        normalized(&std::fs::read_to_string(format!("{DIR}/expected_schema_only.sql")).unwrap());
    assert_eq!(
        schema, expected,
        "pg_dump --schema-only differs from PostgreSQL's:\n{schema}"
    );
    s.stop().await;
}

#[tokio::test]
async fn pg_dump_restores_into_a_fresh_server() {
    let a = TestServer::start().await;
    psql_file(a.port, "schema.sql").await;
    psql_file(a.port, "views.sql").await;
    let first = pg_dump(a.port, "").await;
    a.stop().await;

    let b = TestServer::start().await;
    let file = std::env::temp_dir().join(format!("grapedb-dump-{}.sql", std::process::id()));
    std::fs::write(&file, &first).unwrap();
    psql_file(b.port, file.to_str().unwrap()).await;
    let _ = std::fs::remove_file(&file);
    let second = pg_dump(b.port, "").await;
    assert_eq!(
        normalized(&second),
        normalized(&first),
        "the restored database dumps differently"
    );

    // The restored tables work as tables: keys, sequences, identity, the
    // vector index, the foreign key.
    let c = b.connect().await;
    assert_eq!(
        rows(
            &c,
            "SELECT id FROM orders ORDER BY embedding <-> '[1,2,3]' LIMIT 1"
        )
        .await,
        [[Some("1".to_string())]]
    );
    assert_eq!(
        rows(
            &c,
            "INSERT INTO customers (email) VALUES ('d@x') RETURNING id"
        )
        .await,
        [[Some("4".to_string())]]
    );
    assert_eq!(
        rows(
            &c,
            "INSERT INTO orders (customer_id) VALUES (4) RETURNING id, state"
        )
        .await,
        [[Some("4".to_string()), Some("new".to_string())]]
    );
    assert_eq!(
        rows(&c, "SELECT nextval('invoice_seq')").await,
        [[Some("105".to_string())]]
    );
    let dup = c
        .execute("INSERT INTO customers (id, email) VALUES (1, 'z@x')", &[])
        .await;
    assert_eq!(crate::common::code(&dup.unwrap_err()), "23505");
    let orphan = c
        .execute("INSERT INTO orders (customer_id) VALUES (99)", &[])
        .await;
    assert_eq!(crate::common::code(&orphan.unwrap_err()), "23503");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM big_orders").await,
        [[Some("1".to_string())]]
    );
    b.stop().await;
}
