//! Transaction blocks: visibility, rollback, aborted state, write conflicts.

use crate::common::{TestServer, code, message, rows};

#[tokio::test]
async fn commit_rollback_and_visibility() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    let b = s.connect().await;
    a.batch_execute("CREATE TABLE acct (id int PRIMARY KEY, bal int)")
        .await
        .unwrap();
    a.batch_execute("INSERT INTO acct VALUES (1, 100), (2, 100)")
        .await
        .unwrap();

    a.batch_execute("BEGIN; UPDATE acct SET bal = bal - 10 WHERE id = 1; UPDATE acct SET bal = bal + 10 WHERE id = 2").await.unwrap();
    // Own writes are visible inside the block, not to others.
    assert_eq!(
        rows(&a, "SELECT bal FROM acct WHERE id = 1").await,
        vec![vec![Some("90".into())]]
    );
    assert_eq!(
        rows(&a, "SELECT sum(bal) FROM acct").await,
        vec![vec![Some("200".into())]]
    );
    assert_eq!(
        rows(&b, "SELECT bal FROM acct WHERE id = 1").await,
        vec![vec![Some("100".into())]]
    );
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        rows(&b, "SELECT bal FROM acct ORDER BY id").await,
        vec![vec![Some("90".into())], vec![Some("110".into())]]
    );

    a.batch_execute("BEGIN; INSERT INTO acct VALUES (3, 5); DELETE FROM acct WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        rows(&a, "SELECT count(*) FROM acct").await,
        vec![vec![Some("2".into())]]
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        rows(&a, "SELECT id FROM acct ORDER BY id").await,
        vec![vec![Some("1".into())], vec![Some("2".into())]]
    );
    s.stop().await;
}

#[tokio::test]
async fn failed_statement_aborts_block() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    c.batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let e = c.simple_query("SELECT 1/0").await.unwrap_err();
    assert_eq!(code(&e), "22012");
    let e = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(code(&e), "25P02");
    let msgs = c.simple_query("COMMIT").await.unwrap();
    match &msgs[0] {
        tokio_postgres::SimpleQueryMessage::CommandComplete(_) => {}
        _ => panic!("expected command complete"),
    }
    assert_eq!(
        rows(&c, "SELECT count(*) FROM t").await,
        vec![vec![Some("0".into())]]
    );
    s.stop().await;
}

#[tokio::test]
async fn concurrent_increments_are_not_lost() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE ctr (id int PRIMARY KEY, n int); INSERT INTO ctr VALUES (1, 0)")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = s.connect().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                c.execute("UPDATE ctr SET n = n + 1 WHERE id = 1", &[])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        rows(&c, "SELECT n FROM ctr").await,
        vec![vec![Some("100".into())]]
    );
    s.stop().await;
}

/// Two rows of one UPDATE moved onto the same primary key or unique value:
/// 23505 and nothing of the statement applied, in autocommit and in a block
/// (PostgreSQL 15 answers the same: `duplicate key value violates unique
/// constraint "u_pkey"`, `Key (id)=(3) already exists.`). The second row's
/// write used to overwrite the first's, losing a row.
#[tokio::test]
async fn update_moving_two_rows_onto_one_key_is_a_unique_violation() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE u (id int PRIMARY KEY, v text UNIQUE); INSERT INTO u VALUES (1, 'a'), (2, 'b')",
    )
    .await
    .unwrap();
    let before = vec![
        vec![Some("1".into()), Some("a".into())],
        vec![Some("2".into()), Some("b".into())],
    ];
    for (sql, constraint, detail) in [
        (
            "UPDATE u SET id = 3 WHERE id IN (1, 2)",
            "u_pkey",
            "Key (id)=(3) already exists.",
        ),
        (
            "UPDATE u SET v = 'x' WHERE id IN (1, 2)",
            "u_v_key",
            "Key (v)=(x) already exists.",
        ),
    ] {
        let e = c.simple_query(sql).await.unwrap_err();
        assert_eq!(code(&e), "23505", "{sql}: {}", message(&e));
        assert_eq!(
            message(&e),
            format!("duplicate key value violates unique constraint \"{constraint}\"")
        );
        assert_eq!(e.as_db_error().unwrap().detail(), Some(detail));
        assert_eq!(rows(&c, "SELECT id, v FROM u ORDER BY id").await, before);

        c.batch_execute("BEGIN").await.unwrap();
        let e = c.simple_query(sql).await.unwrap_err();
        assert_eq!(code(&e), "23505", "in a block, {sql}: {}", message(&e));
        c.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(rows(&c, "SELECT id, v FROM u ORDER BY id").await, before);
    }
    s.stop().await;
}

/// The bank workload from issue 13: accounts on every shard, concurrent
/// transfers as one multi-row UPDATE and as a block of two UPDATEs, and a
/// reader checking the count and the total on every read. A statement's
/// writes commit at one timestamp on every shard and reads take one
/// snapshot, so no read sees half a transfer and no money is made or lost.
// Several worker threads: on one thread a scan of all shards runs in one
// poll and no write could land in the middle of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_keep_the_total_and_every_read_consistent() {
    const ACCOUNTS: i64 = 1000;
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        .await
        .unwrap();
    let values: Vec<String> = (1..=ACCOUNTS).map(|i| format!("({i}, 1000)")).collect();
    c.batch_execute(&format!(
        "INSERT INTO accounts VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let c = s.connect().await;
        writers.push(tokio::spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (w + 1);
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let (mut done, mut refused) = (0, 0);
            while std::time::Instant::now() < deadline {
                let a = 1 + (next() % ACCOUNTS as u64) as i64;
                let b = 1 + ((a as u64 + next() % (ACCOUNTS as u64 - 1)) % ACCOUNTS as u64) as i64;
                let amt = 1 + next() % 50;
                let res = if w % 2 == 0 {
                    // From `a` to `b`, or from 4 accounts to 4 others: a
                    // statement that writes to every shard.
                    let (from, to): (Vec<i64>, Vec<i64>) = if next() % 2 == 0 {
                        (vec![a], vec![b])
                    } else {
                        let start = next() % (ACCOUNTS as u64 - 8);
                        (
                            (0..4).map(|i| 1 + start as i64 + i).collect(),
                            (4..8).map(|i| 1 + start as i64 + i).collect(),
                        )
                    };
                    let list = |v: &[i64]| {
                        v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                    };
                    c.simple_query(&format!(
                        "UPDATE accounts SET balance = balance + CASE WHEN id IN ({}) THEN -{amt} ELSE {amt} END WHERE id IN ({}, {})",
                        list(&from),
                        list(&from),
                        list(&to)
                    ))
                    .await
                    .map(|_| ())
                } else {
                    let r = c
                        .batch_execute(&format!(
                            "BEGIN; UPDATE accounts SET balance = balance - {amt} WHERE id = {a}; UPDATE accounts SET balance = balance + {amt} WHERE id = {b}; COMMIT"
                        ))
                        .await;
                    if r.is_err() {
                        c.batch_execute("ROLLBACK").await.unwrap();
                    }
                    r
                };
                match res {
                    Ok(()) => done += 1,
                    // A block of two UPDATEs locks its rows in its order: two
                    // blocks in opposite orders deadlock (40P01, as in
                    // PostgreSQL); a client retries either.
                    Err(e) if ["40001", "40P01"].contains(&code(&e).as_str()) => refused += 1,
                    Err(e) => panic!("transfer failed: {} {}", code(&e), message(&e)),
                }
            }
            (done, refused)
        }));
    }
    let reader = {
        let c = s.connect().await;
        tokio::spawn(async move {
            let mut reads = 0;
            while std::time::Instant::now() < deadline {
                let r = rows(&c, "SELECT count(*), sum(balance) FROM accounts").await;
                assert_eq!(
                    r,
                    vec![vec![
                        Some(ACCOUNTS.to_string()),
                        Some((ACCOUNTS * 1000).to_string())
                    ]],
                    "a read saw part of a transfer"
                );
                reads += 1;
            }
            reads
        })
    };
    let mut transfers = 0;
    for w in writers {
        let (done, _refused) = w.await.unwrap();
        transfers += done;
    }
    let reads = reader.await.unwrap();
    eprintln!("{transfers} transfers, {reads} reads");
    assert!(
        transfers > 20 && reads > 5,
        "{transfers} transfers, {reads} reads"
    );
    assert_eq!(
        rows(&c, "SELECT count(*), sum(balance) FROM accounts").await,
        vec![vec![
            Some(ACCOUNTS.to_string()),
            Some((ACCOUNTS * 1000).to_string())
        ]]
    );
    s.stop().await;
}

/// Replaced row versions are removed once no snapshot can see them, and
/// `grape_gc` shows it; the rows themselves stay as they were.
#[tokio::test]
async fn old_versions_are_garbage_collected() {
    let s = TestServer::start_with(|c| c.gc_retention = std::time::Duration::ZERO).await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE g (id int PRIMARY KEY, n int); INSERT INTO g VALUES (1, 0), (2, 0)",
    )
    .await
    .unwrap();
    for _ in 0..30 {
        c.batch_execute("UPDATE g SET n = n + 1").await.unwrap();
    }
    c.batch_execute("DELETE FROM g WHERE id = 2").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = rows(
            &c,
            "SELECT sum(total_versions_removed), sum(total_keys_removed) FROM grape_gc",
        )
        .await;
        let removed: i64 = r[0][0].as_deref().unwrap_or("0").parse().unwrap();
        let keys: i64 = r[0][1].as_deref().unwrap_or("0").parse().unwrap();
        // 30 updates of each row replaced 60 versions; the deleted row goes.
        if removed >= 60 && keys >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not collected: {removed} versions, {keys} keys"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(
        rows(&c, "SELECT id, n FROM g").await,
        vec![vec![Some("1".into()), Some("30".into())]]
    );
    let shards = rows(&c, "SELECT count(*) FROM grape_gc").await;
    assert_eq!(shards, vec![vec![Some("4".into())]]);
    s.stop().await;
}

/// A cancel request or statement_timeout that arrives while COMMIT writes
/// does not make the client believe a commit failed that then applied (a
/// retry would apply it twice): the answer matches what is stored. Before
/// the write begins, COMMIT is cancelled and nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_commit_reports_what_happened() {
    const ROWS: usize = 30_000;
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE big (id int PRIMARY KEY, pad text)")
        .await
        .unwrap();
    let (mut committed, mut cancelled) = (0, 0);
    for (round, delay_ms) in [0u64, 20, 100, 250, 0, 20].into_iter().enumerate() {
        let lo = round * ROWS;
        let by_timeout = round >= 4;
        c.batch_execute(&format!(
            "BEGIN; INSERT INTO big SELECT value, repeat('x', 50) FROM generate_series({}, {})",
            lo + 1,
            lo + ROWS
        ))
        .await
        .unwrap();
        let canceller = if by_timeout {
            c.batch_execute(&format!("SET statement_timeout = '{}ms'", delay_ms.max(1)))
                .await
                .unwrap();
            None
        } else {
            let token = c.cancel_token();
            Some(tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                let _ = token.cancel_query(tokio_postgres::NoTls).await;
            }))
        };
        let r = c.simple_query("COMMIT").await;
        if let Some(h) = canceller {
            h.await.unwrap();
        }
        if r.is_err() {
            c.batch_execute("ROLLBACK").await.unwrap();
        }
        c.batch_execute("RESET statement_timeout").await.unwrap();
        let stored = rows(
            &c,
            &format!(
                "SELECT count(*) FROM big WHERE id BETWEEN {} AND {}",
                lo + 1,
                lo + ROWS
            ),
        )
        .await;
        match r {
            Ok(_) => {
                committed += 1;
                assert_eq!(stored, vec![vec![Some(ROWS.to_string())]], "round {round}");
            }
            Err(e) => {
                cancelled += 1;
                assert_eq!(code(&e), "57014", "round {round}: {}", message(&e));
                assert_eq!(
                    stored,
                    vec![vec![Some("0".into())]],
                    "round {round}: told cancelled"
                );
            }
        }
    }
    // A COMMIT starts writing at once, so interrupts find it writing: it
    // completes (PostgreSQL also holds interrupts during commit).
    assert!(
        committed > 0,
        "{committed} committed, {cancelled} cancelled"
    );
    // An UPDATE over every row, interrupted while it reads or while it
    // writes: its answer matches what is stored.
    for timeout_ms in [30, 800] {
        c.batch_execute(&format!("SET statement_timeout = '{timeout_ms}ms'"))
            .await
            .unwrap();
        let r = c
            .simple_query(&format!("UPDATE big SET pad = 'v{timeout_ms}'"))
            .await;
        c.batch_execute("RESET statement_timeout").await.unwrap();
        let updated = rows(
            &c,
            &format!("SELECT count(*) FROM big WHERE pad = 'v{timeout_ms}'"),
        )
        .await;
        let total = rows(&c, "SELECT count(*) FROM big").await;
        match r {
            Ok(_) => assert_eq!(updated, total, "told updated ({timeout_ms} ms)"),
            Err(e) => {
                assert_eq!(code(&e), "57014", "{}", message(&e));
                assert_eq!(
                    updated,
                    vec![vec![Some("0".into())]],
                    "told cancelled ({timeout_ms} ms)"
                );
            }
        }
    }
    s.stop().await;
}

/// Isolation in the style of PostgreSQL's isolation specs: steps of two
/// sessions in a fixed order, with what each step must see.
#[tokio::test]
async fn isolation_levels_as_postgresql() {
    let s = TestServer::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    a.batch_execute(
        "CREATE TABLE acc (id int PRIMARY KEY, bal int NOT NULL); \
         INSERT INTO acc VALUES (1, 100), (2, 100), (3, 100), (4, 100)",
    )
    .await
    .unwrap();

    // READ COMMITTED: each statement sees what committed before it.
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 1").await, "100");
    b.batch_execute("UPDATE acc SET bal = 110 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 1").await, "110");
    a.batch_execute("COMMIT").await.unwrap();

    // REPEATABLE READ: the first query's snapshot for the whole block;
    // a transfer committed meanwhile is not half seen (no read skew).
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 1").await, "110");
    b.batch_execute(
        "UPDATE acc SET bal = bal + CASE WHEN id = 1 THEN -10 ELSE 10 END WHERE id IN (1, 2)",
    )
    .await
    .unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 1").await, "110");
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 2").await, "100");
    assert_eq!(one(&a, "SELECT sum(bal) FROM acc").await, "410");
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 2").await, "110");

    // REPEATABLE READ, lost update: the second writer fails with 40001
    // (at its UPDATE in PostgreSQL, at the latest at its COMMIT here).
    for level in ["REPEATABLE READ", "SERIALIZABLE"] {
        a.batch_execute(&format!("BEGIN ISOLATION LEVEL {level}"))
            .await
            .unwrap();
        let before: i32 = one(&a, "SELECT bal FROM acc WHERE id = 3")
            .await
            .parse()
            .unwrap();
        b.batch_execute("UPDATE acc SET bal = bal + 1 WHERE id = 3")
            .await
            .unwrap();
        let r = async {
            a.batch_execute("UPDATE acc SET bal = bal + 5 WHERE id = 3")
                .await?;
            a.batch_execute("COMMIT").await
        }
        .await;
        let e = r.expect_err("a lost update");
        assert_eq!(code(&e), "40001", "{level}: {}", message(&e));
        assert_eq!(
            message(&e),
            "could not serialize access due to concurrent update"
        );
        a.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(
            one(&a, "SELECT bal FROM acc WHERE id = 3").await,
            (before + 1).to_string(),
            "{level}: only the first writer's update"
        );
    }

    // Unique insert race. PostgreSQL makes the second inserter wait for the
    // block and then fail with 23505; here the block's insert is buffered,
    // so the autocommit insert wins and the block's COMMIT fails with 40001
    // (docs/compatibility.md, "Isolation"). Either way one row, not two.
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; INSERT INTO acc VALUES (9, 1)")
        .await
        .unwrap();
    b.batch_execute("INSERT INTO acc VALUES (9, 2)")
        .await
        .unwrap();
    let e = a.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(code(&e), "40001", "{}", message(&e));
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 9").await, "2");

    // A block at the default level, after SET default_transaction_isolation.
    a.batch_execute("SET default_transaction_isolation = 'repeatable read'; BEGIN")
        .await
        .unwrap();
    assert_eq!(
        one(&a, "SHOW transaction_isolation").await,
        "repeatable read"
    );
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 4").await, "100");
    b.batch_execute("UPDATE acc SET bal = 0 WHERE id = 4")
        .await
        .unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 4").await, "100");
    a.batch_execute("COMMIT; RESET default_transaction_isolation")
        .await
        .unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 4").await, "0");
    s.stop().await;
}

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, sql).await[0][0].clone().unwrap_or_default()
}

/// SELECT ... FOR UPDATE in a block holds the rows until the block ends:
/// another session's UPDATE of a locked row waits for it and then applies
/// on the committed value (no lost update); an unlocked row is free; two
/// blocks locking in opposite orders end with one 40P01.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_for_update_locks_rows_until_the_block_ends() {
    let s = TestServer::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    a.batch_execute(
        "CREATE TABLE q (id int PRIMARY KEY, n int NOT NULL); \
         INSERT INTO q VALUES (1, 10), (2, 20), (3, 30)",
    )
    .await
    .unwrap();
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        one(&a, "SELECT n FROM q WHERE id = 1 FOR UPDATE").await,
        "10"
    );
    // Not locked: goes through at once.
    b.batch_execute("UPDATE q SET n = n + 1 WHERE id = 2")
        .await
        .unwrap();
    // Locked: waits for the block.
    let waiter = {
        let b = s.connect().await;
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            b.batch_execute("UPDATE q SET n = n + 1 WHERE id = 1")
                .await
                .unwrap();
            t.elapsed()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(!waiter.is_finished(), "the UPDATE of a locked row waits");
    // Readers are not blocked and see the committed value.
    assert_eq!(one(&b, "SELECT n FROM q WHERE id = 1").await, "10");
    a.batch_execute("UPDATE q SET n = n + 5 WHERE id = 1; COMMIT")
        .await
        .unwrap();
    let waited = waiter.await.unwrap();
    assert!(
        waited >= std::time::Duration::from_millis(300),
        "{waited:?}"
    );
    assert_eq!(one(&a, "SELECT n FROM q WHERE id = 1").await, "16");
    assert_eq!(one(&a, "SELECT n FROM q WHERE id = 2").await, "21");

    // ROLLBACK releases the locks.
    a.batch_execute("BEGIN; SELECT * FROM q WHERE id = 3 FOR SHARE; ROLLBACK")
        .await
        .unwrap();
    b.batch_execute("UPDATE q SET n = 0 WHERE id = 3")
        .await
        .unwrap();

    // Opposite orders: one of the two blocks is chosen as the victim.
    a.batch_execute("BEGIN; SELECT * FROM q WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    b.batch_execute("BEGIN; SELECT * FROM q WHERE id = 2 FOR UPDATE")
        .await
        .unwrap();
    let second = {
        let b = b;
        tokio::spawn(async move {
            let r = b
                .batch_execute("SELECT * FROM q WHERE id = 1 FOR UPDATE")
                .await;
            let _ = b.batch_execute("ROLLBACK").await;
            r.err().map(|e| code(&e))
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let first = a
        .batch_execute("SELECT * FROM q WHERE id = 2 FOR UPDATE")
        .await
        .err()
        .map(|e| code(&e));
    let _ = a.batch_execute("ROLLBACK").await;
    let second = second.await.unwrap();
    let codes = [first.clone(), second.clone()];
    assert_eq!(
        codes
            .iter()
            .filter(|c| c.as_deref() == Some("40P01"))
            .count(),
        1,
        "{codes:?}"
    );
    assert_eq!(
        one(&a, "SELECT count(*) FROM grape_txns WHERE intents > 0").await,
        "0"
    );
    s.stop().await;
}

/// UPDATE and DELETE in a block lock their rows at the statement, as
/// PostgreSQL's do (its isolation specs `lost-update` and
/// `delete-abort-savept` in spirit): at READ COMMITTED another writer of
/// the row waits for the block and then applies on what it committed (no
/// 40001 for either); at REPEATABLE READ the block's UPDATE of a row
/// changed since its snapshot fails with 40001 at once, not at COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_in_a_block_lock_their_rows() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    a.batch_execute(
        "CREATE TABLE acc (id int PRIMARY KEY, bal int NOT NULL); \
         INSERT INTO acc VALUES (1, 100), (2, 100), (3, 100), (4, 100)",
    )
    .await
    .unwrap();
    let waiting = |sql: &'static str| {
        let conn = s.connect();
        async move {
            let b = conn.await;
            let task = tokio::spawn(async move {
                // The largest row count of its statements.
                let r = b.simple_query(sql).await.map(|m| {
                    m.iter()
                        .filter_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                            _ => None,
                        })
                        .max()
                        .unwrap_or(0)
                });
                r.map_err(|e| code(&e))
            });
            tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            assert!(!task.is_finished(), "{sql} waits for the block");
            task
        }
    };

    // READ COMMITTED: the second writer waits, then adds to the first's.
    a.batch_execute("BEGIN; UPDATE acc SET bal = bal + 1 WHERE id = 1")
        .await
        .unwrap();
    let b = waiting("UPDATE acc SET bal = bal + 10 WHERE id = 1").await;
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 1").await, "101");
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(b.await.unwrap(), Ok(1));
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 1").await, "111");

    // Two blocks: the second's UPDATE waits and re-reads; both commit.
    let c = s.connect().await;
    a.batch_execute("BEGIN; UPDATE acc SET bal = bal * 2 WHERE id = 2")
        .await
        .unwrap();
    let b = waiting("BEGIN; UPDATE acc SET bal = bal + 5 WHERE id = 2; COMMIT").await;
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(b.await.unwrap(), Ok(1));
    assert_eq!(one(&c, "SELECT bal FROM acc WHERE id = 2").await, "205");

    // A row the block deleted: the waiting UPDATE finds nothing.
    a.batch_execute("BEGIN; DELETE FROM acc WHERE id = 4")
        .await
        .unwrap();
    let b = waiting("UPDATE acc SET bal = 0 WHERE id = 4").await;
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(b.await.unwrap(), Ok(0));
    assert_eq!(one(&a, "SELECT count(*) FROM acc WHERE id = 4").await, "0");

    // ROLLBACK lets the waiting writer apply on the old value.
    a.batch_execute("BEGIN; UPDATE acc SET bal = 0 WHERE id = 3")
        .await
        .unwrap();
    let b = waiting("UPDATE acc SET bal = bal + 1 WHERE id = 3").await;
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(b.await.unwrap(), Ok(1));
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 3").await, "101");

    // REPEATABLE READ: 40001 at the UPDATE of a row changed since the
    // block's snapshot.
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 3").await, "101");
    c.batch_execute("UPDATE acc SET bal = 7 WHERE id = 3")
        .await
        .unwrap();
    let e = a
        .batch_execute("UPDATE acc SET bal = bal + 1 WHERE id = 3")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "40001", "{}", message(&e));
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(one(&a, "SELECT bal FROM acc WHERE id = 3").await, "7");
    assert_eq!(
        one(&a, "SELECT count(*) FROM grape_txns WHERE intents > 0").await,
        "0"
    );
    s.stop().await;
}

/// One session moves rows to new primary keys (other shards) while
/// another updates the same rows: every row ends up exactly once, under
/// its old or its new key, and an update is either carried along or finds
/// no row (as PostgreSQL's READ COMMITTED: UPDATE 0 after the move).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_moved_between_shards_while_updated_stay_whole() {
    let s = TestServer::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    let values: Vec<String> = (1..=40).map(|i| format!("({i}, 0)")).collect();
    a.batch_execute(&format!(
        "CREATE TABLE mv (id int PRIMARY KEY, n int NOT NULL); INSERT INTO mv VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    let mover = tokio::spawn(async move {
        for i in 1..=40 {
            a.batch_execute(&format!("UPDATE mv SET id = id + 1000 WHERE id = {i}"))
                .await
                .unwrap();
        }
    });
    let mut carried = 0u64;
    for i in 1..=40 {
        let n = b
            .execute(&format!("UPDATE mv SET n = n + 1 WHERE id = {i}"), &[])
            .await
            .unwrap();
        carried += n;
    }
    mover.await.unwrap();
    let c = s.connect().await;
    assert_eq!(one(&c, "SELECT count(*) FROM mv").await, "40");
    assert_eq!(
        one(&c, "SELECT count(*) FROM mv WHERE id > 1000").await,
        "40"
    );
    assert_eq!(
        one(
            &c,
            "SELECT count(DISTINCT id - 1000) FROM mv WHERE id - 1000 BETWEEN 1 AND 40"
        )
        .await,
        "40"
    );
    assert_eq!(one(&c, "SELECT sum(n) FROM mv").await, carried.to_string());
    s.stop().await;
}

/// An UPDATE waiting for a row another block locked can be cancelled, or
/// stopped by statement_timeout, like in PostgreSQL: 57014 and nothing of
/// it applied; the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waiting_for_a_lock_can_be_cancelled() {
    let s = TestServer::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    a.batch_execute(
        "CREATE TABLE w (id int PRIMARY KEY, n int NOT NULL, v text UNIQUE); \
         INSERT INTO w VALUES (1, 0, 'a'), (2, 0, 'b')",
    )
    .await
    .unwrap();
    a.batch_execute("BEGIN; SELECT * FROM w WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    // Cancel: one shard (one phase) and several shards (a transaction).
    for sql in [
        "UPDATE w SET n = n + 1 WHERE id = 1",
        "UPDATE w SET n = n + 1, v = 'moved' WHERE id = 1",
    ] {
        let token = b.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        });
        let e = b.batch_execute(sql).await.unwrap_err();
        canceller.await.unwrap();
        assert_eq!(code(&e), "57014", "{sql}: {}", message(&e));
        assert_eq!(message(&e), "canceling statement due to user request");
    }
    b.batch_execute("SET statement_timeout = 300")
        .await
        .unwrap();
    let e = b
        .batch_execute("UPDATE w SET n = n + 1 WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(message(&e), "canceling statement due to statement timeout");
    b.batch_execute("RESET statement_timeout").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        rows(&b, "SELECT id, n, v FROM w ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("0".into()), Some("a".into())],
            vec![Some("2".into()), Some("0".into()), Some("b".into())],
        ],
        "nothing of the stopped writes applied"
    );
    b.batch_execute("UPDATE w SET n = 5 WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        one(&b, "SELECT count(*) FROM grape_txns WHERE intents > 0").await,
        "0"
    );
    s.stop().await;
}
