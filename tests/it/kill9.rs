//! kill -9 the real binary mid-stream; after restart every acknowledged row is there.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

fn spawn(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_grapedb"))
        .args([
            "start",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("grapedb starts")
}

async fn connect(port: u16) -> tokio_postgres::Client {
    for _ in 0..300 {
        if let Ok((c, conn)) =
            tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user=grape"), NoTls).await
        {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not come up on {port}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn kill_dash_nine_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn(dir.path(), port);
    let c = connect(port).await;
    c.batch_execute("CREATE TABLE d (client int, seq int, PRIMARY KEY (client, seq))")
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4i32 {
        let c = connect(port).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for seq in 0..10_000i32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                match c
                    .execute("INSERT INTO d VALUES ($1, $2)", &[&w, &seq])
                    .await
                {
                    Ok(_) => acked.push(seq),
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for (w, t) in writers.into_iter().enumerate() {
        acked.push((w as i32, t.await.unwrap()));
    }
    assert!(
        acked.iter().map(|(_, a)| a.len()).sum::<usize>() > 0,
        "no write was acknowledged"
    );

    let mut child = spawn(dir.path(), port);
    let c = connect(port).await;
    for (w, seqs) in &acked {
        let rows = c
            .query("SELECT seq FROM d WHERE client = $1 ORDER BY seq", &[w])
            .await
            .unwrap();
        let got: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        // Every acknowledged row is there; at most the one in flight at the kill is extra.
        for s in seqs {
            assert!(
                got.binary_search(s).is_ok(),
                "acknowledged row ({w}, {s}) lost"
            );
        }
        assert!(
            got.len() <= seqs.len() + 1,
            "rows appeared that were never written"
        );
        for (i, s) in got.iter().enumerate() {
            assert_eq!(
                *s, i as i32,
                "rows must be a prefix of what the client wrote"
            );
        }
    }
    // The catalog survived too, and the node takes writes again.
    c.batch_execute("INSERT INTO d VALUES (99, 0)")
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}
