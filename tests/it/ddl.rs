//! Transactional DDL and table locks over the wire: schema changes in a
//! block take effect at COMMIT and vanish at ROLLBACK, other sessions never
//! see half of one, TRUNCATE and DROP wait for the writers and readers of
//! their table (and those wait for them), CREATE INDEX fills the index
//! while writers wait and only then is it used.

use std::time::Duration;

use crate::common::{TestServer, code};

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    let m = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    match m.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
        _ => None,
    }) {
        Some(Some(v)) => v,
        other => panic!("{sql}: {other:?}"),
    }
}

async fn fails(c: &tokio_postgres::Client, sql: &str) -> String {
    match c.batch_execute(sql).await {
        Ok(()) => panic!("{sql}: succeeded"),
        Err(e) => code(&e),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_in_a_block_takes_effect_at_commit_and_vanishes_at_rollback() {
    let s = TestServer::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    a.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) AS s(g)",
    )
    .await
    .unwrap();

    // CREATE TABLE + rows + index + ALTER: the block sees them, no one
    // else does, ROLLBACK leaves nothing.
    a.batch_execute(
        "BEGIN; CREATE TABLE n (id int PRIMARY KEY, w text UNIQUE); \
         INSERT INTO n VALUES (1, 'a'), (2, 'b'); CREATE INDEX n_w ON n (w); \
         ALTER TABLE t ADD COLUMN k int DEFAULT 7",
    )
    .await
    .unwrap();
    assert_eq!(one(&a, "SELECT count(*) FROM n").await, "2");
    assert_eq!(one(&a, "SELECT sum(k) FROM t").await, "700");
    assert_eq!(fails(&b, "SELECT * FROM n").await, "42P01");
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(fails(&a, "SELECT * FROM n").await, "42P01");
    assert_eq!(fails(&a, "SELECT k FROM t").await, "42703");
    assert_eq!(one(&b, "SELECT count(*) FROM t").await, "100");

    // The same committed: all of it at once.
    a.batch_execute(
        "BEGIN; CREATE TABLE n (id int PRIMARY KEY, w text UNIQUE); \
         INSERT INTO n VALUES (1, 'a'), (2, 'b'); CREATE INDEX n_w ON n (w); \
         ALTER TABLE t ADD COLUMN k int DEFAULT 7; COMMIT",
    )
    .await
    .unwrap();
    assert_eq!(one(&b, "SELECT count(*) FROM n WHERE w = 'b'").await, "1");
    assert_eq!(one(&b, "SELECT sum(k) FROM t").await, "700");
    assert_eq!(fails(&b, "INSERT INTO n VALUES (3, 'a')").await, "23505");

    // TRUNCATE: the block sees an empty table and its own new rows;
    // ROLLBACK brings the old rows back, COMMIT keeps only the new ones.
    a.batch_execute("BEGIN; TRUNCATE t; INSERT INTO t VALUES (1000, 'x', 1)")
        .await
        .unwrap();
    assert_eq!(one(&a, "SELECT count(*) FROM t").await, "1");
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(one(&a, "SELECT count(*) FROM t").await, "100");
    a.batch_execute("BEGIN; TRUNCATE t; INSERT INTO t VALUES (1000, 'x', 1); COMMIT")
        .await
        .unwrap();
    assert_eq!(
        one(&b, "SELECT string_agg(id::text, ',') FROM t").await,
        "1000"
    );

    // DROP TABLE rolled back keeps table and rows; savepoints cover DDL.
    a.batch_execute("BEGIN; DROP TABLE n; ROLLBACK")
        .await
        .unwrap();
    assert_eq!(one(&b, "SELECT count(*) FROM n").await, "2");
    a.batch_execute(
        "BEGIN; CREATE TABLE x (id int); SAVEPOINT s; DROP TABLE x; \
         ROLLBACK TO SAVEPOINT s; INSERT INTO x VALUES (1); COMMIT",
    )
    .await
    .unwrap();
    assert_eq!(one(&b, "SELECT count(*) FROM x").await, "1");

    // An error inside the block: nothing of it stays.
    assert_eq!(
        fails(
            &a,
            "BEGIN; CREATE TABLE y (id int); CREATE TABLE y (id int); COMMIT"
        )
        .await,
        "42P07"
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(fails(&b, "SELECT * FROM y").await, "42P01");
    // A failed DDL statement outside a block leaves nothing either.
    assert_eq!(
        fails(&a, "ALTER TABLE n ADD COLUMN z int NOT NULL").await,
        "23502"
    );
    assert_eq!(fails(&a, "SELECT z FROM n").await, "42703");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ddl_waits_for_the_sessions_using_its_table_and_they_wait_for_it() {
    let s = TestServer::start().await;
    let (a, b) = (s.connect().await, s.connect().await);
    a.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int); \
         INSERT INTO t SELECT g, g + 0 FROM generate_series(1, 50) AS s(g)",
    )
    .await
    .unwrap();

    // A TRUNCATE committed while an INSERT waited does not lose it: the
    // INSERT goes into the truncated table.
    a.batch_execute("BEGIN; TRUNCATE t").await.unwrap();
    let insert = {
        let b = s.connect().await;
        tokio::spawn(async move { b.batch_execute("INSERT INTO t VALUES (500, 1)").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !insert.is_finished(),
        "INSERT waits for the TRUNCATE's block"
    );
    a.batch_execute("COMMIT").await.unwrap();
    insert.await.unwrap().unwrap();
    assert_eq!(
        one(&b, "SELECT string_agg(id::text, ',') FROM t").await,
        "500"
    );

    // A TRUNCATE waits for a block that inserted and for a reader's block.
    b.batch_execute("BEGIN; INSERT INTO t VALUES (501, 1)")
        .await
        .unwrap();
    let truncate = {
        let c = s.connect().await;
        tokio::spawn(async move { c.batch_execute("TRUNCATE t").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!truncate.is_finished(), "TRUNCATE waits for the writer");
    b.batch_execute("COMMIT").await.unwrap();
    truncate.await.unwrap().unwrap();
    assert_eq!(one(&b, "SELECT count(*) FROM t").await, "0");

    // An ALTER in a block: readers wait and then see the whole change.
    a.batch_execute(
        "INSERT INTO t SELECT g, g + 0 FROM generate_series(1, 20) AS s(g); \
         BEGIN; ALTER TABLE t ADD COLUMN k int DEFAULT 3",
    )
    .await
    .unwrap();
    let read = {
        let c = s.connect().await;
        tokio::spawn(async move { one(&c, "SELECT count(*) || '/' || sum(k) FROM t").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!read.is_finished(), "the reader waits for the ALTER");
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(read.await.unwrap(), "20/60");

    // Two blocks locking each other's tables: one gets 40P01 at once.
    a.batch_execute("CREATE TABLE u (id int)").await.unwrap();
    a.batch_execute("BEGIN; INSERT INTO t VALUES (900, 1, 1)")
        .await
        .unwrap();
    b.batch_execute("BEGIN; INSERT INTO u VALUES (1)")
        .await
        .unwrap();
    let a_waits = tokio::spawn(async move {
        let r = a.batch_execute("TRUNCATE u").await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let e = b.batch_execute("TRUNCATE t").await.unwrap_err();
    assert_eq!(code(&e), "40P01");
    b.batch_execute("ROLLBACK").await.unwrap();
    let (a, r) = a_waits.await.unwrap();
    r.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(one(&b, "SELECT count(*) FROM u").await, "0");

    // A lock wait is stopped by statement_timeout (57014), nothing applied.
    a.batch_execute("BEGIN; INSERT INTO t VALUES (901, 1, 1)")
        .await
        .unwrap();
    b.batch_execute("SET statement_timeout = 200")
        .await
        .unwrap();
    assert_eq!(fails(&b, "DROP TABLE t").await, "57014");
    b.batch_execute("RESET statement_timeout").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(one(&b, "SELECT count(*) FROM t WHERE id >= 900").await, "2");

    // A prepared statement holds no lock once its Parse is answered.
    let _prepared = b.prepare("SELECT * FROM t WHERE id = $1").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), a.batch_execute("TRUNCATE t"))
        .await
        .expect("TRUNCATE waited for an idle session's Parse")
        .unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_index_with_writers_holds_every_row_before_it_is_used() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    a.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int); \
         INSERT INTO t SELECT g, g * 10 FROM generate_series(1, 3000) AS s(g)",
    )
    .await
    .unwrap();
    // Writers insert, update and delete while the index is built.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let c = s.connect().await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && i < 400 {
                let id = 10_000 + w * 1000 + i;
                c.batch_execute(&format!(
                    "INSERT INTO t VALUES ({id}, {}); UPDATE t SET v = v + 1 WHERE id = {}; \
                     DELETE FROM t WHERE id = {}",
                    id * 10,
                    1 + (id % 3000),
                    1 + ((id * 7) % 3000)
                ))
                .await
                .unwrap();
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.batch_execute("CREATE UNIQUE INDEX t_v ON t (v)")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    // Every row is found through the index, and the index holds no more.
    let rows = a.query("SELECT id, v FROM t", &[]).await.unwrap();
    let plan: Vec<String> = a
        .simple_query("EXPLAIN SELECT id FROM t WHERE v = 10")
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert!(plan.join("\n").contains("index t_v"), "{plan:?}");
    let mut found = 0;
    for r in &rows {
        let (id, v): (i32, i32) = (r.get(0), r.get(1));
        let got = a
            .query("SELECT id FROM t WHERE v = $1", &[&v])
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "v = {v}");
        assert_eq!(got[0].get::<_, i32>(0), id);
        found += 1;
    }
    assert_eq!(found, rows.len());
    // Uniqueness holds from now on.
    let v: i32 = rows[0].get(1);
    let e = a
        .execute("INSERT INTO t VALUES (999999, $1)", &[&v])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "23505");
    // Duplicates fail the build with PostgreSQL's error; nothing is left.
    a.batch_execute(
        "CREATE TABLE d (id int PRIMARY KEY, w int); INSERT INTO d VALUES (1, 5), (2, 6), (3, 5)",
    )
    .await
    .unwrap();
    let e = a
        .batch_execute("CREATE UNIQUE INDEX d_w ON d (w)")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "23505");
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "could not create unique index \"d_w\""
    );
    a.batch_execute("DELETE FROM d WHERE id = 3; CREATE UNIQUE INDEX d_w ON d (w)")
        .await
        .unwrap();
    assert_eq!(fails(&a, "INSERT INTO d VALUES (4, 6)").await, "23505");
    // CONCURRENTLY is accepted outside a block, refused inside one.
    a.batch_execute("CREATE INDEX CONCURRENTLY t_v2 ON t (v)")
        .await
        .unwrap();
    assert_eq!(
        fails(&a, "BEGIN; CREATE INDEX CONCURRENTLY t_v3 ON t (v)").await,
        "25001"
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    s.stop().await;
}
