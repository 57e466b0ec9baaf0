//! Helpers: start an in-process server on an ephemeral port, connect with tokio-postgres.

use grapedb::server::{self, Config, ServerHandle};
use tokio_postgres::{Client, NoTls};

pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub port: u16,
    pub _dir: tempfile::TempDir,
    /// The server runs on a runtime of its own, with the stack size the
    /// real binary gives its workers (statements nest: cascades, fills).
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Wait until the server's tasks, and the storage they hold, are
            // dropped: a test process that exits while RocksDB is still
            // closing on a runtime thread aborts ("pthread lock: Invalid
            // argument"). A runtime cannot be shut down from inside another
            // runtime's context, hence the thread.
            let _ =
                std::thread::spawn(move || rt.shutdown_timeout(std::time::Duration::from_secs(30)))
                    .join();
        }
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `tweak` changed.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".into(),
            shards: 4,
            ..Config::default()
        };
        tweak(&mut config);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_stack_size(8 << 20)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt
            .spawn(server::start(config))
            .await
            .unwrap()
            .expect("server starts");
        let port = handle.addr.port();
        TestServer {
            handle: Some(handle),
            port,
            _dir: dir,
            rt: Some(rt),
        }
    }

    pub fn conn_str(&self) -> String {
        format!("host=127.0.0.1 port={} user=grape dbname=grape", self.port)
    }

    pub async fn connect(&self) -> Client {
        let (client, conn) = tokio_postgres::connect(&self.conn_str(), NoTls)
            .await
            .expect("connects");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    pub async fn stop(mut self) {
        if let (Some(h), Some(rt)) = (self.handle.take(), self.rt.as_ref()) {
            let _ = rt.spawn(h.shutdown()).await;
        }
    }
}

/// The SQLSTATE of a failed statement.
pub fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| format!("not a db error: {e}"))
}

pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default()
}

/// Run a simple query and return all rows as text.
pub async fn rows(c: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let msgs = c.simple_query(sql).await.unwrap_or_else(|e| {
        panic!(
            "{sql}: {e} {:?}",
            e.as_db_error().map(|d| d.message().to_string())
        )
    });
    msgs.into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).map(|s| s.to_string()))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}
