//! psql runs a script against the server; its output matches the transcript.

use std::process::Command;

use crate::common::TestServer;

#[tokio::test]
async fn psql_transcript() {
    let s = TestServer::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psql/basic.sql");
    let expected =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/psql/basic.out"))
            .unwrap();
    let port = s.port.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("psql")
            .args([
                "-X",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "grape",
                "-d",
                "grape",
                "-v",
                "ON_ERROR_STOP=0",
                "-f",
                script,
            ])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql is installed (.ci/run installs postgresql-client)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let got = format!("{stdout}{stderr}").replace(&s.port.to_string(), "PORT");
    assert_eq!(got.trim(), expected.trim(), "psql output differs:\n{got}");
    s.stop().await;
}
