//! Table locks, PostgreSQL's modes: what keeps a statement's view of a
//! table valid while it runs (SELECT against DROP), and what makes DDL wait
//! for the writers that planned with the old definition (a TRUNCATE never
//! loses an INSERT that committed after it; an index build sees every
//! writer that did not maintain it finish first).
//!
//! Locks are held by a session ([`SessionLocks`]) until its statement ends,
//! or, in a transaction block, until COMMIT or ROLLBACK. Requests queue in
//! arrival order (a waiting DROP is not starved by a stream of SELECTs), and
//! a wait that would close a cycle of sessions fails at once with 40P01.
//! The locks are this node's: on one node they cover every session; a
//! cluster needs them in the meta group (docs/transactions.md).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::TableId;
use crate::error::{PgError, codes};

/// PostgreSQL's table lock modes (weakest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    /// SELECT.
    AccessShare,
    /// SELECT ... FOR UPDATE / FOR SHARE.
    RowShare,
    /// INSERT, UPDATE, DELETE, COPY FROM.
    RowExclusive,
    /// CREATE INDEX CONCURRENTLY (and the online CREATE INDEX).
    ShareUpdateExclusive,
    /// CREATE INDEX in a transaction block.
    Share,
    ShareRowExclusive,
    Exclusive,
    /// DROP, TRUNCATE, ALTER TABLE.
    AccessExclusive,
}

impl LockMode {
    /// Whether two sessions may hold these modes on one table at once
    /// (PostgreSQL's conflict table).
    /// Whether holding `self` excludes every session `other` would.
    pub fn covers(self, other: LockMode) -> bool {
        use LockMode::*;
        let all = [
            AccessShare,
            RowShare,
            RowExclusive,
            ShareUpdateExclusive,
            Share,
            ShareRowExclusive,
            Exclusive,
            AccessExclusive,
        ];
        all.into_iter()
            .all(|x| !other.conflicts(x) || self.conflicts(x))
    }

    pub fn conflicts(self, other: LockMode) -> bool {
        use LockMode::*;
        let (a, b) = if self <= other {
            (self, other)
        } else {
            (other, self)
        };
        match a {
            AccessShare => b == AccessExclusive,
            RowShare => b >= Exclusive,
            RowExclusive => b >= Share,
            ShareUpdateExclusive => b >= ShareUpdateExclusive,
            Share => b != Share,
            ShareRowExclusive | Exclusive | AccessExclusive => true,
        }
    }

    pub fn name(self) -> &'static str {
        use LockMode::*;
        match self {
            AccessShare => "AccessShareLock",
            RowShare => "RowShareLock",
            RowExclusive => "RowExclusiveLock",
            ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            Share => "ShareLock",
            ShareRowExclusive => "ShareRowExclusiveLock",
            Exclusive => "ExclusiveLock",
            AccessExclusive => "AccessExclusiveLock",
        }
    }
}

type SessionId = u64;

/// A request: who, how, and its place in the queue.
#[derive(Debug, Clone, Copy)]
struct Request {
    session: SessionId,
    mode: LockMode,
    ticket: u64,
}

/// The node's table locks.
#[derive(Default)]
pub struct TableLocks {
    inner: Mutex<Inner>,
    changed: Notify,
    next_session: AtomicU64,
}

#[derive(Default)]
struct Inner {
    granted: HashMap<TableId, Vec<(SessionId, LockMode)>>,
    /// Waiting requests per table, in arrival order.
    waiting: HashMap<TableId, Vec<Request>>,
    /// What each waiting session waits for.
    waits: HashMap<SessionId, (TableId, Request)>,
    next_ticket: u64,
}

impl Inner {
    /// The sessions `req` on `table` must wait for: holders of a
    /// conflicting mode and conflicting requests queued before it.
    fn blockers(&self, table: TableId, req: Request) -> Vec<SessionId> {
        let mut out = Vec::new();
        for (s, m) in self.granted.get(&table).into_iter().flatten() {
            if *s != req.session && m.conflicts(req.mode) {
                out.push(*s);
            }
        }
        for w in self.waiting.get(&table).into_iter().flatten() {
            if w.ticket < req.ticket && w.session != req.session && w.mode.conflicts(req.mode) {
                // A request queued ahead does not block one whose session
                // already holds a lock it conflicts with (it would wait for
                // us: the holder goes first, as PostgreSQL does).
                let holds = self
                    .granted
                    .get(&table)
                    .into_iter()
                    .flatten()
                    .any(|(s, m)| *s == req.session && m.conflicts(w.mode));
                if !holds {
                    out.push(w.session);
                }
            }
        }
        out
    }

    /// Whether `me` is reachable from `from` along waits (a cycle).
    fn reaches(&self, from: &[SessionId], me: SessionId) -> bool {
        let mut seen = HashSet::new();
        let mut todo: Vec<SessionId> = from.to_vec();
        while let Some(s) = todo.pop() {
            if s == me {
                return true;
            }
            if !seen.insert(s) {
                continue;
            }
            if let Some((t, r)) = self.waits.get(&s) {
                todo.extend(self.blockers(*t, *r));
            }
        }
        false
    }

    fn dequeue(&mut self, session: SessionId) {
        if let Some((t, r)) = self.waits.remove(&session) {
            if let Some(q) = self.waiting.get_mut(&t) {
                q.retain(|w| w.ticket != r.ticket);
                if q.is_empty() {
                    self.waiting.remove(&t);
                }
            }
        }
    }
}

impl TableLocks {
    pub fn new() -> Arc<TableLocks> {
        Arc::default()
    }

    /// A new session's lock set.
    pub fn session(self: &Arc<Self>) -> Arc<SessionLocks> {
        Arc::new(SessionLocks {
            id: self.next_session.fetch_add(1, Ordering::Relaxed) + 1,
            locks: self.clone(),
            held: Mutex::new(Vec::new()),
        })
    }

    /// Sessions holding a lock on `table` that conflicts with `mode`.
    fn holders(&self, table: TableId, mode: LockMode, me: SessionId) -> Vec<SessionId> {
        let g = self.inner.lock();
        g.granted
            .get(&table)
            .into_iter()
            .flatten()
            .filter(|(s, m)| *s != me && m.conflicts(mode))
            .map(|(s, _)| *s)
            .collect()
    }

    /// Whether `session` still holds a lock on `table` that conflicts with `mode`.
    fn still_holds(&self, table: TableId, mode: LockMode, session: SessionId) -> bool {
        let g = self.inner.lock();
        g.granted
            .get(&table)
            .into_iter()
            .flatten()
            .any(|(s, m)| *s == session && m.conflicts(mode))
    }
}

/// The locks one session holds.
pub struct SessionLocks {
    id: SessionId,
    locks: Arc<TableLocks>,
    held: Mutex<Vec<(TableId, LockMode)>>,
}

/// Removes a waiting request however the wait ends (a cancelled statement
/// drops the future mid-wait).
struct Queued<'a> {
    locks: &'a TableLocks,
    session: SessionId,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.locks.inner.lock().dequeue(self.session);
        self.locks.changed.notify_waiters();
    }
}

impl std::fmt::Debug for SessionLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionLocks({})", self.id)
    }
}

impl SessionLocks {
    /// Whether this session holds `mode`, or one that conflicts with all
    /// `mode` conflicts with, on `table` (SHARE does not cover ROW
    /// EXCLUSIVE, though stronger in the modes' order: another session's
    /// SHARE conflicts with the one and not the other).
    pub fn holds(&self, table: TableId, mode: LockMode) -> bool {
        self.held
            .lock()
            .iter()
            .any(|(t, m)| *t == table && m.covers(mode))
    }

    /// Take `mode` on `table`, waiting for conflicting holders. Fails with
    /// 40P01 when the wait would close a cycle. Cancel and
    /// statement_timeout stop the wait by dropping this future.
    pub async fn acquire(&self, table: TableId, mode: LockMode) -> Result<(), PgError> {
        if self.holds(table, mode) {
            return Ok(());
        }
        let locks = &*self.locks;
        let mut queued: Option<Queued> = None;
        loop {
            let notified = locks.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut g = locks.inner.lock();
                let req = match g.waits.get(&self.id) {
                    Some((_, r)) => *r,
                    None => {
                        g.next_ticket += 1;
                        Request {
                            session: self.id,
                            mode,
                            ticket: g.next_ticket,
                        }
                    }
                };
                let blockers = g.blockers(table, req);
                if blockers.is_empty() {
                    g.dequeue(self.id);
                    g.granted.entry(table).or_default().push((self.id, mode));
                    self.held.lock().push((table, mode));
                    drop(g);
                    drop(queued.take());
                    return Ok(());
                }
                if g.reaches(&blockers, self.id) {
                    drop(g);
                    drop(queued.take());
                    return Err(PgError::new(codes::DEADLOCK_DETECTED, "deadlock detected")
                        .with_detail(format!(
                            "Process {} waits for {} on relation {table}; blocked by process {}.",
                            self.id,
                            mode.name(),
                            blockers[0]
                        )));
                }
                if queued.is_none() {
                    g.waiting.entry(table).or_default().push(req);
                    g.waits.insert(self.id, (table, req));
                    queued = Some(Queued {
                        locks,
                        session: self.id,
                    });
                }
            }
            notified.await;
        }
    }

    /// Wait until every session that holds, now, a lock on `table`
    /// conflicting with `mode` has let go of it, without taking a lock
    /// (sessions that lock it later are not waited for): PostgreSQL's
    /// wait for old transactions in CREATE INDEX CONCURRENTLY.
    pub async fn wait_for_holders(&self, table: TableId, mode: LockMode) {
        let locks = &*self.locks;
        let mut holders = locks.holders(table, mode, self.id);
        while !holders.is_empty() {
            let notified = locks.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            holders.retain(|s| locks.still_holds(table, mode, *s));
            if holders.is_empty() {
                break;
            }
            notified.await;
        }
    }

    /// Let go of every lock (end of statement outside a block, end of block).
    pub fn release_all(&self) {
        let held = std::mem::take(&mut *self.held.lock());
        if held.is_empty() {
            return;
        }
        {
            let mut g = self.locks.inner.lock();
            for (t, _) in held {
                if let Some(hs) = g.granted.get_mut(&t) {
                    hs.retain(|(s, _)| *s != self.id);
                    if hs.is_empty() {
                        g.granted.remove(&t);
                    }
                }
            }
        }
        self.locks.changed.notify_waiters();
    }
}

impl Drop for SessionLocks {
    fn drop(&mut self) {
        self.release_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn conflict_table_matches_postgresql() {
        use LockMode::*;
        assert!(!AccessShare.conflicts(RowExclusive));
        assert!(AccessShare.conflicts(AccessExclusive));
        assert!(RowExclusive.conflicts(Share));
        assert!(!RowExclusive.conflicts(RowExclusive));
        assert!(!RowExclusive.conflicts(ShareUpdateExclusive));
        assert!(ShareUpdateExclusive.conflicts(ShareUpdateExclusive));
        assert!(!Share.conflicts(Share));
        assert!(Share.conflicts(RowExclusive));
        assert!(!RowShare.conflicts(Share));
    }

    #[tokio::test]
    async fn exclusive_waits_for_readers_and_queues_ahead_of_later_ones() {
        let locks = TableLocks::new();
        let (a, b, c) = (locks.session(), locks.session(), locks.session());
        a.acquire(1, LockMode::AccessShare).await.unwrap();
        let b2 = b.clone();
        let drop_waits =
            tokio::spawn(async move { b2.acquire(1, LockMode::AccessExclusive).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!drop_waits.is_finished());
        // A later reader queues behind the waiting DROP.
        let c2 = c.clone();
        let reader = tokio::spawn(async move { c2.acquire(1, LockMode::AccessShare).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!reader.is_finished());
        a.release_all();
        drop_waits.await.unwrap().unwrap();
        assert!(!reader.is_finished());
        b.release_all();
        reader.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_cycle_fails_with_deadlock_detected() {
        let locks = TableLocks::new();
        let (a, b) = (locks.session(), locks.session());
        a.acquire(1, LockMode::RowExclusive).await.unwrap();
        b.acquire(2, LockMode::RowExclusive).await.unwrap();
        let a2 = a.clone();
        let waits = tokio::spawn(async move { a2.acquire(2, LockMode::AccessExclusive).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let e = b.acquire(1, LockMode::AccessExclusive).await.unwrap_err();
        assert_eq!(e.code, codes::DEADLOCK_DETECTED);
        b.release_all();
        waits.await.unwrap().unwrap();
    }

    /// `LOCK TABLE t IN SHARE MODE` then an INSERT: the INSERT's ROW
    /// EXCLUSIVE still waits for another session's SHARE (SHARE is later
    /// in the modes' order but does not cover it).
    #[tokio::test]
    async fn share_does_not_cover_row_exclusive() {
        use LockMode::*;
        assert!(Share.covers(AccessShare) && Share.covers(RowShare));
        assert!(!Share.covers(RowExclusive));
        assert!(AccessExclusive.covers(Share) && RowExclusive.covers(RowShare));
        let locks = TableLocks::new();
        let (a, b) = (locks.session(), locks.session());
        a.acquire(1, Share).await.unwrap();
        b.acquire(1, Share).await.unwrap();
        let w = tokio::time::timeout(Duration::from_millis(50), a.acquire(1, RowExclusive)).await;
        assert!(w.is_err(), "a's INSERT must wait for b's SHARE");
        b.release_all();
        a.acquire(1, RowExclusive).await.unwrap();
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_the_queue() {
        let locks = TableLocks::new();
        let (a, b, c) = (locks.session(), locks.session(), locks.session());
        a.acquire(1, LockMode::AccessShare).await.unwrap();
        let w = tokio::time::timeout(
            Duration::from_millis(50),
            b.acquire(1, LockMode::AccessExclusive),
        )
        .await;
        assert!(w.is_err());
        // Nothing queued ahead any more: a reader gets in at once.
        c.acquire(1, LockMode::AccessShare).await.unwrap();
    }
}
