//! Sequences under concurrent sessions: every value once.

use crate::common::{TestServer, rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_never_get_the_same_value() {
    let s = TestServer::start().await;
    let a = s.connect().await;
    a.batch_execute("CREATE SEQUENCE s; CREATE SEQUENCE c MINVALUE 1 MAXVALUE 50 CYCLE")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = s.connect().await;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..120 {
                let r = rows(&c, "SELECT nextval('s')").await;
                got.push(r[0][0].clone().unwrap().parse::<i64>().unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a value was handed out twice");
    // A cycling sequence stays within its bounds under the same load.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let c = s.connect().await;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..40 {
                let r = rows(&c, "SELECT nextval('c')").await;
                got.push(r[0][0].clone().unwrap().parse::<i64>().unwrap());
            }
            got
        }));
    }
    for t in tasks {
        for v in t.await.unwrap() {
            assert!((1..=50).contains(&v), "{v} outside 1..50");
        }
    }
    s.stop().await;
}
