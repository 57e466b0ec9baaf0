//! What tools send besides queries: advisory locks (migration tools take
//! one so two deploys do not migrate at once), pg_sleep, set_config.

use std::time::Duration;

use crate::common::{TestServer, code, rows};

fn one(r: Vec<Vec<Option<String>>>) -> Vec<Option<String>> {
    r.into_iter().next().expect("one row")
}

#[tokio::test]
async fn advisory_locks_exclude_sessions_until_released() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    let b = s.connect().await;
    rows(&a, "SELECT pg_advisory_lock(42)").await;
    // Another session cannot have it; the two-integer key space is its own.
    assert_eq!(
        one(rows(
            &b,
            "SELECT pg_try_advisory_lock(42), pg_try_advisory_lock(0, 42)"
        )
        .await),
        [Some("f".into()), Some("t".into())]
    );
    // With a parameter, as migration tools send it: B waits for A.
    let waiting = tokio::spawn(async move {
        b.execute("SELECT pg_advisory_lock($1)", &[&42i64])
            .await
            .unwrap();
        b
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "B must wait while A holds the lock");
    assert_eq!(
        one(rows(&a, "SELECT pg_advisory_unlock(42), pg_advisory_unlock(42)").await),
        [Some("t".into()), Some("f".into())]
    );
    let b = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("B gets the lock once A lets go")
        .unwrap();
    assert_eq!(
        one(rows(&a, "SELECT pg_try_advisory_lock(42)").await),
        [Some("f".into())]
    );
    // A session's locks go with it.
    drop(b);
    let mut free = false;
    for _ in 0..50 {
        if one(rows(&a, "SELECT pg_try_advisory_lock(42)").await) == [Some("t".into())] {
            free = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(free, "a closed session's advisory locks are released");

    // Transaction-level: held until COMMIT.
    let c = s.connect().await;
    rows(&a, "BEGIN").await;
    rows(&a, "SELECT pg_advisory_xact_lock(7)").await;
    assert_eq!(
        one(rows(&c, "SELECT pg_try_advisory_xact_lock(7)").await),
        [Some("f".into())]
    );
    rows(&a, "COMMIT").await;
    assert_eq!(
        one(rows(&c, "SELECT pg_try_advisory_xact_lock(7)").await),
        [Some("t".into())]
    );
    // Outside a block it lasted only its statement.
    assert_eq!(
        one(rows(&a, "SELECT pg_try_advisory_lock(7)").await),
        [Some("t".into())]
    );
    s.stop().await;
}

#[tokio::test]
async fn lock_waits_and_sleeps_stop_at_statement_timeout() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    let b = s.connect().await;
    rows(&a, "SELECT pg_advisory_lock(1)").await;
    rows(&b, "SET statement_timeout = '300ms'").await;
    let started = std::time::Instant::now();
    let e = b
        .simple_query("SELECT pg_advisory_lock(1)")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "57014");
    let e = b.simple_query("SELECT pg_sleep(5)").await.unwrap_err();
    assert_eq!(code(&e), "57014");
    assert!(started.elapsed() < Duration::from_secs(4));
    // The abandoned wait left nothing behind: B takes it once A lets go.
    rows(&a, "SELECT pg_advisory_unlock_all()").await;
    assert_eq!(
        one(rows(&b, "SELECT pg_try_advisory_lock(1)").await),
        [Some("t".into())]
    );
    s.stop().await;
}

#[tokio::test]
async fn set_config_changes_the_setting() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    assert_eq!(
        one(rows(&c, "SELECT pg_catalog.set_config('search_path', '', false)").await),
        [Some(String::new())]
    );
    assert_eq!(
        one(rows(&c, "SELECT current_setting('search_path')").await),
        [Some(String::new())]
    );
    // What SQLAlchemy asks on connect, and its casts to oid.
    assert_eq!(
        one(rows(&c, "SHOW TRANSACTION ISOLATION LEVEL").await),
        [Some("read committed".into())]
    );
    assert_eq!(
        one(rows(
            &c,
            "SELECT CAST(CAST('pg_class' AS REGCLASS) AS OID), 25::oid"
        )
        .await),
        [Some("1259".into()), Some("25".into())]
    );
    let e = c
        .simple_query("SELECT 'no_such_schema'::regnamespace")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "3F000");
    assert_eq!(
        one(rows(
            &c,
            "SELECT to_regnamespace('no_such_schema') IS NULL, 'public'::regnamespace"
        )
        .await),
        [Some("t".into()), Some("2200".into())]
    );
    let e = c
        .simple_query("SELECT set_config('no_such_setting', 'x', false)")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42704");
    s.stop().await;
}

#[tokio::test]
async fn pg_stat_activity_lists_sessions_that_can_be_cancelled_and_terminated() {
    let s = TestServer::start().await;
    let watcher = s.connect().await;
    let sleeper = s.connect().await;
    let pid = one(rows(&sleeper, "SELECT pg_backend_pid()").await)[0]
        .clone()
        .unwrap();
    let sleeping = tokio::spawn(async move {
        let r = sleeper.simple_query("SELECT pg_sleep(30)").await;
        (sleeper, r)
    });
    let mut seen = None;
    for _ in 0..50 {
        let r = rows(
            &watcher,
            &format!("SELECT state, query, usename FROM pg_stat_activity WHERE pid = {pid}"),
        )
        .await;
        if r.first()
            .is_some_and(|row| row[0].as_deref() == Some("active"))
        {
            seen = r.into_iter().next();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.expect("the sleeping session is listed as active");
    assert!(seen[1].as_deref().unwrap_or("").contains("pg_sleep"));
    // The watcher sees itself too.
    assert_eq!(
        one(rows(
            &watcher,
            "SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        )
        .await),
        [Some("1".into())]
    );
    assert_eq!(
        one(rows(&watcher, &format!("SELECT pg_cancel_backend({pid})")).await),
        [Some("t".into())]
    );
    let (sleeper, r) = tokio::time::timeout(Duration::from_secs(10), sleeping)
        .await
        .expect("cancelled long before 30 s")
        .unwrap();
    assert_eq!(code(&r.unwrap_err()), "57014");
    // Idle now; an unknown pid is false.
    assert_eq!(
        one(rows(
            &watcher,
            &format!("SELECT state FROM pg_stat_activity WHERE pid = {pid}")
        )
        .await),
        [Some("idle".into())]
    );
    assert_eq!(
        one(rows(&watcher, "SELECT pg_cancel_backend(1)").await),
        [Some("f".into())]
    );
    // Terminated: the session refuses its next statement.
    assert_eq!(
        one(rows(&watcher, &format!("SELECT pg_terminate_backend({pid})")).await),
        [Some("t".into())]
    );
    let e = sleeper.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(code(&e), "57P01");
    // A closed connection leaves the list.
    drop(sleeper);
    let mut gone = false;
    for _ in 0..50 {
        let r = rows(
            &watcher,
            &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"),
        )
        .await;
        if one(r) == [Some("0".into())] {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "a closed session leaves pg_stat_activity");
    s.stop().await;
}

/// A cursor read through the extended protocol (Describe of FETCH gives
/// the cursor's columns, as pgjdbc and tokio-postgres need), and the
/// cursor's rows fixed at DECLARE while another session writes.
#[tokio::test]
async fn cursors_fetch_through_the_extended_protocol() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    let b = s.connect().await;
    a.batch_execute(
        "CREATE TABLE cur (id int PRIMARY KEY, v text);
         INSERT INTO cur SELECT g, 'v' || g FROM generate_series(1, 5) g;
         BEGIN;
         DECLARE c CURSOR FOR SELECT id, v FROM cur ORDER BY id",
    )
    .await
    .unwrap();
    b.execute("INSERT INTO cur VALUES (6, 'late')", &[])
        .await
        .unwrap();
    let first = a.query("FETCH 2 FROM c", &[]).await.unwrap();
    let ids: Vec<i32> = first.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(first[0].get::<_, String>(1), "v1");
    let rest = a.query("FETCH ALL FROM c", &[]).await.unwrap();
    let ids: Vec<i32> = rest.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, [3, 4, 5], "the cursor sees the rows as of DECLARE");
    a.batch_execute("COMMIT").await.unwrap();
    let err = a.query("FETCH 1 FROM c", &[]).await.unwrap_err();
    assert_eq!(
        code(&err),
        "34000",
        "the cursor closed with its transaction"
    );
}

/// txid_current(): one id per transaction, the same throughout it, a later
/// one for the next; txid_current_if_assigned() is NULL until asked.
#[tokio::test]
async fn txid_current_is_one_per_transaction() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    let id = |r: Vec<Vec<Option<String>>>| -> Option<i64> {
        one(r)[0].as_ref().map(|v| v.parse().expect("an integer"))
    };
    assert_eq!(
        id(rows(&c, "SELECT txid_current_if_assigned()").await),
        None
    );
    c.batch_execute("BEGIN").await.unwrap();
    let first = id(rows(&c, "SELECT txid_current()").await).unwrap();
    assert_eq!(id(rows(&c, "SELECT txid_current()").await), Some(first));
    assert_eq!(
        id(rows(&c, "SELECT txid_current_if_assigned()").await),
        Some(first)
    );
    c.batch_execute("COMMIT").await.unwrap();
    let next = id(rows(&c, "SELECT pg_current_xact_id()").await).unwrap();
    assert!(next > first, "{next} after {first}");
}

/// DISCARD ALL (what connection pools send between clients) lets go of
/// the session's advisory locks, as PostgreSQL's does.
#[tokio::test]
async fn discard_all_releases_advisory_locks() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    let b = s.connect().await;
    rows(&a, "SELECT pg_advisory_lock(77)").await;
    assert_eq!(
        one(rows(&b, "SELECT pg_try_advisory_lock(77)").await),
        [Some("f".into())]
    );
    a.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(
        one(rows(&b, "SELECT pg_try_advisory_lock(77)").await),
        [Some("t".into())]
    );
}

/// DEALLOCATE forgets statements prepared with Parse (psycopg 3 sends
/// DEALLOCATE ALL after every schema change): what is gone is 26000 as in
/// PostgreSQL, a name never prepared too, and the connection goes on.
#[tokio::test]
async fn deallocate_forgets_prepared_statements() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    let one = c.prepare("SELECT 1::int4").await.unwrap();
    let two = c.prepare("SELECT 2::int4").await.unwrap();
    assert_eq!(c.query_one(&one, &[]).await.unwrap().get::<_, i32>(0), 1);
    c.batch_execute("DEALLOCATE PREPARE ALL").await.unwrap();
    for gone in [&one, &two] {
        let e = c.query_one(gone, &[]).await.unwrap_err();
        assert_eq!(e.code().unwrap().code(), "26000", "{e}");
    }
    let e = c.batch_execute("DEALLOCATE nosuch").await.unwrap_err();
    assert_eq!(e.code().unwrap().code(), "26000");
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "prepared statement \"nosuch\" does not exist"
    );
    // A failed DEALLOCATE fails its block, as any failed statement.
    c.batch_execute("BEGIN").await.unwrap();
    assert!(c.batch_execute("DEALLOCATE nosuch").await.is_err());
    let e = c.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(e.code().unwrap().code(), "25P02");
    c.batch_execute("ROLLBACK").await.unwrap();
    let three = c.prepare("SELECT 3::int4").await.unwrap();
    assert_eq!(c.query_one(&three, &[]).await.unwrap().get::<_, i32>(0), 3);
}
