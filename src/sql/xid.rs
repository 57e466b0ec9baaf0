//! Transaction ids as `txid_current()` / `pg_current_xact_id()` show them:
//! one per transaction, taken on first ask and the same for the rest of
//! it (a statement outside a block is its own transaction). The node
//! counts from the time it started, in microseconds, so ids keep growing
//! across restarts (unless a node hands out more than a million a
//! second). They name transactions for tools (replication slots,
//! audit rows, "did my write land" checks); GrapeDB's visibility is by
//! HLC timestamps, not by these ids.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;

/// The node's counter.
pub struct Xids {
    next: AtomicI64,
}

impl Xids {
    pub fn new() -> Arc<Xids> {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as i64);
        Arc::new(Xids {
            next: AtomicI64::new(start),
        })
    }

    fn take(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// A session's current transaction id, if it has asked for one.
#[derive(Clone)]
pub struct SessionXid {
    xids: Arc<Xids>,
    current: Arc<Mutex<Option<i64>>>,
}

impl SessionXid {
    pub fn new(xids: Arc<Xids>) -> SessionXid {
        SessionXid {
            xids,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// `txid_current()`: this transaction's id, assigned now if need be.
    pub fn current(&self) -> i64 {
        *self.current.lock().get_or_insert_with(|| self.xids.take())
    }

    /// `txid_current_if_assigned()`.
    pub fn if_assigned(&self) -> Option<i64> {
        *self.current.lock()
    }

    /// The transaction ended.
    pub fn end(&self) {
        *self.current.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_id_per_transaction_growing() {
        let xids = Xids::new();
        let a = SessionXid::new(xids.clone());
        let b = SessionXid::new(xids);
        assert_eq!(a.if_assigned(), None);
        let first = a.current();
        assert_eq!(a.current(), first, "the same within the transaction");
        let other = b.current();
        assert_ne!(other, first);
        a.end();
        assert!(a.current() > other, "the next transaction's is later");
    }
}
