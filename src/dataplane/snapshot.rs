//! Snapshot and commit timestamps on this node: a read at snapshot `S` must
//! never change, so it waits for every write already given a commit
//! timestamp at or below `S`; writes that start later get a later one from
//! the same clock (docs/transactions.md, "Reads").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{
    Command, CommandResult, Epoch, GcRun, Kvs, ShardAccess, ShardError, ShardId, VectorSearch,
};
use crate::hlc::{Clock, Timestamp};
use crate::shard::txn::Intent;
use crate::shard::{TxnId, TxnStatus};

/// The commit timestamps of writes in flight on this node.
#[derive(Debug)]
pub struct Timestamps {
    clock: Arc<Clock>,
    in_flight: Mutex<BTreeSet<Timestamp>>,
    finished: Notify,
    /// Snapshots being read at, with how many readers each.
    active: Mutex<BTreeMap<Timestamp, usize>>,
}

/// A snapshot being read at; garbage collection keeps what it sees while
/// it lives.
#[derive(Debug)]
pub struct SnapshotTs {
    pub at: Timestamp,
    owner: Arc<Timestamps>,
}

impl Drop for SnapshotTs {
    fn drop(&mut self) {
        let mut active = self.owner.active.lock();
        if let Some(n) = active.get_mut(&self.at) {
            *n -= 1;
            if *n == 0 {
                active.remove(&self.at);
            }
        }
    }
}

/// A write's commit timestamp; snapshots at or above it wait while it lives.
#[derive(Debug)]
pub struct WriteTs {
    pub ts: Timestamp,
    owner: Arc<Timestamps>,
}

impl Drop for WriteTs {
    fn drop(&mut self) {
        self.owner.in_flight.lock().remove(&self.ts);
        self.owner.finished.notify_waiters();
    }
}

impl Timestamps {
    pub fn new(clock: Arc<Clock>) -> Arc<Timestamps> {
        Arc::new(Timestamps {
            clock,
            in_flight: Mutex::new(BTreeSet::new()),
            finished: Notify::new(),
            active: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn begin_write(self: &Arc<Self>) -> WriteTs {
        let mut in_flight = self.in_flight.lock();
        // Taken under the lock: a snapshot cannot fall between the clock
        // reading and the registration.
        let ts = self.clock.now();
        in_flight.insert(ts);
        WriteTs {
            ts,
            owner: self.clone(),
        }
    }

    /// A snapshot (see [`ShardAccess::snapshot`]), registered until the
    /// returned guard is dropped.
    pub async fn snapshot(self: &Arc<Self>) -> Arc<SnapshotTs> {
        let at = self.snapshot_ts().await;
        *self.active.lock().entry(at).or_default() += 1;
        Arc::new(SnapshotTs {
            at,
            owner: self.clone(),
        })
    }

    /// Versions older than this are seen by no snapshot: the older of
    /// `retention` ago and the oldest snapshot being read.
    pub fn gc_horizon(&self, retention: Duration) -> Timestamp {
        let now = self.clock.now();
        let by_age = Timestamp(now.0.saturating_sub((retention.as_millis() as u64) << 16));
        match self.active.lock().keys().next() {
            Some(oldest) => by_age.min(*oldest),
            None => by_age,
        }
    }

    async fn snapshot_ts(&self) -> Timestamp {
        let mut at = None;
        loop {
            let finished = self.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            {
                let in_flight = self.in_flight.lock();
                let s = *at.get_or_insert_with(|| self.clock.now());
                if in_flight.first().is_none_or(|t| *t > s) {
                    return s;
                }
            }
            finished.await;
        }
    }
}

/// A [`ShardAccess`] whose `get` and `scan` read at one snapshot (a
/// statement's); everything else goes to the shards it wraps.
#[derive(Debug)]
pub struct AtSnapshot {
    pub inner: Arc<dyn ShardAccess>,
    pub snapshot: Arc<SnapshotTs>,
}

#[async_trait]
impl ShardAccess for AtSnapshot {
    fn epoch(&self) -> Epoch {
        self.inner.epoch()
    }

    fn shards(&self) -> Vec<ShardId> {
        self.inner.shards()
    }

    fn shard_of(&self, key: &[u8]) -> ShardId {
        self.inner.shard_of(key)
    }

    fn get_at(
        &self,
        shard: ShardId,
        key: &[u8],
        at: Timestamp,
    ) -> Result<Option<Vec<u8>>, ShardError> {
        self.inner.get_at(shard, key, at)
    }

    fn scan_at(
        &self,
        shard: ShardId,
        start: &[u8],
        end: Option<&[u8]>,
        at: Timestamp,
        limit: usize,
    ) -> Result<Kvs, ShardError> {
        self.inner.scan_at(shard, start, end, at, limit)
    }

    fn read_ts(&self) -> Timestamp {
        self.snapshot.at
    }

    async fn snapshot(&self) -> Arc<SnapshotTs> {
        self.inner.snapshot().await
    }

    async fn collect_garbage(&self, retention: Duration) -> Result<Vec<GcRun>, ShardError> {
        self.inner.collect_garbage(retention).await
    }

    fn gc_runs(&self) -> Vec<GcRun> {
        self.inner.gc_runs()
    }

    fn begin_write(&self) -> WriteTs {
        self.inner.begin_write()
    }

    async fn propose(
        &self,
        shard: ShardId,
        epoch: Epoch,
        cmd: Command,
    ) -> Result<CommandResult, ShardError> {
        self.inner.propose(shard, epoch, cmd).await
    }

    fn intents(
        &self,
        shard: ShardId,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Intent)>, ShardError> {
        self.inner.intents(shard, start, limit)
    }

    fn txn_record(&self, shard: ShardId, txn: TxnId) -> Result<Option<TxnStatus>, ShardError> {
        self.inner.txn_record(shard, txn)
    }

    fn txn_records(&self, shard: ShardId) -> Result<Vec<(TxnId, TxnStatus)>, ShardError> {
        self.inner.txn_records(shard)
    }

    fn live_txns(&self) -> Arc<super::LiveTxns> {
        self.inner.live_txns()
    }

    fn activity(&self) -> Arc<super::Activity> {
        self.inner.activity()
    }

    fn approximate_size(&self, prefix: &[u8]) -> u64 {
        self.inner.approximate_size(prefix)
    }

    fn vector_index(&self, shard: ShardId, index: u32) -> Option<Arc<dyn VectorSearch>> {
        self.inner.vector_index(shard, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_snapshot_waits_for_writes_at_or_below_it() {
        let ts = Timestamps::new(Arc::new(Clock::new()));
        let w = ts.begin_write();
        let waiting = {
            let ts = ts.clone();
            tokio::spawn(async move { ts.snapshot().await.at })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the snapshot did not wait");
        // A write begun after the snapshot was taken does not hold it up.
        let later = ts.begin_write();
        let at = w.ts;
        drop(w);
        let s = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the snapshot finished once the write did")
            .unwrap();
        assert!(s > at && s < later.ts);
        // With nothing in flight below it, a snapshot does not wait.
        let after = later.ts;
        drop(later);
        let s2 = tokio::time::timeout(std::time::Duration::from_secs(5), ts.snapshot())
            .await
            .expect("nothing to wait for");
        assert!(s2.at > after);
        // A snapshot being read holds the collection horizon back.
        assert_eq!(ts.gc_horizon(Duration::ZERO), s2.at);
        let at = s2.at;
        drop(s2);
        assert!(ts.gc_horizon(Duration::ZERO) > at);
    }
}
