//! A shard index's checkpoint: its graph (compact, IVFFlat lists or
//! hnsw_rs's dump), its key map and the shard's applied log index it
//! reflects. Loaded at start only when that index still matches the
//! shard's; anything else is a rebuild from the rows, and says why.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::shard_index::ShardIndex;
use crate::ann::{CompactGraph, Graph, IdMap, Point};
use crate::error::{PgError, PgResult};

/// A compact graph's checkpoint files beside `meta.bin`: the graph, and
/// the points written since its last copy.
const COMPACT_FILE: &str = "compact.bin";
const DELTA_FILE: &str = "delta.bin";

/// Bumped when what a checkpointed graph holds changes (2: unit vectors in
/// cosine graphs; 3: halfvec graphs hold f16; 4: compact graphs); other
/// formats are rebuilt.
const CHECKPOINT_FORMAT: u32 = 4;

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    format: u32,
    base: String,
    applied: u64,
    index_id: u32,
    /// The definition the graph was built for, in the shape checkpoints
    /// have always kept (the catalog's has grown fields bincode would
    /// not read back).
    def: crate::catalog::legacy::VectorIndex,
    map: Vec<u8>,
}

/// Why a checkpoint was not loaded (the graph is rebuilt from the rows).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no checkpoint ({0})")]
    Missing(std::io::Error),
    #[error("checkpoint format {found}, this version writes {CHECKPOINT_FORMAT}")]
    Format { found: u32 },
    #[error("checkpoint is of log index {checkpoint}, the shard has applied {shard}")]
    Stale { checkpoint: u64, shard: u64 },
    #[error("checkpoint is of another index definition")]
    OtherIndex,
    #[error("checkpoint is damaged: {0}")]
    Damaged(String),
}

fn damaged(e: impl std::fmt::Display) -> LoadError {
    LoadError::Damaged(e.to_string())
}

impl ShardIndex {
    /// Write this graph's checkpoint into `dir` (replacing what is there).
    pub(super) fn dump(&self, dir: &Path) -> PgResult<()> {
        let _one_at_a_time = self.dump_lock.lock();
        // Read first: the graph then holds at least these changes; a graph
        // ahead of its recorded position fails the check at load (rebuild),
        // one behind it would load stale.
        let applied = self.applied.load(Ordering::SeqCst);
        let io = |e: &dyn std::fmt::Display| PgError::internal(format!("index checkpoint: {e}"));
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        // Locks in the order searches take them (map, graph, delta): a
        // rebuild's swap waiting for the graph's write lock must not sit
        // between two reads of one thread.
        let map = self.map.read().to_bytes().map_err(|e| io(&e))?;
        let g = self.graph.read();
        let base = if let Graph::Compact(c) = &*g {
            // Written outside the lock (searches and the next copy go on):
            // this graph and the points not inserted into it yet.
            let (c, delta) = (c.clone(), self.delta.read().clone());
            drop(g);
            let file = std::fs::File::create(dir.join(COMPACT_FILE)).map_err(|e| io(&e))?;
            let mut w = std::io::BufWriter::new(file);
            c.write_to(&mut w).map_err(|e| io(&e))?;
            std::io::Write::flush(&mut w).map_err(|e| io(&e))?;
            let delta = bincode::serialize(&delta).map_err(|e| io(&e))?;
            std::fs::write(dir.join(DELTA_FILE), delta).map_err(|e| io(&e))?;
            COMPACT_FILE.to_string()
        } else {
            g.dump(dir).map_err(|e| io(&e))?
        };
        let meta = Checkpoint {
            format: CHECKPOINT_FORMAT,
            base,
            applied,
            index_id: self.index.id,
            def: (&self.def).into(),
            map,
        };
        std::fs::write(
            dir.join("meta.bin"),
            bincode::serialize(&meta).map_err(|e| io(&e))?,
        )
        .map_err(|e| io(&e))?;
        Ok(())
    }

    /// Load the checkpoint in `dir` if it reflects log index `applied` of
    /// this index's definition.
    pub(super) fn load(&self, dir: &Path, applied: u64) -> Result<(), LoadError> {
        let bytes = std::fs::read(dir.join("meta.bin")).map_err(LoadError::Missing)?;
        let meta: Checkpoint = bincode::deserialize(&bytes).map_err(damaged)?;
        if meta.format != CHECKPOINT_FORMAT {
            return Err(LoadError::Format { found: meta.format });
        }
        if meta.applied != applied {
            return Err(LoadError::Stale {
                checkpoint: meta.applied,
                shard: applied,
            });
        }
        if meta.def != crate::catalog::legacy::VectorIndex::from(&self.def)
            || meta.index_id != self.index.id
        {
            return Err(LoadError::OtherIndex);
        }
        let map = IdMap::from_bytes(&meta.map).map_err(damaged)?;
        let mut delta = Vec::new();
        let graph = if meta.base == COMPACT_FILE {
            let graph = CompactGraph::read(&self.spec, &dir.join(COMPACT_FILE)).map_err(damaged)?;
            let bytes = std::fs::read(dir.join(DELTA_FILE)).map_err(damaged)?;
            delta = bincode::deserialize::<Vec<(usize, Point)>>(&bytes).map_err(damaged)?;
            // Ids the key map never gave out: not a checkpoint of this map.
            if delta.iter().any(|(id, _)| *id >= map.len()) || graph.max_id() >= map.len() {
                return Err(damaged("graph ids the key map does not hold"));
            }
            Graph::Compact(Arc::new(graph))
        } else {
            Graph::load(&self.spec, dir, &meta.base).map_err(damaged)?
        };
        *self.graph.write() = graph;
        *self.delta.write() = delta;
        *self.map.write() = map;
        self.applied.fetch_max(applied, Ordering::SeqCst);
        Ok(())
    }
}
