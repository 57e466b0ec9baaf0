//! Every error a client sees carries PostgreSQL's SQLSTATE; none breaks the session.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestServer, code, message, rows};

#[tokio::test]
async fn sqlstates_and_session_survives() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL)")
        .await
        .unwrap();
    c.batch_execute("INSERT INTO t VALUES (1, 'a')")
        .await
        .unwrap();

    let cases: &[(&str, &str)] = &[
        ("SELEC 1", "42601"),
        ("SELECT * FROM missing", "42P01"),
        ("SELECT nope FROM t", "42703"),
        ("CREATE TABLE t (x int)", "42P07"),
        ("INSERT INTO t VALUES (1, 'dup')", "23505"),
        ("INSERT INTO t VALUES (2, NULL)", "23502"),
        ("SELECT 'abc'::int", "22P02"),
        ("SELECT 1/0", "22012"),
        ("INSERT INTO t VALUES (true, 'x')", "42804"),
        ("SELECT * FROM t WHERE 1", "42804"),
        ("SET no_such_setting = 1", "42704"),
        ("CREATE DATABASE scratch", "0A000"),
    ];
    for (sql, want) in cases {
        let e = c.simple_query(sql).await.expect_err(sql);
        assert_eq!(code(&e), *want, "{sql}: {}", message(&e));
    }
    let e = c.simple_query("SELECT * FROM missing").await.unwrap_err();
    assert_eq!(message(&e), "relation \"missing\" does not exist");
    // The error position is counted on the original text, whose length in
    // bytes changes when lowercased (this used to end the connection).
    let e = c
        .simple_query("SELECT 'İİİİİİİİİİİİİİİİİİİİ' FROM nosuch")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P01");
    assert_eq!(e.as_db_error().unwrap().position().is_some(), true);
    // Seconds beyond what a timestamp holds: PostgreSQL's error, not a
    // date clamped to 2262.
    for (sql, text) in [
        (
            "SELECT to_timestamp(1e18)",
            "timestamp out of range: \"1e+18\"",
        ),
        (
            "SELECT to_timestamp(-1e15)",
            "timestamp out of range: \"-1e+15\"",
        ),
        (
            "SELECT to_timestamp('NaN'::float8)",
            "timestamp out of range: \"NaN\"",
        ),
    ] {
        let e = c.simple_query(sql).await.unwrap_err();
        assert_eq!(
            (code(&e).as_str(), message(&e).as_str()),
            ("22008", text),
            "{sql}"
        );
    }
    // A value the row encoder cannot send (an array of halfvec) is an
    // error for that statement; the encoder used to repeat its error
    // without end and the server grew until the OOM killer ended it.
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
        .await
        .unwrap();
    let e = c
        .simple_query("SELECT ARRAY['[1,2,3]'::halfvec, '[4,5,6]']")
        .await;
    if let Err(e) = e {
        assert!(e.as_db_error().is_some(), "{e}");
    }
    // In range: still a timestamp.
    assert_eq!(
        rows(&c, "SELECT to_timestamp(1e9) IS NOT NULL").await,
        vec![vec![Some("t".into())]]
    );
    let e = c.simple_query("SELECT 1 FROM t WHERE").await.unwrap_err();
    assert_eq!(message(&e), "syntax error at end of input");
    let e = c.simple_query("SELECT * FRM t").await.unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.message(), "syntax error at or near \"t\"");
    assert!(db.position().is_some());
    // Still usable, data intact.
    assert_eq!(
        rows(&c, "SELECT id, name FROM t").await,
        vec![vec![Some("1".into()), Some("a".into())]]
    );
    s.stop().await;
}

/// ALTER TABLE racing DROP/CREATE of the same table: each statement either
/// applies or fails with PostgreSQL's error; no session is lost (an ALTER
/// that found the table gone used to panic and end its connection).
#[tokio::test]
async fn ddl_racing_drop_keeps_sessions() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    let b = s.connect().await;
    a.batch_execute("CREATE TABLE r (id int PRIMARY KEY, x int)")
        .await
        .unwrap();
    let alters = async {
        let mut applied = 0;
        for i in 0..150 {
            let sql = match i % 4 {
                0 => "ALTER TABLE r RENAME COLUMN x TO y",
                1 => "ALTER TABLE r RENAME COLUMN y TO x",
                2 => "ALTER TABLE r ALTER COLUMN x SET DEFAULT 7",
                _ => "ALTER TABLE r DROP COLUMN IF EXISTS z",
            };
            match a.simple_query(sql).await {
                Ok(_) => applied += 1,
                Err(e) => {
                    let c = code(&e);
                    assert!(
                        ["42P01", "42703", "40001"].contains(&c.as_str()),
                        "{sql}: {c} {}",
                        message(&e)
                    );
                }
            }
        }
        applied
    };
    let drops = async {
        for _ in 0..75 {
            let _ = b.simple_query("DROP TABLE IF EXISTS r").await;
            let _ = b
                .simple_query("CREATE TABLE IF NOT EXISTS r (id int PRIMARY KEY, x int)")
                .await;
            tokio::task::yield_now().await;
        }
    };
    let (applied, ()) = tokio::join!(alters, drops);
    assert!(applied > 0, "no ALTER ever applied");
    // Both sessions are still usable.
    assert_eq!(rows(&a, "SELECT 1").await, vec![vec![Some("1".into())]]);
    assert_eq!(rows(&b, "SELECT 1").await, vec![vec![Some("1".into())]]);
    s.stop().await;
}

#[tokio::test]
async fn ssl_request_is_answered_n() {
    let s = TestServer::start().await;
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .unwrap();
    raw.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .await
        .unwrap();
    let mut b = [0u8; 1];
    raw.read_exact(&mut b).await.unwrap();
    assert_eq!(b[0], b'N');
    s.stop().await;
}

#[tokio::test]
async fn garbage_on_the_socket_ends_only_that_connection() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    for junk in [
        &b"\x00\x00\x00\x08\x04\xd2\x16\x2f"[..],
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xffu8; 64][..],
    ] {
        let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
            .await
            .unwrap();
        let _ = raw.write_all(junk).await;
        let mut buf = [0u8; 256];
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), raw.read(&mut buf)).await;
    }
    assert_eq!(rows(&c, "SELECT 1").await, vec![vec![Some("1".into())]]);
    let c2 = s.connect().await;
    assert_eq!(rows(&c2, "SELECT 2").await, vec![vec![Some("2".into())]]);
    s.stop().await;
}

#[tokio::test]
async fn statement_timeout_and_cancel() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let slow = "SELECT count(*) FROM generate_series(1, 2000000000) AS a(x) WHERE x % 7 = 3";
    let e = c.simple_query(slow).await.unwrap_err();
    assert_eq!(code(&e), "57014");
    c.batch_execute("RESET statement_timeout").await.unwrap();
    let token = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let e = c.simple_query(slow).await.unwrap_err();
    assert_eq!(code(&e), "57014");
    canceller.await.unwrap();
    assert_eq!(rows(&c, "SELECT 3").await, vec![vec![Some("3".into())]]);
    s.stop().await;
}
