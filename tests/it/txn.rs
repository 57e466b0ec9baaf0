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
