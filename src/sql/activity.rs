//! The node's sessions, as `pg_stat_activity` shows them, and what
//! `pg_cancel_backend` and `pg_terminate_backend` reach: each connection
//! registers at startup (and leaves when it closes) with a way to cancel
//! its running statement; the frontend notes each statement's start and
//! end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

/// What a session is doing now.
#[derive(Debug, Clone)]
pub struct Now {
    /// `active`, `idle`, `idle in transaction`, `idle in transaction
    /// (aborted)`.
    pub state: &'static str,
    /// The running statement, or the last one.
    pub query: String,
    pub query_start: Option<SystemTime>,
    pub xact_start: Option<SystemTime>,
    pub state_change: SystemTime,
}

/// One connection.
pub struct Backend {
    pub pid: i32,
    pub user: String,
    pub database: String,
    pub application_name: String,
    pub client_addr: Option<std::net::SocketAddr>,
    pub backend_start: SystemTime,
    pub now: Mutex<Now>,
    /// Cancels the running statement (a CancelRequest's effect).
    cancel: Box<dyn Fn() + Send + Sync>,
    /// pg_terminate_backend was called: the session ends at its next
    /// statement.
    pub terminated: AtomicBool,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.pid)
    }
}

impl Backend {
    pub fn new(
        pid: i32,
        user: String,
        database: String,
        application_name: String,
        client_addr: Option<std::net::SocketAddr>,
        cancel: Box<dyn Fn() + Send + Sync>,
    ) -> Backend {
        let now = SystemTime::now();
        Backend {
            pid,
            user,
            database,
            application_name,
            client_addr,
            backend_start: now,
            now: Mutex::new(Now {
                state: "idle",
                query: String::new(),
                query_start: None,
                xact_start: None,
                state_change: now,
            }),
            cancel,
            terminated: AtomicBool::new(false),
        }
    }

    /// A statement begins (`in_block`: a transaction block was open).
    pub fn started(&self, query: String, in_block: bool) {
        let t = SystemTime::now();
        let mut now = self.now.lock();
        now.state = "active";
        now.query = query;
        now.query_start = Some(t);
        if !in_block || now.xact_start.is_none() {
            now.xact_start = Some(t);
        }
        now.state_change = t;
    }

    /// The statement ended; `in_block` and `failed` say what the session's
    /// transaction is now.
    pub fn finished(&self, in_block: bool, failed: bool) {
        let mut now = self.now.lock();
        now.state = match (in_block, failed) {
            (false, _) => "idle",
            (true, false) => "idle in transaction",
            (true, true) => "idle in transaction (aborted)",
        };
        if !in_block {
            now.xact_start = None;
        }
        now.state_change = SystemTime::now();
    }
}

/// The node's backends, by pid.
#[derive(Default)]
pub struct Backends {
    map: Mutex<BTreeMap<i32, Arc<Backend>>>,
}

impl Backends {
    pub fn new() -> Arc<Backends> {
        Arc::new(Backends::default())
    }

    /// Register a connection; it stays listed until the registration drops.
    pub fn register(self: &Arc<Self>, b: Backend) -> Registration {
        let b = Arc::new(b);
        self.map.lock().insert(b.pid, b.clone());
        Registration {
            backends: self.clone(),
            backend: b,
        }
    }

    pub fn list(&self) -> Vec<Arc<Backend>> {
        self.map.lock().values().cloned().collect()
    }

    /// `pg_cancel_backend(pid)`: false when there is no such backend.
    pub fn cancel(&self, pid: i32) -> bool {
        let b = self.map.lock().get(&pid).cloned();
        b.is_some_and(|b| {
            (b.cancel)();
            true
        })
    }

    /// `pg_terminate_backend(pid)`: its statement is cancelled and the
    /// session refuses the next one (57P01).
    pub fn terminate(&self, pid: i32) -> bool {
        let b = self.map.lock().get(&pid).cloned();
        b.is_some_and(|b| {
            b.terminated.store(true, Ordering::SeqCst);
            (b.cancel)();
            true
        })
    }
}

/// A connection's place in [`Backends`] (it leaves when this drops).
pub struct Registration {
    backends: Arc<Backends>,
    pub backend: Arc<Backend>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.backends.map.lock();
        if map
            .get(&self.backend.pid)
            .is_some_and(|b| Arc::ptr_eq(b, &self.backend))
        {
            map.remove(&self.backend.pid);
        }
    }
}
