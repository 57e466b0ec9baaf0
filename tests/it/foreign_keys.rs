//! FOREIGN KEYs under concurrency: a referenced row cannot go while a
//! new reference to it is being written, cascades are all or nothing, and
//! racing writers never leave an orphan.

use std::time::{Duration, Instant};

use crate::common::{TestServer, code, rows};

/// Rows of `child` whose parent does not exist.
async fn orphans(c: &tokio_postgres::Client, child: &str) -> usize {
    let sql = format!(
        "SELECT count(*) FROM {child} c WHERE c.pid IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM parent p WHERE p.id = c.pid)"
    );
    rows(c, &sql).await[0][0].as_ref().unwrap().parse().unwrap()
}

/// Run `sql` on a new connection and check it is still waiting after
/// 400 ms (for another session's block); its outcome as a SQLSTATE.
async fn waiting(
    s: &TestServer,
    sql: &'static str,
    why: &str,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let b = s.connect().await;
    let task =
        tokio::spawn(async move { b.simple_query(sql).await.map(|_| ()).map_err(|e| code(&e)) });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!task.is_finished(), "{why}");
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referenced_row_waits_for_the_block_that_references_it() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    a.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY); \
         CREATE TABLE child (id int PRIMARY KEY, pid int REFERENCES parent(id)); \
         CREATE TABLE cchild (id int PRIMARY KEY, pid int REFERENCES parent(id) ON DELETE CASCADE); \
         INSERT INTO parent VALUES (1), (2)",
    )
    .await
    .unwrap();

    // NO ACTION: the DELETE waits for the block, then sees its row.
    a.batch_execute("BEGIN; INSERT INTO child VALUES (1, 1)")
        .await
        .unwrap();
    let del = waiting(
        &s,
        "DELETE FROM parent WHERE id = 1",
        "the DELETE waits for the referencing block",
    )
    .await;
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(del.await.unwrap(), Err("23503".to_string()));
    assert_eq!(
        rows(&a, "SELECT id FROM parent WHERE id = 1").await.len(),
        1
    );

    // CASCADE: the DELETE waits, then removes the row the block added.
    a.batch_execute("BEGIN; INSERT INTO cchild VALUES (1, 2)")
        .await
        .unwrap();
    let del = waiting(
        &s,
        "DELETE FROM parent WHERE id = 2",
        "the DELETE waits for the referencing block",
    )
    .await;
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(del.await.unwrap(), Ok(()));
    assert_eq!(orphans(&a, "cchild").await, 0);
    assert_eq!(rows(&a, "SELECT id FROM cchild").await.len(), 0);

    // The other order: a reference to a row a block deletes waits, then
    // fails (23503, or 40001 when the lock found the row changed).
    a.batch_execute("INSERT INTO parent VALUES (3); BEGIN; DELETE FROM parent WHERE id = 3")
        .await
        .unwrap();
    let ins = waiting(
        &s,
        "INSERT INTO child VALUES (3, 3)",
        "the INSERT waits for the deleting block",
    )
    .await;
    a.batch_execute("COMMIT").await.unwrap();
    let got = ins.await.unwrap();
    assert!(
        got == Err("23503".into()) || got == Err("40001".into()),
        "{got:?}"
    );
    assert_eq!(orphans(&a, "child").await, 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cascade_is_all_or_nothing() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    a.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY); \
         CREATE TABLE mid (id int PRIMARY KEY, pid int REFERENCES parent(id) ON DELETE CASCADE); \
         CREATE TABLE leaf (id int PRIMARY KEY, mid int REFERENCES mid(id)); \
         INSERT INTO parent SELECT g FROM generate_series(1, 20) g; \
         INSERT INTO mid SELECT g, g AS p FROM generate_series(1, 20) g; \
         INSERT INTO leaf VALUES (1, 20)",
    )
    .await
    .unwrap();
    // The cascade reaches a row `leaf` still references: nothing is deleted.
    let e = a.batch_execute("DELETE FROM parent").await.unwrap_err();
    assert_eq!(code(&e), "23503");
    assert_eq!(
        rows(&a, "SELECT count(*) FROM parent").await[0][0].as_deref(),
        Some("20")
    );
    assert_eq!(
        rows(&a, "SELECT count(*) FROM mid").await[0][0].as_deref(),
        Some("20")
    );
    // Without it the cascade goes through, in one transaction.
    a.batch_execute("DELETE FROM leaf; DELETE FROM parent WHERE id <= 10")
        .await
        .unwrap();
    assert_eq!(
        rows(&a, "SELECT count(*) FROM mid").await[0][0].as_deref(),
        Some("10")
    );
    // In a block a failed cascade fails the block; ROLLBACK keeps all.
    a.batch_execute("BEGIN; DELETE FROM parent WHERE id = 11; ROLLBACK")
        .await
        .unwrap();
    assert_eq!(
        rows(&a, "SELECT count(*) FROM mid").await[0][0].as_deref(),
        Some("10")
    );
    s.stop().await;
}

/// Writers insert references while others delete and re-insert the
/// referenced rows, for a bounded time: no orphan survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_references_and_deletes_leave_no_orphan() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    a.batch_execute(
        "CREATE TABLE parent (id int PRIMARY KEY); \
         CREATE TABLE child (id serial PRIMARY KEY, pid int REFERENCES parent(id)); \
         CREATE TABLE cchild (id serial PRIMARY KEY, pid int REFERENCES parent(id) ON DELETE CASCADE); \
         INSERT INTO parent SELECT g FROM generate_series(1, 8) g",
    )
    .await
    .unwrap();
    let until = Instant::now() + Duration::from_secs(4);
    let mut tasks = Vec::new();
    for w in 0..4u32 {
        let c = s.connect().await;
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            let mut done = 0u32;
            while Instant::now() < until && n < 400 {
                n += 1;
                let p = (n * 7 + w * 3) % 8 + 1;
                let sql = match (w, n % 3) {
                    (0 | 1, 0) => format!("INSERT INTO child (pid) VALUES ({p})"),
                    (0 | 1, _) => format!("INSERT INTO cchild (pid) VALUES ({p})"),
                    (_, 0) => format!("INSERT INTO parent VALUES ({p})"),
                    (_, 1) => format!("DELETE FROM cchild WHERE pid = {p}; DELETE FROM child WHERE pid = {p}; DELETE FROM parent WHERE id = {p}"),
                    _ => format!("DELETE FROM parent WHERE id = {p}"),
                };
                match c.batch_execute(&sql).await {
                    Ok(()) => done += 1,
                    Err(e) => {
                        let code = code(&e);
                        assert!(
                            ["23503", "23505", "40001"].contains(&code.as_str()),
                            "{sql}: {code} {e:?}"
                        );
                    }
                }
            }
            done
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    assert!(done > 0, "some statements succeeded");
    assert_eq!(orphans(&a, "child").await, 0);
    assert_eq!(orphans(&a, "cchild").await, 0);
    s.stop().await;
}
