//! Advisory locks (`pg_advisory_lock` and the rest): locks on numbers an
//! application chooses, which migration tools take so two deploys do not
//! migrate at once. Exclusive, re-entrant per session (taken twice, held
//! until unlocked twice), held until unlocked or the session ends
//! (session level) or until its transaction ends (`_xact_`). Waits queue
//! on a notification and stop when the statement is cancelled or times
//! out (the future is dropped). The locks are this node's, as the table
//! locks are (docs/transactions.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// A lock's key: PostgreSQL's one bigint, or its two integers (a space of
/// their own).
pub type Key = (i64, bool);

/// Until when a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Session,
    Transaction,
}

/// The node's advisory locks.
#[derive(Default)]
pub struct AdvisoryLocks {
    /// Each held key's session.
    holders: Mutex<HashMap<Key, u64>>,
    released: Notify,
    next_session: AtomicU64,
}

impl AdvisoryLocks {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A new session's handle (it lets go of everything when dropped).
    pub fn session(self: &Arc<Self>) -> SessionAdvisory {
        SessionAdvisory {
            id: self.next_session.fetch_add(1, Ordering::Relaxed),
            locks: self.clone(),
            held: Mutex::new(HashMap::new()),
        }
    }
}

/// The advisory locks one session holds: per key, how many times at
/// session level and at transaction level.
pub struct SessionAdvisory {
    id: u64,
    locks: Arc<AdvisoryLocks>,
    held: Mutex<HashMap<Key, (u32, u32)>>,
}

impl std::fmt::Debug for SessionAdvisory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionAdvisory({})", self.id)
    }
}

impl SessionAdvisory {
    fn take(&self, key: Key, scope: Scope) -> bool {
        let mut holders = self.locks.holders.lock();
        match holders.get(&key) {
            Some(s) if *s != self.id => return false,
            _ => holders.insert(key, self.id),
        };
        let mut held = self.held.lock();
        let counts = held.entry(key).or_default();
        match scope {
            Scope::Session => counts.0 += 1,
            Scope::Transaction => counts.1 += 1,
        }
        true
    }

    /// Take `key`, waiting while another session holds it.
    pub async fn lock(&self, key: Key, scope: Scope) {
        loop {
            let released = self.locks.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.take(key, scope) {
                return;
            }
            released.await;
        }
    }

    /// Take `key` if no other session holds it.
    pub fn try_lock(&self, key: Key, scope: Scope) -> bool {
        self.take(key, scope)
    }

    /// Let go of one session-level hold of `key`; false if there was none
    /// (PostgreSQL warns then).
    pub fn unlock(&self, key: Key) -> bool {
        let mut held = self.held.lock();
        let Some(counts) = held.get_mut(&key) else {
            return false;
        };
        if counts.0 == 0 {
            return false;
        }
        counts.0 -= 1;
        if *counts == (0, 0) {
            held.remove(&key);
            drop(held);
            self.free(&[key]);
        }
        true
    }

    /// Let go of every transaction-level hold (the transaction ended).
    pub fn end_transaction(&self) {
        self.release(|c| c.1 = 0);
    }

    /// Let go of every session-level hold (`pg_advisory_unlock_all`).
    pub fn unlock_all(&self) {
        self.release(|c| c.0 = 0);
    }

    fn release(&self, clear: impl Fn(&mut (u32, u32))) {
        let mut held = self.held.lock();
        let mut gone = Vec::new();
        for (k, c) in held.iter_mut() {
            clear(c);
            if *c == (0, 0) {
                gone.push(*k);
            }
        }
        for k in &gone {
            held.remove(k);
        }
        drop(held);
        self.free(&gone);
    }

    fn free(&self, keys: &[Key]) {
        if keys.is_empty() {
            return;
        }
        let mut holders = self.locks.holders.lock();
        for k in keys {
            if holders.get(k) == Some(&self.id) {
                holders.remove(k);
            }
        }
        drop(holders);
        self.locks.released.notify_waiters();
    }
}

impl Drop for SessionAdvisory {
    fn drop(&mut self) {
        let keys: Vec<Key> = self.held.lock().drain().map(|(k, _)| k).collect();
        self.free(&keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn exclusive_reentrant_and_released_by_scope() {
        let locks = AdvisoryLocks::new();
        let (a, b) = (locks.session(), locks.session());
        let k = (42, false);
        a.lock(k, Scope::Session).await;
        a.lock(k, Scope::Session).await;
        assert!(!b.try_lock(k, Scope::Session));
        // Another key space: (0, 42) as two integers is not 42.
        assert!(b.try_lock((42, true), Scope::Session));
        assert!(a.unlock(k));
        assert!(!b.try_lock(k, Scope::Session), "held twice, unlocked once");
        assert!(a.unlock(k));
        assert!(!a.unlock(k), "not held any more");
        assert!(b.try_lock(k, Scope::Transaction));
        assert!(!a.try_lock(k, Scope::Session));
        b.end_transaction();
        assert!(a.try_lock(k, Scope::Session));
        // A waiter gets the lock when the holder's session ends.
        let waiter = locks.session();
        let wait = tokio::spawn(async move {
            waiter.lock(k, Scope::Session).await;
            waiter
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!wait.is_finished());
        drop(a);
        let waiter = tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("woken")
            .unwrap();
        assert!(!b.try_lock(k, Scope::Session));
        drop(waiter);
        assert!(b.try_lock(k, Scope::Session));
    }
}
