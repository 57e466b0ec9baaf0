//! The data plane: the one way `sql/` and `exec/` reach a shard's rows and
//! its vector indexes. [`ShardAccess`] is the seam: a point read, a range
//! scan, a KNN search and a replicated write, each addressed to a shard and
//! routed by the shard map's epoch.
//!
//! Today it has one implementation, [`LocalShards`]: every shard is a Raft
//! group on this node. A remote implementation (shards on other nodes,
//! reached over RPC) and transactional reads (MVCC snapshots) go behind the
//! same trait; nothing above it iterates the node's groups or opens
//! RocksDB.

pub mod activity;
pub mod gc;
pub mod local;
pub mod overlay;
pub mod rows;
pub mod snapshot;
pub mod txn;
pub mod write;

use std::sync::Arc;

use async_trait::async_trait;

/// The group holding the catalog (and the records of transactions that change it).
pub use crate::cluster::META_GROUP;
pub use crate::cluster::ShardError;
pub use crate::shard::{Command, CommandResult, Op};
pub use activity::Activity;
pub use gc::GcRun;
pub use local::LocalShards;
pub use overlay::Overlay;
pub use snapshot::{AtSnapshot, SnapshotTs, Timestamps, WriteTs};
pub use txn::{Interrupt, LiveTxns, Txn};

use crate::ann::Point;
use crate::catalog::Table;
use crate::hlc::Timestamp;
use crate::shard::txn::Intent;
use crate::shard::{GroupId, TxnId, TxnStatus};
use crate::types::Datum;

/// A data shard: one Raft group holding the rows of the slots it owns.
pub type ShardId = GroupId;

/// A shard map version. Writes carry the epoch they were routed by; a
/// shard that no longer owns the key refuses them ([`ShardError::Moved`])
/// and the caller re-routes.
pub type Epoch = u64;

/// Key/value pairs in key order.
pub type Kvs = Vec<(Vec<u8>, Vec<u8>)>;

/// The seam between the SQL engine and the shards (see the module doc).
#[async_trait]
pub trait ShardAccess: Send + Sync + std::fmt::Debug {
    /// The shard map epoch that [`ShardAccess::shard_of`] answers from.
    fn epoch(&self) -> Epoch;

    /// Every data shard, in id order.
    fn shards(&self) -> Vec<ShardId>;

    /// The groups that may hold transaction records: every shard, and the
    /// meta group (transactions that change the catalog).
    fn record_groups(&self) -> Vec<ShardId> {
        self.shards()
    }

    /// The shard that owns an encoded key.
    fn shard_of(&self, key: &[u8]) -> ShardId;

    /// The value of `key` on `shard` as of `at` ([`Timestamp::MAX`]: the
    /// latest committed value).
    fn get_at(
        &self,
        shard: ShardId,
        key: &[u8],
        at: Timestamp,
    ) -> Result<Option<Vec<u8>>, ShardError>;

    /// Up to `limit` pairs of `shard` with keys in `[start, end)` as of
    /// `at`, in key order.
    fn scan_at(
        &self,
        shard: ShardId,
        start: &[u8],
        end: Option<&[u8]>,
        at: Timestamp,
        limit: usize,
    ) -> Result<Kvs, ShardError>;

    /// The timestamp [`ShardAccess::get`] and [`ShardAccess::scan`] read at:
    /// the latest committed state, or a statement's snapshot
    /// ([`AtSnapshot`]).
    fn read_ts(&self) -> Timestamp {
        Timestamp::MAX
    }

    /// The value of `key` on `shard` at [`ShardAccess::read_ts`].
    fn get(&self, shard: ShardId, key: &[u8]) -> Result<Option<Vec<u8>>, ShardError> {
        self.get_at(shard, key, self.read_ts())
    }

    /// Up to `limit` pairs of `shard` with keys in `[start, end)` at
    /// [`ShardAccess::read_ts`], in key order.
    fn scan(
        &self,
        shard: ShardId,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Kvs, ShardError> {
        self.scan_at(shard, start, end, self.read_ts(), limit)
    }

    /// A snapshot timestamp: every write committed at or below it has
    /// finished applying on every shard (so reads at it never change), and
    /// every write that begins later commits above it. Garbage collection
    /// keeps what it sees while the returned guard lives.
    async fn snapshot(&self) -> Arc<SnapshotTs>;

    /// Remove, on every shard, the versions that no snapshot can see any
    /// more: older than `retention` and than every snapshot being read.
    async fn collect_garbage(
        &self,
        retention: std::time::Duration,
    ) -> Result<Vec<GcRun>, ShardError>;

    /// The last garbage collection of each shard.
    fn gc_runs(&self) -> Vec<GcRun>;

    /// A commit timestamp for a write that is about to be proposed (to
    /// every shard it touches, so they commit at one timestamp). Snapshots
    /// at or above it wait until the returned guard is dropped.
    fn begin_write(&self) -> WriteTs;

    /// Replicate `cmd` through `shard`'s log and apply it (all of its ops or
    /// none), routed by the shard map of `epoch`.
    async fn propose(
        &self,
        shard: ShardId,
        epoch: Epoch,
        cmd: Command,
    ) -> Result<CommandResult, ShardError>;

    /// Up to `limit` intents on `shard` from key `start` on, in key order.
    fn intents(
        &self,
        shard: ShardId,
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Intent)>, ShardError>;

    /// What `txn`'s record on `shard` says (None: no record).
    fn txn_record(&self, shard: ShardId, txn: TxnId) -> Result<Option<TxnStatus>, ShardError>;

    /// Every transaction record on `shard`.
    fn txn_records(&self, shard: ShardId) -> Result<Vec<(TxnId, TxnStatus)>, ShardError>;

    /// The transactions coordinated here that are still running.
    fn live_txns(&self) -> Arc<LiveTxns>;

    /// What this node's sessions did to each relation ([`Activity`]).
    fn activity(&self) -> Arc<Activity>;

    /// Approximate bytes the shards held here store on disk for keys
    /// starting with `prefix` (a relation's id), every version counted;
    /// writes still in memory are not (RocksDB measures its files).
    fn approximate_size(&self, prefix: &[u8]) -> u64;

    /// The vector index `index` on `shard`, for KNN searches (None when it
    /// is not registered there).
    fn vector_index(&self, shard: ShardId, index: u32) -> Option<Arc<dyn VectorSearch>>;
}

/// KNN search on one shard's vector index: what the KNN operators ask of a
/// shard, whichever node holds it.
pub trait VectorSearch: Send + Sync {
    /// Whether the index holds every row (not in its first build): until
    /// then callers scan rows exactly.
    fn ready(&self) -> bool;

    /// Live rows in the index.
    fn live_rows(&self) -> usize;

    /// Up to `k` nearest live rows to `q` in graph order, as row keys with
    /// the graph's distance, walking with width `ef`.
    fn search(&self, q: &Point, k: usize, ef: usize) -> Vec<(Vec<u8>, f32)>;

    /// Up to `k` nearest live rows passing `filter` (a predicate over the
    /// table's columns, `schema`), or None when the index cannot evaluate
    /// it from the columns it keeps.
    fn filtered_search(
        &self,
        q: &Point,
        k: usize,
        ef: usize,
        filter: &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        table: &Table,
        schema: &datafusion::arrow::datatypes::SchemaRef,
    ) -> Option<Vec<(Vec<u8>, f32)>>;

    /// Rows of `keys` holding only table columns `cols`, from the columns
    /// the index keeps (None if one is not kept).
    fn kept_rows(
        &self,
        keys: &[(f32, Vec<u8>)],
        table: &Table,
        cols: &[usize],
    ) -> Option<Vec<(f64, Vec<Datum>)>>;
}
