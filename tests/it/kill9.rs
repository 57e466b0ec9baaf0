//! kill -9 the real binary mid-stream (or abort it at a step of a commit);
//! after restart every acknowledged row is there and every statement is
//! wholly applied or wholly absent.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

fn spawn(dir: &std::path::Path, port: u16) -> Child {
    spawn_at(dir, port, None)
}

/// The binary, aborting at `failpoint` (see `grapedb::failpoint`) if given.
fn spawn_at(dir: &std::path::Path, port: u16, failpoint: Option<&str>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grapedb"));
    if let Some(f) = failpoint {
        cmd.env("GRAPEDB_FAILPOINT", f);
    }
    cmd.args([
        "start",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("grapedb starts")
}

async fn connect(port: u16) -> tokio_postgres::Client {
    for _ in 0..300 {
        if let Ok((c, conn)) =
            tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user=grape"), NoTls).await
        {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not come up on {port}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn kill_dash_nine_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn(dir.path(), port);
    let c = connect(port).await;
    c.batch_execute("CREATE TABLE d (client int, seq int, PRIMARY KEY (client, seq))")
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4i32 {
        let c = connect(port).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for seq in 0..10_000i32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match c
                    .execute("INSERT INTO d VALUES ($1, $2)", &[&w, &seq])
                    .await
                {
                    Ok(_) => acked.push(seq),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for (w, t) in writers.into_iter().enumerate() {
        acked.push((w as i32, t.await.unwrap()));
    }
    assert!(
        acked.iter().map(|(_, a)| a.len()).sum::<usize>() > 0,
        "no write was acknowledged"
    );

    let mut child = spawn(dir.path(), port);
    let c = connect(port).await;
    for (w, seqs) in &acked {
        let rows = c
            .query("SELECT seq FROM d WHERE client = $1 ORDER BY seq", &[w])
            .await
            .unwrap();
        let got: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        // Every acknowledged row is there; at most the one in flight at the kill is extra.
        for s in seqs {
            assert!(
                got.binary_search(s).is_ok(),
                "acknowledged row ({w}, {s}) lost"
            );
        }
        assert!(
            got.len() <= seqs.len() + 1,
            "rows appeared that were never written"
        );
        for (i, s) in got.iter().enumerate() {
            assert_eq!(
                *s, i as i32,
                "rows must be a prefix of what the client wrote"
            );
        }
    }
    // The catalog survived too, and the node takes writes again.
    c.batch_execute("INSERT INTO d VALUES (99, 0)")
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    let m = c.simple_query(sql).await.unwrap();
    match m.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
        _ => None,
    }) {
        Some(Some(v)) => v,
        other => panic!("{sql}: {other:?}"),
    }
}

/// Intents and records left on all shards.
async fn leftovers(c: &tokio_postgres::Client) -> String {
    one(
        c,
        "SELECT coalesce(sum(intents), 0) || '/' || coalesce(sum(records), 0) FROM grape_txns",
    )
    .await
}

fn kill(mut child: Child) {
    let _ = child.kill();
    child.wait().unwrap();
}

/// The process dies at each step of a multi-shard commit: before the
/// record decides, right after, and between two shards' resolution. After
/// a restart the statement is wholly absent (before) or wholly there
/// (after), rows and unique index entries agree, and no intent or record
/// is left.
#[tokio::test]
async fn a_crash_at_each_step_of_a_commit_leaves_the_statement_whole_or_absent() {
    for (point, applied) in [
        ("txn-before-commit", false),
        ("txn-after-commit", true),
        ("txn-mid-resolution", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(dir.path(), port);
        let c = connect(port).await;
        let values: Vec<String> = (1..=50)
            .map(|i| format!("({i}, 'v{i}', {})", i % 7))
            .collect();
        c.batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text UNIQUE, n int); \
             CREATE INDEX t_n ON t (n); INSERT INTO t VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
        kill(child);

        let mut child = spawn_at(dir.path(), port, Some(point));
        let c = connect(port).await;
        let r = c
            .batch_execute("UPDATE t SET n = n + 100, v = v || 'x' WHERE id <= 40")
            .await;
        assert!(r.is_err(), "{point}: the server died mid-commit");
        let status = child.wait().unwrap();
        assert!(!status.success(), "{point}: aborted");

        let child = spawn(dir.path(), port);
        let c = connect(port).await;
        let (want, other) = if applied { ("40", "0") } else { ("0", "40") };
        assert_eq!(
            one(&c, "SELECT count(*) FROM t WHERE n >= 100").await,
            want,
            "{point}"
        );
        assert_eq!(
            one(&c, "SELECT count(*) FROM t WHERE v LIKE '%x'").await,
            want,
            "{point}"
        );
        assert_eq!(
            one(&c, "SELECT count(*) FROM t WHERE n < 100 AND id <= 40").await,
            other
        );
        assert_eq!(one(&c, "SELECT count(*) FROM t").await, "50");
        assert_eq!(leftovers(&c).await, "0/0", "{point}");
        // The unique index holds exactly the values the rows hold.
        let (now, gone) = if applied {
            ("v1x", "v1")
        } else {
            ("v1", "v1x")
        };
        let e = c
            .batch_execute(&format!("INSERT INTO t VALUES (1000, '{now}', 0)"))
            .await
            .unwrap_err();
        assert_eq!(
            e.as_db_error().map(|d| d.code().code()),
            Some("23505"),
            "{point}"
        );
        c.batch_execute(&format!("INSERT INTO t VALUES (1001, '{gone}', 0)"))
            .await
            .unwrap_or_else(|e| panic!("{point}: a stale index entry for {gone}: {e}"));
        kill(child);
    }
}

/// Transfers between accounts on all shards (multi-row UPDATEs) while the
/// binary is killed with -9 three times: every read before each kill and
/// after each restart has the exact total, and nothing is left pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_transfers_keep_the_total_through_kill_dash_nine() {
    const ACCOUNTS: i64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn(dir.path(), port);
    let c = connect(port).await;
    let values: Vec<String> = (1..=ACCOUNTS).map(|i| format!("({i}, 1000)")).collect();
    c.batch_execute(&format!(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); \
         INSERT INTO accounts VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    let total = (ACCOUNTS * 1000).to_string();
    let mut transfers = 0;
    for cycle in 0..3u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..3u64 {
            let c = connect(port).await;
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (cycle * 8 + w + 1);
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let a = 1 + (rng % ACCOUNTS as u64) as i64;
                    let b = 1 + (a % ACCOUNTS) as i64;
                    let amt = 1 + rng % 40;
                    let sql = format!(
                        "UPDATE accounts SET balance = balance + CASE WHEN id = {a} THEN -{amt} ELSE {amt} END WHERE id IN ({a}, {b})"
                    );
                    match c.batch_execute(&sql).await {
                        Ok(()) => done += 1,
                        Err(e) if e.as_db_error().map(|d| d.code().code()) == Some("40001") => {}
                        Err(_) => break,
                    }
                }
                (done, 0)
            }));
        }
        {
            let c = connect(port).await;
            let stop = stop.clone();
            let total = total.clone();
            tasks.push(tokio::spawn(async move {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    match c
                        .simple_query("SELECT sum(balance)::text FROM accounts")
                        .await
                    {
                        Ok(m) => {
                            if let Some(tokio_postgres::SimpleQueryMessage::Row(r)) = m.first() {
                                assert_eq!(
                                    r.get(0),
                                    Some(total.as_str()),
                                    "a read saw half a transfer"
                                );
                                reads += 1;
                            }
                        }
                        Err(_) => break,
                    }
                }
                (0, reads)
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let (done, _) = t.await.expect("no broken read");
            transfers += done;
        }
        child = spawn(dir.path(), port);
        let c = connect(port).await;
        assert_eq!(
            one(&c, "SELECT sum(balance)::text FROM accounts").await,
            total,
            "after kill {cycle}"
        );
        assert_eq!(
            one(&c, "SELECT count(*) FROM accounts").await,
            ACCOUNTS.to_string()
        );
        assert_eq!(leftovers(&c).await, "0/0", "after kill {cycle}");
    }
    assert!(transfers > 10, "{transfers} transfers");
    kill(child);
}

/// TRUNCATE and DROP TABLE delete rows shard by shard; the process dies
/// between two shards. After a restart the TRUNCATE is complete (no row
/// left on any shard) and the dropped table's rows are gone too.
#[tokio::test]
async fn a_crash_between_shards_of_truncate_or_drop_is_finished_at_start() {
    for (stmt, check) in [
        ("TRUNCATE t", "SELECT count(*) FROM t"),
        ("DROP TABLE t", "SELECT count(*) FROM grape_txns"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(dir.path(), port);
        let c = connect(port).await;
        let values: Vec<String> = (1..=200).map(|i| format!("({i}, 'v{i}')")).collect();
        c.batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text UNIQUE); INSERT INTO t VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
        kill(child);
        let mut child = spawn_at(dir.path(), port, Some("purge-mid-shards"));
        let c = connect(port).await;
        assert!(
            c.batch_execute(stmt).await.is_err(),
            "{stmt}: the server died"
        );
        child.wait().unwrap();
        let child = spawn(dir.path(), port);
        let c = connect(port).await;
        if stmt.starts_with("TRUNCATE") {
            assert_eq!(one(&c, check).await, "0", "{stmt}: rows left");
            // The unique index is empty too: the values can be taken again.
            c.batch_execute("INSERT INTO t VALUES (1, 'v2')")
                .await
                .unwrap();
        } else {
            let e = c.batch_execute("SELECT * FROM t").await.unwrap_err();
            assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("42P01"));
        }
        // No purge is left pending: a second restart has nothing to do,
        // and the keyspace under the old table holds nothing.
        kill(child);
        let child = spawn(dir.path(), port);
        let c = connect(port).await;
        assert_eq!(one(&c, "SELECT 1").await, "1");
        kill(child);
    }
}

/// The process dies while committing a block of schema changes (a table
/// created with rows, a column added and filled, the key column's type
/// changed, which moves every row to a new key), and in the middle of an
/// online CREATE UNIQUE INDEX. After a restart the block is wholly there or
/// wholly absent, the interrupted index is gone with all its entries (it
/// can be built again), and nothing is left pending.
#[tokio::test]
async fn a_crash_while_committing_ddl_leaves_it_whole_or_absent() {
    for (point, applied) in [
        ("txn-before-commit", false),
        ("txn-after-commit", true),
        ("index-backfill", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(dir.path(), port);
        let c = connect(port).await;
        let values: Vec<String> = (1..=3000).map(|i| format!("({i}, 'v{i}')")).collect();
        c.batch_execute(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
        kill(child);

        let mut stmts = vec!["CREATE UNIQUE INDEX t_v ON t (v)"];
        if point != "index-backfill" {
            stmts.push(
                "BEGIN; CREATE TABLE n (id int PRIMARY KEY); \
                 INSERT INTO n SELECT g FROM generate_series(1, 50) AS s(g); \
                 ALTER TABLE t ADD COLUMN k int DEFAULT 1; \
                 ALTER TABLE t ALTER COLUMN id TYPE bigint; COMMIT",
            );
        }
        for stmt in stmts {
            let mut child = spawn_at(dir.path(), port, Some(point));
            let c = connect(port).await;
            assert!(c.batch_execute(stmt).await.is_err(), "{point}: died");
            child.wait().unwrap();
        }

        let child = spawn(dir.path(), port);
        let c = connect(port).await;
        assert_eq!(leftovers(&c).await, "0/0", "{point}");
        // The index build never finished: no index, no entry left.
        c.batch_execute("INSERT INTO t VALUES (5000, 'v1')")
            .await
            .unwrap_or_else(|e| panic!("{point}: the unfinished index is in use: {e}"));
        c.batch_execute("DELETE FROM t WHERE id = 5000; CREATE UNIQUE INDEX t_v ON t (v)")
            .await
            .unwrap_or_else(|e| panic!("{point}: building again: {e}"));
        assert_eq!(
            one(&c, "SELECT count(*) FROM t WHERE v = 'v3000'").await,
            "1"
        );
        let n = c.batch_execute("SELECT count(*) FROM n").await;
        // ALTER COLUMN TYPE of the key moved every row to a new key:
        // all of them or none, each found by its key.
        assert_eq!(one(&c, "SELECT count(*) FROM t").await, "3000", "{point}");
        assert_eq!(one(&c, "SELECT v FROM t WHERE id = 2999").await, "v2999");
        let id_type = one(&c, "SELECT pg_typeof(id)::text FROM t WHERE id = 7").await;
        if applied {
            assert_eq!(one(&c, "SELECT count(*) FROM n").await, "50");
            assert_eq!(one(&c, "SELECT sum(k) FROM t").await, "3000");
            assert_eq!(id_type, "bigint", "{point}");
        } else if point != "index-backfill" {
            assert_eq!(id_type, "integer", "{point}");
            assert!(n.is_err(), "{point}: nothing of the block");
            assert!(c.batch_execute("SELECT k FROM t").await.is_err());
        }
        kill(child);
    }
}

/// Snapshots and log compaction: with a snapshot every 50 entries, a few
/// hundred writes leave each shard's log short (purged behind a snapshot
/// file), and a server restarted on that directory (cleanly, then after
/// kill -9) has every row: it starts from the snapshot and replays only
/// the log after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_compacted_behind_snapshots_and_restarts_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = grapedb::server::Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        shards: 2,
        snapshot_every: 50,
        ..Default::default()
    };
    let handle = grapedb::server::start(config.clone()).await.unwrap();
    let port = handle.addr.port();
    let c = connect(port).await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    for i in 0..400 {
        c.execute("INSERT INTO t VALUES ($1, 'v')", &[&i])
            .await
            .unwrap();
    }
    // Snapshots are built in the background: wait for the purge.
    let node = handle.node.clone();
    let mut compacted = false;
    for _ in 0..100 {
        let logs: Vec<(usize, Option<u64>)> = node
            .groups
            .keys()
            .map(|g| grapedb::shard::log_store::stored_entries(&node.store, *g))
            .collect();
        if logs
            .iter()
            .all(|(n, first)| *n < 150 && first.is_some_and(|f| f > 1))
        {
            compacted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(compacted, "the logs were not purged behind a snapshot");
    for g in node.groups.keys() {
        let files = std::fs::read_dir(grapedb::shard::snapshot::dir(&node.store, *g))
            .unwrap()
            .count();
        assert_eq!(files, 1, "group {g}: one current snapshot file");
    }
    drop((c, node));
    handle.shutdown().await;

    // Restart cleanly (once the last task of the first run has let the
    // database go), then write and kill -9 the binary, then restart.
    let mut tries = 0;
    let handle = loop {
        match grapedb::server::start(config.clone()).await {
            Ok(h) => break h,
            Err(e) if tries < 50 && e.to_string().contains("lock") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("restart: {e}"),
        }
    };
    let c = connect(handle.addr.port()).await;
    assert_eq!(one(&c, "SELECT count(*) FROM t").await, "400");
    drop(c);
    handle.shutdown().await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_grapedb"));
    child
        .env("GRAPEDB_SNAPSHOT_EVERY", "50")
        .args(["start", "--data-dir", dir.path().to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let proc = child.spawn().unwrap();
    let c = connect(port).await;
    for i in 400..600 {
        c.execute("INSERT INTO t VALUES ($1, 'w')", &[&i])
            .await
            .unwrap();
    }
    kill(proc);
    let proc = spawn(dir.path(), port);
    let c = connect(port).await;
    assert_eq!(one(&c, "SELECT count(*) FROM t").await, "600");
    assert_eq!(one(&c, "SELECT count(*) FROM t WHERE v = 'w'").await, "200");
    kill(proc);
}

/// Sequence values are never handed out twice: not after kill -9 (the
/// node's unused block is skipped, as PostgreSQL's cache is), not to a
/// serial column, and `setval` survives it.
#[tokio::test]
async fn sequences_never_repeat_a_value_through_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = spawn(dir.path(), port);
    let c = connect(port).await;
    c.batch_execute(
        "CREATE SEQUENCE s; CREATE SEQUENCE t_seq INCREMENT BY -3 START WITH 1000 MINVALUE 1 MAXVALUE 1000; \
         CREATE TABLE t (id serial PRIMARY KEY, n int)",
    )
    .await
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    for i in 0..150 {
        let v: i64 = one(&c, "SELECT nextval('s')").await.parse().unwrap();
        assert!(seen.insert(v), "{v} handed out twice");
        c.batch_execute(&format!("INSERT INTO t (n) VALUES ({i})"))
            .await
            .unwrap();
    }
    let down: i64 = one(&c, "SELECT nextval('t_seq')").await.parse().unwrap();
    assert_eq!(down, 1000);
    kill(child);
    let child = spawn(dir.path(), port);
    let c = connect(port).await;
    let v: i64 = one(&c, "SELECT nextval('s')").await.parse().unwrap();
    assert!(v > 150 && !seen.contains(&v), "{v} after restart");
    let d: i64 = one(&c, "SELECT nextval('t_seq')").await.parse().unwrap();
    assert!(d < 1000, "a decreasing sequence went on down: {d}");
    // The serial column goes on past its rows: no duplicate key.
    c.batch_execute("INSERT INTO t (n) VALUES (150)")
        .await
        .unwrap();
    assert_eq!(one(&c, "SELECT count(DISTINCT id) FROM t").await, "151");
    c.batch_execute("SELECT setval('s', 5000)").await.unwrap();
    kill(child);
    let child = spawn(dir.path(), port);
    let c = connect(port).await;
    assert_eq!(one(&c, "SELECT nextval('s')").await, "5001");
    kill(child);
}
