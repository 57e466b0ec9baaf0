//! Vector indexes at run time: one HNSW graph (hnsw_rs) per (shard, index),
//! derived from the rows.
//!
//! - Built from the shard's rows with all cores (rayon, inside hnsw_rs),
//!   then copied into a compact graph (`ann::hnsw`) (hnsw_rs's structures dropped),
//!   which later writes are inserted into (sparsevec graphs stay in hnsw_rs).
//! - Kept in step with the rows by the shard's [`ApplyObserver`]: every
//!   applied put or delete of an indexed table's row inserts or tombstones
//!   its graph node, whichever path wrote it.
//! - HNSW cannot delete: deleted and updated rows leave tombstones that
//!   searches skip; past a threshold the graph is rebuilt from the rows.
//! - Checkpointed (graph + key map + the log index it reflects) at
//!   shutdown and after a build; loaded at start when the log index still
//!   matches the shard's, rebuilt from the rows otherwise.

mod build;
mod checkpoint;
pub mod filter_columns;
mod shard_index;
pub mod spec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::catalog::{Index, Table};
use crate::cluster::Node;
use crate::shard::{ApplyObserver, Change, GroupId};
pub use checkpoint::LoadError;
pub use shard_index::{Progress, ShardIndex};

/// A CREATE INDEX or REINDEX in progress, for `pg_stat_progress_create_index`.
pub struct Build {
    pub index: Index,
    pub table_id: u32,
    pub command: &'static str,
    pub shards_total: usize,
    pub shards_done: AtomicUsize,
}

/// A build's progress as the view shows it.
pub struct BuildProgress {
    pub build: Arc<Build>,
    pub tuples_total: usize,
    pub tuples_done: usize,
}

/// One shard's graph as `grape_vector_indexes` shows it.
pub struct ShardState {
    pub index: Index,
    pub table: String,
    /// The shard (data Raft group) the graph indexes.
    pub shard: GroupId,
    pub live: usize,
    pub dead: usize,
    pub source: &'static str,
    pub applied: u64,
    /// What the graph's points are made of (`vector`, `halfvec`, `binary`, `bit`).
    pub storage: &'static str,
    /// Nodes in the compact graph, and points written since (searched
    /// exactly until inserted into the next copy).
    pub graph_nodes: usize,
    pub recent: usize,
    /// Heap bytes of the graph, key map and filter columns (see
    /// [`ShardIndex::heap_bytes`]).
    pub bytes: Option<usize>,
}

/// Every vector index of the node, by (shard, index id).
pub struct VectorIndexes {
    node: Arc<Node>,
    dir: PathBuf,
    shards: RwLock<HashMap<(GroupId, u32), Arc<ShardIndex>>>,
    builds: Mutex<Vec<Arc<Build>>>,
}

/// Registered while a build runs; unregisters on drop (also on error).
struct BuildGuard<'a> {
    owner: &'a VectorIndexes,
    build: Arc<Build>,
}

impl Drop for BuildGuard<'_> {
    fn drop(&mut self) {
        self.owner
            .builds
            .lock()
            .retain(|b| !Arc::ptr_eq(b, &self.build));
    }
}

impl std::fmt::Debug for VectorIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VectorIndexes")
    }
}

impl ApplyObserver for VectorIndexes {
    fn applied(&self, group: GroupId, changes: &[Change], log_index: u64) {
        // Held while applying, so a rebuild cannot swap a graph mid-apply.
        let shards = self.shards.read();
        for ((g, _), s) in shards.iter() {
            if *g == group {
                s.apply(changes);
                s.applied.store(log_index, Ordering::SeqCst);
            }
        }
    }

    fn replaced(self: Arc<Self>, group: GroupId, log_index: u64) {
        self.rebuild_group(group, log_index);
    }
}

impl VectorIndexes {
    pub fn new(node: Arc<Node>, data_dir: &Path) -> Arc<Self> {
        let v = Arc::new(VectorIndexes {
            node: node.clone(),
            dir: data_dir.join("vector-indexes"),
            shards: Default::default(),
            builds: Default::default(),
        });
        node.store.set_observer(v.clone());
        v
    }

    fn shard_dir(&self, group: GroupId, index: u32) -> PathBuf {
        self.dir.join(format!("{index}-shard{group}"))
    }

    pub fn get(&self, group: GroupId, index: u32) -> Option<Arc<ShardIndex>> {
        self.shards.read().get(&(group, index)).cloned()
    }

    /// All shard indexes (for progress and EXPLAIN).
    pub fn all(&self) -> Vec<Arc<ShardIndex>> {
        self.shards.read().values().cloned().collect()
    }

    fn start_build(&self, table: &Table, index: &Index, command: &'static str) -> BuildGuard<'_> {
        let build = Arc::new(Build {
            index: index.clone(),
            table_id: table.id,
            command,
            shards_total: self.node.groups.len(),
            shards_done: AtomicUsize::new(0),
        });
        self.builds.lock().push(build.clone());
        BuildGuard { owner: self, build }
    }

    /// Builds in progress, with their tuple counts so far.
    pub fn builds(&self) -> Vec<BuildProgress> {
        let builds = self.builds.lock().clone();
        let shards = self.all();
        builds
            .into_iter()
            .map(|build| {
                let (mut total, mut done) = (0, 0);
                for s in shards.iter().filter(|s| s.index.id == build.index.id) {
                    total += s.progress.total.load(Ordering::Relaxed);
                    done += s.progress.done.load(Ordering::Relaxed);
                }
                BuildProgress {
                    build,
                    tuples_total: total,
                    tuples_done: done,
                }
            })
            .collect()
    }

    /// Every shard's graph, sorted by index name and shard.
    pub fn shard_states(&self) -> Vec<ShardState> {
        let mut out: Vec<ShardState> = self
            .all()
            .into_iter()
            .map(|s| {
                // Each lock taken and released in its own statement (a
                // temporary guard lives to the end of the statement: held
                // across `heap_bytes` it would invert graph → delta).
                let (live, dead) = s.counts();
                let source = *s.source.lock();
                let graph_nodes = s.compact().map_or(0, |c| c.len());
                let recent = s.delta.read().len();
                let bytes = s.heap_bytes();
                ShardState {
                    index: s.index.clone(),
                    table: s.table.qualified_name(),
                    shard: s.shard,
                    live,
                    dead,
                    source,
                    storage: spec::storage_name(&s.def),
                    applied: s.applied.load(Ordering::SeqCst),
                    graph_nodes,
                    recent,
                    bytes,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.index.name, a.shard).cmp(&(&b.index.name, b.shard)));
        out
    }

    /// Forget an index (DROP INDEX, DROP TABLE) and its checkpoints.
    pub fn drop_index(&self, index: u32) {
        let mut shards = self.shards.write();
        let gone: Vec<(GroupId, u32)> = shards.keys().filter(|k| k.1 == index).copied().collect();
        for k in gone {
            shards.remove(&k);
            let _ = std::fs::remove_dir_all(self.shard_dir(k.0, k.1));
        }
    }

    /// Write every graph's checkpoint (at shutdown).
    pub fn checkpoint_all(&self) {
        // A graph still being built is not a checkpoint of anything.
        for s in self.all().into_iter().filter(|s| s.ready()) {
            if let Err(e) = s.dump(&self.shard_dir(s.shard, s.index.id)) {
                tracing::warn!("could not checkpoint index {}: {e}", s.index.name);
            }
        }
    }
}
