//! Simple and extended protocol, parameters in text and binary, portals, settings.

use crate::common::{TestServer, rows};

#[tokio::test]
async fn simple_protocol_multi_statement_and_empty() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    let msgs = c.simple_query("SELECT 1; SELECT 'two'; ").await.unwrap();
    let n = msgs
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(n, 2);
    c.simple_query("").await.unwrap();
    c.simple_query(";").await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn extended_protocol_binary_parameters_every_type() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE ty (id int8 PRIMARY KEY, b bool, i2 int2, i4 int4, f4 float4, f8 float8, t text, vc varchar(10),
                          by bytea, d date, ts timestamp, tstz timestamptz, ia int4[], ta text[])",
    )
    .await
    .unwrap();
    let d = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let ts = d.and_hms_micro_opt(12, 34, 56, 789).unwrap();
    let tstz = chrono::DateTime::<chrono::Utc>::from_naive_utc_and_offset(ts, chrono::Utc);
    let stmt = c
        .prepare(
            "INSERT INTO ty VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .await
        .unwrap();
    c.execute(
        &stmt,
        &[
            &1i64,
            &true,
            &7i16,
            &-42i32,
            &1.5f32,
            &-2.25f64,
            &"héllo",
            &"short",
            &vec![0u8, 1, 255],
            &d,
            &ts,
            &tstz,
            &vec![1i32, 2, 3],
            &vec!["a".to_string(), "b c".to_string()],
        ],
    )
    .await
    .unwrap();
    let r = c
        .query_one(
            "SELECT b, i2, i4, f4, f8, t, vc, by, d, ts, tstz, ia, ta FROM ty WHERE id = $1",
            &[&1i64],
        )
        .await
        .unwrap();
    assert!(r.get::<_, bool>(0));
    assert_eq!(r.get::<_, i16>(1), 7);
    assert_eq!(r.get::<_, i32>(2), -42);
    assert_eq!(r.get::<_, f32>(3), 1.5);
    assert_eq!(r.get::<_, f64>(4), -2.25);
    assert_eq!(r.get::<_, String>(5), "héllo");
    assert_eq!(r.get::<_, String>(6), "short");
    assert_eq!(r.get::<_, Vec<u8>>(7), vec![0u8, 1, 255]);
    assert_eq!(r.get::<_, chrono::NaiveDate>(8), d);
    assert_eq!(r.get::<_, chrono::NaiveDateTime>(9), ts);
    assert_eq!(r.get::<_, chrono::DateTime<chrono::Utc>>(10), tstz);
    assert_eq!(r.get::<_, Vec<i32>>(11), vec![1, 2, 3]);
    assert_eq!(
        r.get::<_, Vec<String>>(12),
        vec!["a".to_string(), "b c".to_string()]
    );
    // uuid and jsonb columns come back with their own types.
    c.batch_execute("CREATE TABLE uj (id int PRIMARY KEY, u uuid, j jsonb, js json)")
        .await
        .unwrap();
    c.batch_execute("INSERT INTO uj VALUES (1, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": [1, 2]}', '[true]')").await.unwrap();
    let r = c
        .query_one("SELECT u, j, js FROM uj WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(
        r.get::<_, uuid::Uuid>(0).to_string(),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(
        r.get::<_, serde_json::Value>(1),
        serde_json::json!({"k": [1, 2]})
    );
    assert_eq!(r.get::<_, serde_json::Value>(2), serde_json::json!([true]));
    // Binary parameters of uuid, json and time.
    let u = uuid::Uuid::parse_str("123e4567-e89b-12d3-a456-426614174000").unwrap();
    let st = c
        .prepare_typed(
            "INSERT INTO uj VALUES ($1, $2, $3, $4)",
            &[
                tokio_postgres::types::Type::INT4,
                tokio_postgres::types::Type::UUID,
                tokio_postgres::types::Type::JSONB,
                tokio_postgres::types::Type::JSON,
            ],
        )
        .await
        .unwrap();
    c.execute(
        &st,
        &[
            &2i32,
            &u,
            &serde_json::json!({"a": 1}),
            &serde_json::json!(null),
        ],
    )
    .await
    .unwrap();
    let r = c
        .query_one("SELECT u, j FROM uj WHERE id = 2", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, uuid::Uuid>(0), u);
    assert_eq!(
        r.get::<_, serde_json::Value>(1),
        serde_json::json!({"a": 1})
    );
    c.batch_execute("CREATE TABLE tm (id int PRIMARY KEY, t time, iv interval)")
        .await
        .unwrap();
    let t = chrono::NaiveTime::from_hms_micro_opt(13, 14, 15, 16).unwrap();
    let st = c
        .prepare_typed(
            "INSERT INTO tm (id, t) VALUES ($1, $2)",
            &[
                tokio_postgres::types::Type::INT4,
                tokio_postgres::types::Type::TIME,
            ],
        )
        .await
        .unwrap();
    c.execute(&st, &[&1i32, &t]).await.unwrap();
    let r = c
        .query_one("SELECT t FROM tm WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, chrono::NaiveTime>(0), t);
    // Parameter types are inferred and reported by Describe.
    let st = c
        .prepare("SELECT t FROM ty WHERE i4 = $1 AND f8 < $2")
        .await
        .unwrap();
    assert_eq!(
        st.params(),
        &[
            tokio_postgres::types::Type::INT4,
            tokio_postgres::types::Type::FLOAT8
        ]
    );
    assert_eq!(st.columns()[0].type_(), &tokio_postgres::types::Type::TEXT);
    s.stop().await;
}

#[tokio::test]
async fn portal_row_limit() {
    let s = TestServer::start().await;
    let mut c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE n (i int PRIMARY KEY); INSERT INTO n SELECT * FROM generate_series(1, 25)",
    )
    .await
    .unwrap();
    let tx = c.transaction().await.unwrap();
    let st = tx.prepare("SELECT i FROM n ORDER BY i").await.unwrap();
    let portal = tx.bind(&st, &[]).await.unwrap();
    let first = tx.query_portal(&portal, 10).await.unwrap();
    assert_eq!(first.len(), 10);
    assert_eq!(first[0].get::<_, i32>(0), 1);
    let second = tx.query_portal(&portal, 10).await.unwrap();
    assert_eq!(second[0].get::<_, i32>(0), 11);
    let rest = tx.query_portal(&portal, 10).await.unwrap();
    assert_eq!(rest.len(), 5);
    tx.commit().await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn set_show_reset() {
    let s = TestServer::start().await;
    let c = s.connect().await;
    assert_eq!(
        rows(&c, "SHOW search_path").await[0][0].as_deref(),
        Some("\"$user\", public")
    );
    c.batch_execute(
        "SET application_name = 'tests'; SET extra_float_digits = 3; SET TimeZone = 'UTC'",
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&c, "SHOW application_name").await[0][0].as_deref(),
        Some("tests")
    );
    c.batch_execute("RESET application_name").await.unwrap();
    assert_eq!(
        rows(&c, "SHOW application_name").await[0][0].as_deref(),
        Some("")
    );
    assert!(rows(&c, "SHOW ALL").await.len() > 10);
    let v = rows(&c, "SHOW server_version").await;
    assert!(v[0][0].as_deref().unwrap().starts_with("15.0 (GrapeDB"));
    s.stop().await;
}

#[tokio::test]
async fn notices_reach_the_client() {
    use futures::StreamExt;
    let s = TestServer::start().await;
    let (client, mut conn) = tokio_postgres::connect(&s.conn_str(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = stream.next().await {
            if let tokio_postgres::AsyncMessage::Notice(n) = m {
                let _ = tx.send((
                    n.severity().to_string(),
                    n.code().code().to_string(),
                    n.message().to_string(),
                ));
            }
        }
    });
    client
        .batch_execute("DROP TABLE IF EXISTS nothing_here")
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    let n1 = rx.recv().await.unwrap();
    assert_eq!(
        n1,
        (
            "NOTICE".into(),
            "00000".into(),
            "table \"nothing_here\" does not exist, skipping".into()
        )
    );
    let n2 = rx.recv().await.unwrap();
    assert_eq!(
        n2,
        (
            "WARNING".into(),
            "25P01".into(),
            "there is no transaction in progress".into()
        )
    );
    s.stop().await;
}

/// A bare-bones frontend for what tokio-postgres never sends: text-format Bind parameters.
mod raw {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    pub fn cstr(s: &str) -> Vec<u8> {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    }

    pub async fn connect(port: u16) -> TcpStream {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut body = 196608i32.to_be_bytes().to_vec();
        for kv in ["user", "grape", "database", "grape"] {
            body.extend(cstr(kv));
        }
        body.push(0);
        let mut m = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        m.extend(body);
        s.write_all(&m).await.unwrap();
        until_ready(&mut s).await;
        s
    }

    /// Read messages up to ReadyForQuery; returns (tag, body) pairs.
    pub async fn until_ready(s: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let tag = s.read_u8().await.unwrap();
            let len = s.read_i32().await.unwrap() as usize;
            let mut body = vec![0u8; len - 4];
            s.read_exact(&mut body).await.unwrap();
            let done = tag == b'Z';
            out.push((tag, body));
            if done {
                return out;
            }
        }
    }
}

#[tokio::test]
async fn text_format_bind_parameters() {
    use raw::*;
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start().await;
    let c = s.connect().await;
    c.batch_execute(
        "CREATE TABLE tx (id int4 PRIMARY KEY, f float8, n numeric(10,3), t text, b bool, d date, ts timestamp,
                          iv interval, u uuid, j jsonb, a int4[], by bytea)",
    )
    .await
    .unwrap();
    let mut sock = connect(s.port).await;
    let params = [
        "7",
        "2.5",
        "12.345",
        "it's",
        "true",
        "2024-02-29",
        "2024-02-29 12:00:01",
        "1 day 2 hours",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "{\"k\": 1}",
        "{1,2,3}",
        "\\x00ff",
    ];
    let mut parse = cstr("");
    parse.extend(cstr(
        "INSERT INTO tx VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    ));
    parse.extend(0i16.to_be_bytes()); // no types given: the server infers them
    let mut bind = cstr("");
    bind.extend(cstr(""));
    bind.extend(1i16.to_be_bytes());
    bind.extend(0i16.to_be_bytes()); // all parameters in text format
    bind.extend((params.len() as i16).to_be_bytes());
    for p in params {
        bind.extend((p.len() as i32).to_be_bytes());
        bind.extend(p.as_bytes());
    }
    bind.extend(0i16.to_be_bytes());
    let mut exec = cstr("");
    exec.extend(0i32.to_be_bytes());
    let mut out = msg(b'P', &parse);
    out.extend(msg(b'B', &bind));
    out.extend(msg(b'E', &exec));
    out.extend(msg(b'S', &[]));
    sock.write_all(&out).await.unwrap();
    let replies = until_ready(&mut sock).await;
    let tags: Vec<u8> = replies.iter().map(|(t, _)| *t).collect();
    assert!(
        !tags.contains(&b'E'),
        "error: {:?}",
        replies.iter().find(|(t, _)| *t == b'E')
    );
    assert_eq!(tags, vec![b'1', b'2', b'C', b'Z']);
    assert_eq!(
        rows(&c, "SELECT id, f, n, t, b, d, ts, iv, u, j, a, by FROM tx").await[0],
        vec![
            Some("7".into()),
            Some("2.5".into()),
            Some("12.345".into()),
            Some("it's".into()),
            Some("t".into()),
            Some("2024-02-29".into()),
            Some("2024-02-29 12:00:01".into()),
            Some("1 day 02:00:00".into()),
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            Some("{\"k\": 1}".into()),
            Some("{1,2,3}".into()),
            Some("\\x00ff".into()),
        ]
    );
    s.stop().await;
}
