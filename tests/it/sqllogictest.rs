//! sqllogictest files under sql/ run against a live server over the wire.

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::SimpleQueryMessage;

use crate::common::TestServer;

pub(crate) struct Pg(pub(crate) tokio_postgres::Client);

#[derive(Debug)]
pub(crate) struct SltError(pub(crate) String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SltError {}

#[async_trait]
impl AsyncDB for Pg {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let msgs = self.0.simple_query(sql).await.map_err(|e| {
            SltError(match e.as_db_error() {
                Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                None => e.to_string(),
            })
        })?;
        let mut rows = Vec::new();
        let mut ncols = None;
        let mut count = 0;
        for m in msgs {
            match m {
                SimpleQueryMessage::RowDescription(d) => ncols = Some(d.len()),
                SimpleQueryMessage::Row(r) => {
                    ncols = Some(r.len());
                    rows.push(
                        (0..r.len())
                            // An empty string as `(empty)`, spaces as `(blank)`: the runner
                            // compares lines with whitespace collapsed, so
                            // an empty value would never match.
                            .map(|i| match r.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) if v.trim().is_empty() => "(blank)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        match ncols {
            Some(n) => Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "grapedb"
    }
}

/// A sqllogictest runner whose connections go to `conn` (column types
/// are not compared: the wire only says "text").
pub(crate) fn runner_for(conn: String) -> Runner<Pg, impl sqllogictest::MakeConnection<Conn = Pg>> {
    let mut runner = Runner::new(move || {
        let conn = conn.clone();
        async move {
            let (c, task) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
                .await
                .map_err(|e| SltError(e.to_string()))?;
            tokio::spawn(async move {
                let _ = task.await;
            });
            Ok(Pg(c))
        }
    });
    runner.with_column_validator(|_, _| true);
    runner
}

#[tokio::test]
async fn sqllogictest_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let s = TestServer::start().await;
        let mut runner = runner_for(s.conn_str());
        if let Err(e) = runner.run_file_async(&file).await {
            panic!("{}: {e}", file.display());
        }
        s.stop().await;
    }
}
