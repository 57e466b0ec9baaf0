//! DDL, DML and queries through the wire protocol.

use crate::common::{TestServer, code, message, rows};

#[tokio::test]
async fn create_insert_select_update_delete() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL, price float8 DEFAULT 1.5, tags int4[]);
         INSERT INTO items (id, name) VALUES (1, 'apple'), (2, 'pear');
         INSERT INTO items VALUES (3, 'plum', 2.25, ARRAY[1,2]);",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&c, "SELECT id, name, price FROM items ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("apple".into()), Some("1.5".into())],
            vec![Some("2".into()), Some("pear".into()), Some("1.5".into())],
            vec![Some("3".into()), Some("plum".into()), Some("2.25".into())],
        ]
    );
    let n = c
        .execute("UPDATE items SET price = price * 2 WHERE id >= 2", &[])
        .await
        .unwrap();
    assert_eq!(n, 2);
    let r = c
        .query("SELECT price FROM items WHERE id = $1", &[&3i64])
        .await
        .unwrap();
    assert_eq!(r[0].get::<_, f64>(0), 4.5);
    let r = c
        .query(
            "DELETE FROM items WHERE name = 'pear' RETURNING id, name",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].get::<_, i64>(0), 2);
    assert_eq!(
        rows(&c, "SELECT count(*) FROM items").await,
        vec![vec![Some("2".into())]]
    );
    let r = c
        .query(
            "INSERT INTO items (id, name) VALUES (10, 'fig') RETURNING id * 10, price",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r[0].get::<_, i64>(0), 100);
    s.stop().await;
}

#[tokio::test]
async fn serial_defaults_hidden_rowid_and_upsert() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE ev (id bigserial PRIMARY KEY, kind text, at timestamptz DEFAULT now());
         INSERT INTO ev (kind) VALUES ('a'), ('b'), ('c');
         CREATE TABLE nopk (a int, b text);
         INSERT INTO nopk VALUES (1, 'x'), (1, 'x');",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&c, "SELECT id, kind FROM ev ORDER BY id").await.len(),
        3
    );
    assert_eq!(
        rows(&c, "SELECT count(*) FROM ev WHERE at IS NOT NULL").await,
        vec![vec![Some("3".into())]]
    );
    assert_eq!(
        rows(&c, "SELECT count(*) FROM nopk").await,
        vec![vec![Some("2".into())]]
    );
    c.execute("DELETE FROM nopk WHERE a = 1", &[])
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*) FROM nopk").await,
        vec![vec![Some("0".into())]]
    );

    c.batch_execute("CREATE TABLE kv (k text PRIMARY KEY, v int)")
        .await
        .unwrap();
    c.execute("INSERT INTO kv VALUES ('a', 1), ('b', 2)", &[])
        .await
        .unwrap();
    let n = c
        .execute(
            "INSERT INTO kv VALUES ('a', 9), ('c', 3) ON CONFLICT (k) DO NOTHING",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    c.execute(
        "INSERT INTO kv VALUES ('b', 20) ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v",
        &[],
    )
    .await
    .unwrap();
    // The target must name a unique constraint (PostgreSQL 15's errors).
    for (sql, code_, msg) in [
        (
            "INSERT INTO kv VALUES ('z', 1) ON CONFLICT (v) DO NOTHING",
            "42P10",
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        ),
        (
            "INSERT INTO kv VALUES ('z', 1) ON CONFLICT DO UPDATE SET v = 0",
            "42601",
            "ON CONFLICT DO UPDATE requires inference specification or constraint name",
        ),
        (
            "INSERT INTO kv VALUES ('z', 1) ON CONFLICT ON CONSTRAINT nope DO NOTHING",
            "42704",
            "constraint \"nope\" for table \"kv\" does not exist",
        ),
    ] {
        let e = c.batch_execute(sql).await.unwrap_err();
        assert_eq!(
            (code(&e), message(&e)),
            (code_.to_string(), msg.to_string()),
            "{sql}"
        );
    }
    c.batch_execute("INSERT INTO kv VALUES ('z', 1) ON CONFLICT ON CONSTRAINT kv_pkey DO NOTHING; DELETE FROM kv WHERE k = 'z'")
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT k, v FROM kv ORDER BY k").await,
        vec![
            vec![Some("a".into()), Some("1".into())],
            vec![Some("b".into()), Some("22".into())],
            vec![Some("c".into()), Some("3".into())],
        ]
    );
    s.stop().await;
}

#[tokio::test]
async fn queries_joins_aggregates_ctes_and_explain() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE a (id int PRIMARY KEY, g text);
         CREATE TABLE b (id int PRIMARY KEY, a_id int, v float8);
         INSERT INTO a SELECT i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 100) AS t(i);
         INSERT INTO b SELECT i, i % 100 + 1, i * 0.5 FROM generate_series(1, 1000) AS t(i);",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(
            &c,
            "SELECT a.g, count(*) FROM a JOIN b ON a.id = b.a_id GROUP BY a.g ORDER BY a.g"
        )
        .await,
        vec![
            vec![Some("even".into()), Some("500".into())],
            vec![Some("odd".into()), Some("500".into())]
        ]
    );
    assert_eq!(
        rows(&c, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT sum(n) FROM r").await,
        vec![vec![Some("55".into())]]
    );
    assert_eq!(
        rows(
            &c,
            "SELECT id, rank() OVER (ORDER BY v DESC) FROM b WHERE id IN (1, 2, 3) ORDER BY id"
        )
        .await,
        vec![
            vec![Some("1".into()), Some("3".into())],
            vec![Some("2".into()), Some("2".into())],
            vec![Some("3".into()), Some("1".into())],
        ]
    );
    let plan: Vec<String> = rows(&c, "EXPLAIN SELECT * FROM a WHERE id = 7")
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("primary key point lookup (1 key(s))"),
        "{plan}"
    );
    let analyzed = plan_of(rows(&c, "EXPLAIN ANALYZE SELECT count(*) FROM a WHERE id = 7").await);
    assert!(
        analyzed.contains("ShardScanExec") && analyzed.contains("metrics=["),
        "{analyzed}"
    );
    assert_eq!(
        rows(&c, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1").await,
        vec![vec![Some("a".into())], vec![Some("b".into())]]
    );
    let plan: Vec<String> = rows(&c, "EXPLAIN SELECT * FROM a WHERE g = 'odd'")
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert!(plan.join("\n").contains("full scan, shards=[1, 2, 3, 4]"));
    s.stop().await;
}

#[tokio::test]
async fn ddl_alter_drop_truncate_schema() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE SCHEMA app;
         CREATE TABLE app.t (id int PRIMARY KEY, a text);
         INSERT INTO app.t VALUES (1, 'x'), (2, 'y');
         ALTER TABLE app.t ADD COLUMN b int DEFAULT 7;
         ALTER TABLE app.t RENAME COLUMN a TO aa;
         ALTER TABLE app.t RENAME TO t2;",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&c, "SELECT id, aa, b FROM app.t2 ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("x".into()), Some("7".into())],
            vec![Some("2".into()), Some("y".into()), Some("7".into())]
        ]
    );
    c.batch_execute("ALTER TABLE app.t2 DROP COLUMN aa; TRUNCATE app.t2")
        .await
        .unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*) FROM app.t2").await,
        vec![vec![Some("0".into())]]
    );
    c.batch_execute("DROP TABLE app.t2; DROP TABLE IF EXISTS app.t2; DROP SCHEMA app")
        .await
        .unwrap();
    c.batch_execute("CREATE TABLE IF NOT EXISTS z (a int); CREATE TABLE IF NOT EXISTS z (a int)")
        .await
        .unwrap();
    c.batch_execute(
        "CREATE TABLE u (id int PRIMARY KEY, email text UNIQUE); INSERT INTO u VALUES (1, 'a@x')",
    )
    .await
    .unwrap();
    let e = c
        .execute("INSERT INTO u VALUES (2, 'a@x')", &[])
        .await
        .unwrap_err();
    assert_eq!(crate::common::code(&e), "23505");
    c.execute("UPDATE u SET email = 'b@x' WHERE id = 1", &[])
        .await
        .unwrap();
    c.execute("INSERT INTO u VALUES (2, 'a@x')", &[])
        .await
        .unwrap();
    s.stop().await;
}

fn plan_of(r: Vec<Vec<Option<String>>>) -> String {
    r.into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn secondary_indexes_and_key_ranges_are_used() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE p (id int PRIMARY KEY, email text UNIQUE, city text, age int);
         INSERT INTO p SELECT i, 'u' || i || '@x', CASE WHEN i % 3 = 0 THEN 'oslo' ELSE 'rome' END, i % 50
           FROM generate_series(1, 3000) AS t(i);
         CREATE INDEX p_city ON p (city);
         CREATE INDEX ON p (age);",
    )
    .await
    .unwrap();
    let plan = plan_of(rows(&c, "EXPLAIN SELECT id FROM p WHERE email = 'u42@x'").await);
    assert!(
        plan.contains("index p_email_key lookup (1 row(s))"),
        "{plan}"
    );
    assert_eq!(
        rows(&c, "SELECT id FROM p WHERE email = 'u42@x'").await,
        vec![vec![Some("42".into())]]
    );

    let plan = plan_of(rows(&c, "EXPLAIN SELECT count(*) FROM p WHERE city = 'oslo'").await);
    assert!(plan.contains("index p_city lookup (1000 row(s))"), "{plan}");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM p WHERE city = 'oslo'").await,
        vec![vec![Some("1000".into())]]
    );

    let plan = plan_of(
        rows(
            &c,
            "EXPLAIN SELECT count(*) FROM p WHERE age BETWEEN 10 AND 12",
        )
        .await,
    );
    assert!(plan.contains("index p_age_idx range scan"), "{plan}");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM p WHERE age BETWEEN 10 AND 12").await,
        vec![vec![Some("180".into())]]
    );

    let plan = plan_of(rows(&c, "EXPLAIN SELECT count(*) FROM p WHERE id > 2990").await);
    assert!(plan.contains("primary key range on id"), "{plan}");
    assert_eq!(
        rows(&c, "SELECT count(*) FROM p WHERE id > 2990").await,
        vec![vec![Some("10".into())]]
    );
    assert_eq!(
        rows(&c, "SELECT count(*) FROM p WHERE id >= 10 AND id < 20").await,
        vec![vec![Some("10".into())]]
    );

    // Index entries follow updates and deletes.
    c.batch_execute("UPDATE p SET city = 'oslo' WHERE id = 1; DELETE FROM p WHERE id = 3; UPDATE p SET email = 'new@x' WHERE id = 42").await.unwrap();
    assert_eq!(
        rows(&c, "SELECT count(*) FROM p WHERE city = 'oslo'").await,
        vec![vec![Some("1000".into())]]
    );
    assert_eq!(
        rows(&c, "SELECT count(*) FROM p WHERE email = 'u42@x'").await,
        vec![vec![Some("0".into())]]
    );
    assert_eq!(
        rows(&c, "SELECT id FROM p WHERE email = 'new@x'").await,
        vec![vec![Some("42".into())]]
    );
    let e = c
        .simple_query("INSERT INTO p VALUES (5000, 'new@x', 'x', 1)")
        .await
        .unwrap_err();
    assert_eq!(crate::common::code(&e), "23505");
    c.batch_execute("DROP INDEX p_city").await.unwrap();
    let plan = plan_of(rows(&c, "EXPLAIN SELECT count(*) FROM p WHERE city = 'oslo'").await);
    assert!(plan.contains("full scan"), "{plan}");
    s.stop().await;
}
