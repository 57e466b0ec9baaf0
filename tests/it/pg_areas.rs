//! SQL per area (tests/pg/*.slt: casts, functions, date/time, ...) whose
//! expected results are PostgreSQL 15's own: `scripts/record_pg.sh` runs
//! each file against a private PostgreSQL 15 (+ pgvector) and writes its
//! answers into the file (sqllogictest's override), so nothing is typed
//! by hand. Here every statement of every file runs against GrapeDB and
//! is counted as matching or not (a file runs on a fresh server, in
//! order, so a statement that fails can make later ones differ too).
//! The test fails when a file matches fewer statements than
//! `tests/pg/MATCHING` records: raise the figure with each fix.

use sqllogictest::Record;

use crate::common::TestServer;
use crate::sqllogictest::runner_for;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pg");

fn area_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(DIR)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

/// The floor per file from tests/pg/MATCHING (`name count` lines).
fn floors() -> std::collections::HashMap<String, usize> {
    std::fs::read_to_string(format!("{DIR}/MATCHING"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, n) = l.split_once(' ')?;
            Some((name.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_areas_match_postgresql() {
    let floors = floors();
    let mut report = Vec::new();
    let mut short = Vec::new();
    for file in area_files() {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let records = sqllogictest::parse_file::<sqllogictest::DefaultColumnType>(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let s = TestServer::start().await;
        let mut runner = runner_for(s.conn_str());
        let (mut same, mut total) = (0, 0);
        let mut differ = Vec::new();
        for r in records {
            let sql = match &r {
                Record::Statement { sql, .. } | Record::Query { sql, .. } => sql.clone(),
                _ => continue,
            };
            total += 1;
            match runner.run_async(r).await {
                Ok(_) => same += 1,
                Err(e) => {
                    let mut line = sql
                        .lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(100)
                        .collect::<String>();
                    // GRAPEDB_AREAS_VERBOSE=1 shows how each one differs.
                    if std::env::var_os("GRAPEDB_AREAS_VERBOSE").is_some() {
                        line = format!("{line}\n      {}", e.to_string().replace('\n', "\n      "));
                    }
                    differ.push(line);
                }
            }
        }
        println!(
            "{name}: differs from PostgreSQL:\n    {}",
            differ.join("\n    ")
        );
        s.stop().await;
        let floor = floors.get(&name).copied().unwrap_or(0);
        report.push(format!("{name}: {same} of {total} (floor {floor})"));
        if same < floor {
            short.push(name);
        }
    }
    println!(
        "statements matching PostgreSQL 15:\n  {}",
        report.join("\n  ")
    );
    assert!(
        short.is_empty(),
        "fewer statements match PostgreSQL than tests/pg/MATCHING records in {short:?}:\n  {}",
        report.join("\n  ")
    );
}

/// Writes PostgreSQL's answers into tests/pg/*.slt. Run by
/// scripts/record_pg.sh, which starts the PostgreSQL it points
/// `GRAPEDB_RECORD_PG` at (a libpq connection string without dbname);
/// each file runs in a scratch database of its own.
#[tokio::test]
#[ignore]
async fn record_sql_areas_from_postgresql() {
    let base = std::env::var("GRAPEDB_RECORD_PG").expect("GRAPEDB_RECORD_PG names the server");
    let (admin, task) =
        tokio_postgres::connect(&format!("{base} dbname=postgres"), tokio_postgres::NoTls)
            .await
            .expect("connects to the reference PostgreSQL");
    tokio::spawn(async move {
        let _ = task.await;
    });
    for file in area_files() {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let db = format!("record_{name}");
        // One statement each: several in one message are one transaction.
        for sql in [
            format!("DROP DATABASE IF EXISTS {db}"),
            format!("CREATE DATABASE {db}"),
        ] {
            admin.batch_execute(&sql).await.unwrap();
        }
        let mut runner = runner_for(format!("{base} dbname={db}"));
        runner
            .update_test_file(
                &file,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        drop(runner);
        admin
            .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
            .await
            .unwrap();
        println!("recorded {}", file.display());
    }
}
