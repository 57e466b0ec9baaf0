//! pgvector 0.8.6's own regression suite (tests/pgvector: its `test/sql`
//! and `test/expected`, with its licence), run as pg_regress runs it:
//! `psql -X -a -q` with the file on stdin, after `CREATE EXTENSION vector`,
//! with pg_regress's time zone and date style. The output is compared with
//! pgvector's expected output statement by statement: psql echoes every
//! input line, so both outputs split at the same echoed lines.
//!
//! Not every statement matches yet (docs/compatibility.md counts them):
//! the test fails when fewer match than `tests/pgvector/MATCHING` says,
//! so a change can only raise the figure; raise the file with it. Each
//! run writes GrapeDB's output next to the target directory
//! (`pgvector-results/NAME.out`) for `diff` against `expected/NAME.out`.

use std::process::Command;

use crate::common::TestServer;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pgvector");

/// One statement of a suite file: its lines as psql echoes them (blank
/// lines are not echoed), comments before it included.
struct Stmt {
    lines: Vec<String>,
}

/// Split a suite file into statements: lines up to one ending with `;`,
/// or a single psql meta-command line. Comment lines go with the statement
/// that follows them.
fn statements(sql: &str) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut has_sql = false;
    for line in sql.lines() {
        if line.trim().is_empty() {
            continue;
        }
        cur.push(line.to_string());
        let t = line.trim_start();
        if t.starts_with("--") {
            continue;
        }
        has_sql = true;
        if t.starts_with('\\') || line.trim_end().ends_with(';') {
            out.push(Stmt {
                lines: std::mem::take(&mut cur),
            });
            has_sql = false;
        }
    }
    if has_sql {
        out.push(Stmt { lines: cur });
    }
    out
}

/// The output psql printed for each statement: what follows its echoed
/// lines up to the next statement's.
fn chunks(stmts: &[Stmt], output: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = output.lines().collect();
    let mut pos = 0;
    let mut out = Vec::with_capacity(stmts.len());
    for (i, st) in stmts.iter().enumerate() {
        // Its echo: the statement's lines in order.
        for l in &st.lines {
            while pos < lines.len() && lines[pos] != l {
                pos += 1;
            }
            pos += 1;
        }
        let next = stmts.get(i + 1).map(|n| n.lines[0].as_str());
        let start = pos.min(lines.len());
        while pos < lines.len() && Some(lines[pos]) != next {
            pos += 1;
        }
        out.push(
            lines[start..pos.min(lines.len())]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
    }
    out
}

/// psql's output for `file` on stdin, stdout and stderr in one stream in
/// the order it wrote them (pg_regress sends both to one file), with the
/// time zone and date style pg_regress sets.
fn run_psql(port: u16, file: &std::path::Path, cwd: &std::path::Path) -> String {
    let cmd = format!(
        "psql -X -a -q -h 127.0.0.1 -p {port} -U grape -d grape < '{}' 2>&1",
        file.display()
    );
    let out = Command::new("sh")
        .args(["-c", &cmd])
        .current_dir(cwd)
        .env("PGTZ", "PST8PDT")
        .env("PGDATESTYLE", "Postgres, MDY")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("sh runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_regression_suite() {
    let results = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pgvector-results");
    std::fs::create_dir_all(results.join("results")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(format!("{DIR}/sql"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".sql")
                .map(String::from)
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 14, "pgvector 0.8.6 has 14 test files");
    let (mut matched, mut total) = (0, 0);
    let mut report = Vec::new();
    for name in &names {
        let s = TestServer::start().await;
        let c = s.connect().await;
        c.batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .await
            .unwrap();
        let file = std::path::PathBuf::from(format!("{DIR}/sql/{name}.sql"));
        let (port, cwd) = (s.port, results.clone());
        let got = tokio::task::spawn_blocking(move || run_psql(port, &file, &cwd))
            .await
            .unwrap();
        assert!(
            !got.contains("command not found"),
            "psql is missing (.ci/run installs postgresql-client)"
        );
        std::fs::write(results.join(format!("{name}.out")), &got).unwrap();
        let sql = std::fs::read_to_string(format!("{DIR}/sql/{name}.sql")).unwrap();
        let expected = std::fs::read_to_string(format!("{DIR}/expected/{name}.out")).unwrap();
        let stmts = statements(&sql);
        let (want, have) = (chunks(&stmts, &expected), chunks(&stmts, &got));
        let same = want.iter().zip(&have).filter(|(a, b)| a == b).count();
        report.push(format!("{name}: {same} of {}", stmts.len()));
        matched += same;
        total += stmts.len();
        drop(c);
        s.stop().await;
    }
    let floor: usize = std::fs::read_to_string(format!("{DIR}/MATCHING"))
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.trim().parse().ok())
        .expect("tests/pgvector/MATCHING holds a number");
    println!(
        "pgvector 0.8.6 suite: {matched} of {total} statements match\n  {}",
        report.join("\n  ")
    );
    assert!(
        matched >= floor,
        "pgvector suite: {matched} of {total} statements match, fewer than the {floor} in tests/pgvector/MATCHING\n  {}\n(GrapeDB's output: {})",
        report.join("\n  "),
        results.display()
    );
}

#[test]
fn statements_split_as_psql_echoes_them() {
    let sql = "-- c\nSELECT 1;\n\nSELECT\n  2;\n\\copy t TO 'x'\nSELECT 3;\n";
    let st = statements(sql);
    assert_eq!(st.len(), 4);
    assert_eq!(st[0].lines, vec!["-- c", "SELECT 1;"]);
    let out =
        "-- c\nSELECT 1;\n a\n---\n 1\n\nSELECT\n  2;\nERROR: x\n\\copy t TO 'x'\nSELECT 3;\n";
    let ch = chunks(&st, out);
    assert_eq!(ch[0], vec![" a", "---", " 1", ""]);
    assert_eq!(ch[1], vec!["ERROR: x"]);
    assert!(ch[2].is_empty() && ch[3].is_empty());
}
