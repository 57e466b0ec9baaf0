//! COPY FROM STDIN / TO STDOUT in text, csv and binary; bad rows; atomicity.

use bytes::Bytes;
use futures::{SinkExt, StreamExt, pin_mut};

use crate::common::{TestServer, code, message, rows};

async fn copy_in(
    c: &tokio_postgres::Client,
    sql: &str,
    data: &[u8],
) -> Result<u64, tokio_postgres::Error> {
    let sink = c.copy_in(sql).await?;
    pin_mut!(sink);
    for chunk in data.chunks(7) {
        sink.send(Bytes::copy_from_slice(chunk)).await?;
    }
    sink.finish().await
}

async fn copy_out(c: &tokio_postgres::Client, sql: &str) -> Vec<u8> {
    let stream = c.copy_out(sql).await.unwrap();
    pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(b) = stream.next().await {
        out.extend_from_slice(&b.unwrap());
    }
    out
}

#[tokio::test]
async fn copy_text_csv_binary_roundtrip() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE c (id int8 PRIMARY KEY, a text, b float8, d date, t int4[])")
        .await
        .unwrap();
    let text = b"1\thello\t1.5\t2024-01-02\t{1,2}\n2\twith\\ttab\t\\N\t\\N\t\\N\n";
    assert_eq!(copy_in(&c, "COPY c FROM STDIN", text).await.unwrap(), 2);
    let csv = b"id,a,b,d,t\n3,\"quoted, \"\"comma\"\"\",2.5,2024-03-04,\"{3}\"\n4,,,,\n";
    assert_eq!(
        copy_in(&c, "COPY c FROM STDIN WITH (FORMAT csv, HEADER true)", csv)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        rows(&c, "SELECT id, a, b FROM c ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("hello".into()), Some("1.5".into())],
            vec![Some("2".into()), Some("with\ttab".into()), None],
            vec![
                Some("3".into()),
                Some("quoted, \"comma\"".into()),
                Some("2.5".into())
            ],
            vec![Some("4".into()), None, None],
        ]
    );
    let out = copy_out(&c, "COPY (SELECT id, a, b FROM c ORDER BY id) TO STDOUT").await;
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "1\thello\t1.5\n2\twith\\ttab\t\\N\n3\tquoted, \"comma\"\t2.5\n4\t\\N\t\\N\n"
    );
    let out = copy_out(&c, "COPY c (id, a) TO STDOUT WITH (FORMAT csv)").await;
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("3,\"quoted, \"\"comma\"\"\""), "{text}");

    // Binary out of one table, binary into another: same rows.
    let bin = copy_out(
        &c,
        "COPY (SELECT id, a, b FROM c ORDER BY id) TO STDOUT WITH (FORMAT binary)",
    )
    .await;
    assert!(bin.starts_with(b"PGCOPY\n\xff\r\n\0"));
    c.batch_execute("CREATE TABLE c2 (id int8 PRIMARY KEY, a text, b float8)")
        .await
        .unwrap();
    assert_eq!(
        copy_in(&c, "COPY c2 FROM STDIN (FORMAT binary)", &bin)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        rows(&c, "SELECT count(*) FROM c2 JOIN c ON c.id = c2.id WHERE (c.a IS NOT DISTINCT FROM c2.a) AND (c.b IS NOT DISTINCT FROM c2.b)").await,
        vec![vec![Some("4".into())]]
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_row_reports_line_and_applies_nothing() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE b (id int PRIMARY KEY, n int NOT NULL)")
        .await
        .unwrap();
    let mut data = String::new();
    for i in 1..=12000 {
        data.push_str(&format!("{i}\t{i}\n"));
    }
    data.push_str("12001\tnot-a-number\n");
    let e = copy_in(&c, "COPY b FROM STDIN", data.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22P02");
    let db = e.as_db_error().unwrap();
    assert!(
        db.detail().unwrap_or("").contains("line 12001"),
        "{:?}",
        db.detail()
    );
    assert_eq!(
        rows(&c, "SELECT count(*) FROM b").await,
        vec![vec![Some("0".into())]]
    );

    let e = copy_in(&c, "COPY b FROM STDIN", b"1\t1\n2\n")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22P04");
    let e = copy_in(&c, "COPY b FROM STDIN", b"1\t1\n1\t2\n")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "23505");
    let e = copy_in(&c, "COPY b FROM STDIN", b"1\t\\N\n")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "23502");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM b").await,
        vec![vec![Some("0".into())]]
    );
    // The session is fine afterwards.
    assert_eq!(
        copy_in(&c, "COPY b FROM STDIN", b"1\t1\n").await.unwrap(),
        1
    );
    s.stop().await;
}

/// A COPY is one transaction: while it runs other sessions see none of
/// it, a key repeated in a later batch is 23505, and a client that goes
/// away mid-COPY leaves nothing behind (no rows, no intents).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_is_atomic_across_batches_and_disconnects() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE a (id int PRIMARY KEY, n int UNIQUE)")
        .await
        .unwrap();
    let lines = |from: i32, to: i32| {
        (from..to)
            .map(|i| format!("{i}\t{i}\n"))
            .collect::<String>()
            .into_bytes()
    };
    // Repeated in a later batch (batches are 5,000 rows).
    let mut data = lines(1, 8000);
    data.extend_from_slice(b"3\t100000\n");
    let e = copy_in(&c, "COPY a FROM STDIN", &data).await.unwrap_err();
    assert_eq!(code(&e), "23505");
    assert_eq!(count(&c).await, "0");

    // Mid-COPY: batches written, not visible; then the client vanishes.
    let (c2, conn) = tokio_postgres::connect(&s.conn_str(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let sink = c2.copy_in("COPY a FROM STDIN").await.unwrap();
    pin_mut!(sink);
    for part in lines(1, 12001).chunks(64 * 1024) {
        sink.send(Bytes::copy_from_slice(part)).await.unwrap();
    }
    let mut busy = 0;
    for _ in 0..100 {
        busy = pending(&c).await.0;
        if busy >= 10000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(busy >= 10000, "two batches are written as intents: {busy}");
    assert_eq!(count(&c).await, "0", "a COPY in progress is not visible");
    conn.abort();
    drop(c2);
    let mut left = (1, 1);
    for _ in 0..100 {
        left = pending(&c).await;
        if left == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left, (0, 0), "intents and records left by a vanished COPY");
    assert_eq!(count(&c).await, "0");
    // The keys are free again.
    assert_eq!(
        copy_in(&c, "COPY a FROM STDIN", &lines(1, 101))
            .await
            .unwrap(),
        100
    );
    s.stop().await;
}

async fn count(c: &tokio_postgres::Client) -> String {
    rows(c, "SELECT count(*) FROM a").await[0][0]
        .clone()
        .unwrap()
}

/// Intents and transaction records on all shards.
async fn pending(c: &tokio_postgres::Client) -> (i64, i64) {
    let r = rows(
        c,
        "SELECT coalesce(sum(intents), 0), coalesce(sum(records), 0) FROM grape_txns",
    )
    .await;
    (
        r[0][0].as_ref().unwrap().parse().unwrap(),
        r[0][1].as_ref().unwrap().parse().unwrap(),
    )
}

/// A DELETE of more rows than it collects writes while it scans (intents of
/// one transaction, batch by batch): all of it or none of it applies, its
/// index entries go with the rows, and a timeout midway leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_delete_streams_and_stays_atomic() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, v int); CREATE INDEX big_v ON big (v); \
         INSERT INTO big SELECT value, value % 100 FROM generate_series(1, 30000)",
    )
    .await
    .unwrap();
    // Stopped midway: nothing deleted, nothing left pending.
    c.batch_execute("SET statement_timeout = 300")
        .await
        .unwrap();
    let e = c.batch_execute("DELETE FROM big WHERE id > 2").await;
    c.batch_execute("RESET statement_timeout").await.unwrap();
    if let Err(e) = e {
        assert_eq!(code(&e), "57014");
        assert_eq!(one(&c, "SELECT count(*)::text FROM big").await, "30000");
    }
    for _ in 0..50 {
        if pending(&c).await == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pending(&c).await, (0, 0));
    c.batch_execute("INSERT INTO big SELECT value, value % 100 FROM generate_series(1, 30000) ON CONFLICT DO NOTHING")
        .await
        .unwrap();
    // The whole of it.
    let n = c
        .execute("DELETE FROM big WHERE id % 3 <> 0", &[])
        .await
        .unwrap();
    assert_eq!(n, 20000);
    assert_eq!(one(&c, "SELECT count(*)::text FROM big").await, "10000");
    // The index holds exactly the rows left: lookups through it (v = x)
    // find what a scan (v + 0 = x) finds.
    for v in [3, 4, 50] {
        let by_index = one(&c, &format!("SELECT count(*)::text FROM big WHERE v = {v}")).await;
        let by_scan = one(
            &c,
            &format!("SELECT count(*)::text FROM big WHERE v + 0 = {v}"),
        )
        .await;
        assert_eq!(by_index, by_scan, "v = {v}");
        let want = (1..=30000).filter(|i| i % 3 == 0 && i % 100 == v).count();
        assert_eq!(by_index, want.to_string(), "v = {v}");
    }
    s.stop().await;
}

/// An UPDATE of more rows than it collects writes while it scans, as the
/// DELETE above: all of it or none of it, index entries with the rows, and
/// two rows moved onto one key or unique value are 23505 even when they go
/// out in different batches (the later one meets the earlier one's
/// intent), with nothing applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_update_streams_and_stays_atomic() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, v int, w int UNIQUE); CREATE INDEX big_v ON big (v); \
         INSERT INTO big SELECT value, value % 100, value + 0 FROM generate_series(1, 30000)",
    )
    .await
    .unwrap();
    let sums = "SELECT count(*)::text || ' ' || sum(id)::text || ' ' || sum(v)::text || ' ' || sum(w)::text FROM big";
    let before = one(&c, sums).await;
    // Stopped midway: nothing changed, nothing left pending.
    c.batch_execute("SET statement_timeout = 300")
        .await
        .unwrap();
    let e = c.batch_execute("UPDATE big SET v = v + 1").await;
    c.batch_execute("RESET statement_timeout").await.unwrap();
    if let Err(e) = &e {
        assert_eq!(code(e), "57014");
        assert_eq!(one(&c, sums).await, before);
    } else {
        c.batch_execute("UPDATE big SET v = v - 1").await.unwrap();
    }
    // Moved onto one key or one unique value: rows far apart in the scan
    // (different batches) and near (the same one).
    for (sql, constraint) in [
        (
            "UPDATE big SET id = CASE WHEN id IN (7, 29993) THEN 100000 ELSE id END",
            "big_pkey",
        ),
        (
            "UPDATE big SET w = CASE WHEN id IN (11, 29989) THEN -1 ELSE w END, v = v + 1",
            "big_w_key",
        ),
        ("UPDATE big SET w = w + 1", "big_w_key"),
        ("UPDATE big SET id = id + 1", "big_pkey"),
    ] {
        let e = c.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(&e), "23505", "{sql}: {}", message(&e));
        assert_eq!(
            message(&e),
            format!("duplicate key value violates unique constraint \"{constraint}\""),
            "{sql}"
        );
        assert_eq!(one(&c, sums).await, before, "{sql}");
    }
    for _ in 0..50 {
        if pending(&c).await == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(pending(&c).await, (0, 0));
    // The whole of it; keys moved to where nothing is (the scan reads its
    // snapshot: a moved row is not met again).
    let n = c
        .execute(
            "UPDATE big SET v = v + 1000, w = -w, id = id + 100000 WHERE id % 3 <> 0",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 20000);
    assert_eq!(one(&c, "SELECT count(*)::text FROM big").await, "30000");
    assert_eq!(
        one(
            &c,
            "SELECT count(*)::text FROM big WHERE id > 100000 AND w < 0 AND v >= 1000"
        )
        .await,
        "20000"
    );
    for v in [3, 1004, 1050] {
        let by_index = one(&c, &format!("SELECT count(*)::text FROM big WHERE v = {v}")).await;
        let by_scan = one(
            &c,
            &format!("SELECT count(*)::text FROM big WHERE v + 0 = {v}"),
        )
        .await;
        assert_eq!(by_index, by_scan, "v = {v}");
        let want = (1..=30000)
            .filter(|i| (if i % 3 == 0 { i % 100 } else { i % 100 + 1000 }) == v)
            .count();
        assert_eq!(by_index, want.to_string(), "v = {v}");
    }
    // Unique entries moved with their rows: each w (negated or not) once.
    assert_eq!(
        one(&c, "SELECT count(DISTINCT abs(w))::text FROM big").await,
        "30000"
    );
    assert_eq!(
        one(&c, "SELECT id::text FROM big WHERE w = -29999").await,
        "129999"
    );
    s.stop().await;
}

async fn one(c: &tokio_postgres::Client, sql: &str) -> String {
    rows(c, sql).await[0][0].clone().unwrap()
}
