//! [`ShardAccess`] over the Raft groups and vector indexes of this node.

use std::sync::Arc;

use async_trait::async_trait;

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    Epoch, GcRun, Kvs, LiveTxns, ShardAccess, ShardError, ShardId, SnapshotTs, Timestamps,
    VectorSearch, WriteTs, gc,
};
use crate::ann::Point;
use crate::catalog::Table;
use crate::cluster::{Group, META_GROUP, Node};
use crate::hlc::Timestamp;
use crate::shard::txn::Intent;
use crate::shard::{Command, CommandResult, TxnId, TxnStatus};
use crate::types::Datum;
use crate::vindex::{ShardIndex, VectorIndexes};

/// Every shard on this node (a single node holds them all).
pub struct LocalShards {
    node: Arc<Node>,
    indexes: Arc<VectorIndexes>,
    timestamps: Arc<Timestamps>,
    /// The last garbage collection of each shard.
    gc: parking_lot::Mutex<BTreeMap<ShardId, GcRun>>,
    live: Arc<LiveTxns>,
    activity: Arc<super::Activity>,
}

impl std::fmt::Debug for LocalShards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalShards(node {})", self.node.node_id)
    }
}

impl LocalShards {
    pub fn new(node: Arc<Node>, indexes: Arc<VectorIndexes>) -> Arc<Self> {
        let timestamps = Timestamps::new(node.clock.clone());
        Arc::new(LocalShards {
            node,
            indexes,
            timestamps,
            gc: Default::default(),
            live: LiveTxns::new(),
            activity: Default::default(),
        })
    }

    /// Whether intent `i`'s transaction committed at or before `at` (its
    /// record says so; resolution has not caught up yet).
    fn committed_by(&self, i: &Intent, at: Timestamp) -> Result<bool, ShardError> {
        Ok(matches!(
            self.group(i.record)?.txn_record(i.txn)?,
            Some(TxnStatus::Committed(ts)) if ts <= at
        ))
    }

    fn group(&self, shard: ShardId) -> Result<&Group, ShardError> {
        if shard == META_GROUP {
            return Ok(&self.node.meta);
        }
        // A shard this node does not hold: the caller's map is not ours.
        self.node.groups.get(&shard).ok_or(ShardError::Moved {
            shard,
            epoch: self.node.shard_map.epoch,
        })
    }
}

#[async_trait]
impl ShardAccess for LocalShards {
    fn epoch(&self) -> Epoch {
        self.node.shard_map.epoch
    }

    fn shards(&self) -> Vec<ShardId> {
        self.node.groups.keys().copied().collect()
    }

    fn record_groups(&self) -> Vec<ShardId> {
        let mut g = vec![META_GROUP];
        g.extend(self.shards());
        g
    }

    fn shard_of(&self, key: &[u8]) -> ShardId {
        self.node.shard_map.group_of(key)
    }

    fn get_at(
        &self,
        shard: ShardId,
        key: &[u8],
        at: Timestamp,
    ) -> Result<Option<Vec<u8>>, ShardError> {
        let g = self.group(shard)?;
        let v = g.get_at(key, at)?;
        match g.intent(key)? {
            Some(i) if !i.lock_only && self.committed_by(&i, at)? => Ok(i.value),
            _ => Ok(v),
        }
    }

    fn scan_at(
        &self,
        shard: ShardId,
        start: &[u8],
        end: Option<&[u8]>,
        at: Timestamp,
        limit: usize,
    ) -> Result<Kvs, ShardError> {
        let g = self.group(shard)?;
        let mut want = limit;
        loop {
            let kvs = g.scan_at(start, end, at, want)?;
            let full = kvs.len() >= want;
            // Intents up to where this page ends (all of the range if the
            // page is not full).
            let upto = match (full, kvs.last()) {
                (true, Some((k, _))) => {
                    let mut e = k.clone();
                    e.push(0);
                    Some(e)
                }
                _ => end.map(<[u8]>::to_vec),
            };
            let intents = g.intents(start, upto.as_deref(), usize::MAX)?;
            let mut committed = Vec::new();
            for (k, i) in intents {
                if !i.lock_only && self.committed_by(&i, at)? {
                    committed.push((k, i.value));
                }
            }
            if committed.is_empty() {
                return Ok(kvs);
            }
            // Committed, not yet resolved (its coordinator failed after
            // the commit point): the intent is the key's value.
            let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = kvs.into_iter().collect();
            let mut removed = 0;
            for (k, v) in committed {
                match v {
                    Some(v) => {
                        merged.insert(k, v);
                    }
                    None => removed += usize::from(merged.remove(&k).is_some()),
                }
            }
            if full && merged.len() < limit && removed > 0 && want < usize::MAX - removed {
                want += removed;
                continue;
            }
            return Ok(merged.into_iter().collect());
        }
    }

    async fn snapshot(&self) -> Arc<SnapshotTs> {
        self.timestamps.snapshot().await
    }

    async fn collect_garbage(&self, retention: Duration) -> Result<Vec<GcRun>, ShardError> {
        let horizon = self.timestamps.gc_horizon(retention);
        let mut runs = Vec::new();
        for shard in self.shards() {
            let last = self.gc.lock().get(&shard).cloned();
            let run = gc::collect_shard(self, shard, horizon, last.as_ref()).await?;
            self.gc.lock().insert(shard, run.clone());
            runs.push(run);
        }
        Ok(runs)
    }

    fn gc_runs(&self) -> Vec<GcRun> {
        self.gc.lock().values().cloned().collect()
    }

    fn begin_write(&self) -> WriteTs {
        self.timestamps.begin_write()
    }

    async fn propose(
        &self,
        shard: ShardId,
        epoch: Epoch,
        cmd: Command,
    ) -> Result<CommandResult, ShardError> {
        let current = self.epoch();
        if epoch != current {
            return Err(ShardError::Moved {
                shard,
                epoch: current,
            });
        }
        self.group(shard)?.propose(cmd).await
    }

    fn intents(
        &self,
        shard: ShardId,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Intent)>, ShardError> {
        self.group(shard)?.intents(start, None, limit)
    }

    fn txn_record(&self, shard: ShardId, txn: TxnId) -> Result<Option<TxnStatus>, ShardError> {
        self.group(shard)?.txn_record(txn)
    }

    fn txn_records(&self, shard: ShardId) -> Result<Vec<(TxnId, TxnStatus)>, ShardError> {
        self.group(shard)?.txn_records()
    }

    fn live_txns(&self) -> Arc<LiveTxns> {
        self.live.clone()
    }

    fn activity(&self) -> Arc<super::Activity> {
        self.activity.clone()
    }

    fn approximate_size(&self, prefix: &[u8]) -> u64 {
        self.node
            .groups
            .values()
            .map(|g| g.approximate_size(prefix))
            .sum()
    }

    fn vector_index(&self, shard: ShardId, index: u32) -> Option<Arc<dyn VectorSearch>> {
        Some(self.indexes.get(shard, index)? as Arc<dyn VectorSearch>)
    }
}

impl VectorSearch for ShardIndex {
    fn ready(&self) -> bool {
        ShardIndex::ready(self)
    }

    fn live_rows(&self) -> usize {
        self.counts().0
    }

    fn search(&self, q: &Point, k: usize, ef: usize) -> Vec<(Vec<u8>, f32)> {
        ShardIndex::search(self, q, k, ef)
    }

    fn filtered_search(
        &self,
        q: &Point,
        k: usize,
        ef: usize,
        filter: &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        table: &Table,
        schema: &datafusion::arrow::datatypes::SchemaRef,
    ) -> Option<Vec<(Vec<u8>, f32)>> {
        ShardIndex::filtered_search(self, q, k, ef, filter, table, schema)
    }

    fn kept_rows(
        &self,
        keys: &[(f32, Vec<u8>)],
        table: &Table,
        cols: &[usize],
    ) -> Option<Vec<(f64, Vec<Datum>)>> {
        ShardIndex::kept_rows(self, keys, table, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::Op;

    /// The seam over a real node (RocksDB and one-voter Raft groups): a
    /// write routed by the shard map's epoch is applied on the key's
    /// shard and read back; one routed by another epoch is refused.
    #[tokio::test]
    async fn local_shards_route_write_read_and_refuse_a_stale_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::start(dir.path(), 3, "127.0.0.1:0", 10_000)
            .await
            .unwrap();
        let indexes = VectorIndexes::new(node.clone(), dir.path());
        let data = LocalShards::new(node.clone(), indexes);
        assert_eq!(data.shards(), vec![1, 2, 3]);
        let epoch = data.epoch();
        let mut written = Vec::new();
        for i in 0..20u32 {
            let key = [b'k', 0, 0, 0, i as u8].to_vec();
            let shard = data.shard_of(&key);
            assert!(data.shards().contains(&shard));
            let cmd = Command::new(vec![Op::Put {
                key: key.clone(),
                value: vec![i as u8],
            }]);
            let res = data.propose(shard, epoch, cmd).await.unwrap();
            assert!(matches!(res, CommandResult::Applied { .. }), "{res:?}");
            written.push((shard, key));
        }
        for (i, (shard, key)) in written.iter().enumerate() {
            assert_eq!(data.get(*shard, key).unwrap(), Some(vec![i as u8]));
        }
        // Every key is on exactly the shard it was routed to.
        let total: usize = data
            .shards()
            .into_iter()
            .map(|s| data.scan(s, b"k", Some(b"l"), usize::MAX).unwrap().len())
            .sum();
        assert_eq!(total, written.len());
        let stale = data
            .propose(
                1,
                epoch + 1,
                Command::new(vec![Op::Delete {
                    key: written[0].1.clone(),
                }]),
            )
            .await;
        assert!(matches!(stale, Err(ShardError::Moved { .. })), "{stale:?}");
        assert!(matches!(
            data.get(99, b"k"),
            Err(ShardError::Moved { shard: 99, .. })
        ));
        node.store.clear_observer();
        node.shutdown().await;
    }
}
