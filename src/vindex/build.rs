//! Building a shard index: CREATE INDEX (or a load from its checkpoint at
//! start), REINDEX, and the background rebuild of graphs with too many
//! tombstones. The old graph serves until the new one is swapped in.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::VectorIndexes;
use super::shard_index::{Pending, RowEntry, ShardIndex};
use crate::ann::{Graph, Point};
use crate::catalog::{Index, Table};
use crate::error::{PgError, PgResult};
use crate::shard::GroupId;

impl VectorIndexes {
    /// Build (or load from its checkpoint) `index` on every shard. Registers
    /// each shard's graph before reading its rows, so writes that land during
    /// the build are applied to it too. `progress` is called every few seconds.
    pub async fn open(
        self: &Arc<Self>,
        table: &Table,
        index: &Index,
        try_checkpoint: bool,
        progress: &(dyn Fn(String) + Sync),
    ) -> PgResult<()> {
        let progress_row = self.start_build(
            table,
            index,
            if try_checkpoint {
                "REINDEX"
            } else {
                "CREATE INDEX"
            },
        );
        let table = Arc::new(table.clone());
        for (&gid, group) in &self.node.groups {
            let shard = Arc::new(ShardIndex::new(gid, table.clone(), index.clone(), 0)?);
            let dir = self.shard_dir(gid, index.id);
            // Register first, deferring writes, then read the checkpoint or
            // the rows: a write either is in them or arrives deferred (or
            // both: replayed puts replace, deletes remove), never neither.
            *shard.pending.lock() = Pending::Defer(Vec::new());
            self.shards.write().insert((gid, index.id), shard.clone());
            let applied = crate::shard::state_machine::applied_index(&self.node.store, gid);
            let loaded = match try_checkpoint.then(|| shard.load(&dir, applied)) {
                Some(Err(why)) => {
                    tracing::info!(
                        "index {} on shard {gid}: rebuilding from rows: {why}",
                        index.name
                    );
                    false
                }
                Some(Ok(())) => true,
                None => false,
            };
            if loaded {
                // Writes are still deferred: rows read now plus the deferred
                // ones applied next give every live id its values.
                shard.fill_attrs(group)?;
                let (pending, changes) = shard.take_pending();
                shard.apply_to_graph(&changes);
                drop(pending);
                freeze_off_runtime(&shard).await;
                *shard.source.lock() = "checkpoint";
                progress_row
                    .build
                    .shards_done
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.fill_from_rows(&shard, applied, progress).await?;
            progress_row
                .build
                .shards_done
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Fill `shard`'s new graph (registered, writes deferred) from its
    /// group's rows as of `applied`, then apply the deferred writes and
    /// let it serve; its checkpoint is written in the background.
    async fn fill_from_rows(
        self: &Arc<Self>,
        shard: &Arc<ShardIndex>,
        applied: u64,
        progress: &(dyn Fn(String) + Sync),
    ) -> PgResult<()> {
        let (gid, index) = (shard.shard, &shard.index);
        let group = self.node.group(gid)?;
        shard.applied.fetch_max(applied, Ordering::SeqCst);
        let rows = shard.read_points(group)?;
        let capacity = rows.len();
        {
            *shard.graph.write() = Graph::trained(&shard.spec, &points_of(&rows));
        }
        shard.progress.total.store(capacity, Ordering::Relaxed);
        let worker = shard.clone();
        let build = tokio::task::spawn_blocking(move || worker.insert_many(rows));
        let started = std::time::Instant::now();
        tokio::pin!(build);
        loop {
            tokio::select! {
                r = &mut build => {
                    r.map_err(|e| PgError::internal(format!("index build failed: {e}")))?;
                    let (pending, changes) = shard.take_pending();
                    shard.apply_to_graph(&changes);
                    drop(pending);
                    freeze_off_runtime(shard).await;
                    *shard.source.lock() = "rows";
                    break;
                }
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                    progress(format!(
                        "building index \"{}\" on shard {gid}: {} of {} tuples after {}s",
                        index.name,
                        shard.progress.done.load(Ordering::Relaxed),
                        capacity,
                        started.elapsed().as_secs()
                    ));
                }
            }
        }
        // The graph serves now; its checkpoint is written in the
        // background (a crash before it only means a rebuild from rows).
        let dir = self.shard_dir(gid, index.id);
        let (me, s) = (self.clone(), shard.clone());
        tokio::task::spawn_blocking(move || {
            let current = me.get(s.shard, s.index.id);
            if current.is_some_and(|cur| Arc::ptr_eq(&cur, &s)) {
                if let Err(e) = s.dump(&dir) {
                    tracing::warn!("could not checkpoint index {}: {e}", s.index.name);
                }
            }
        });
        Ok(())
    }

    /// A Raft snapshot replaced `group`'s rows: every graph of it is
    /// replaced by a new one filled from the rows now there. Until it is
    /// filled, searches on that shard scan rows exactly (the new graph is
    /// not ready); writes that apply meanwhile are deferred into it. Called
    /// before the group applies its next entry.
    pub fn rebuild_group(self: &Arc<Self>, group: GroupId, log_index: u64) {
        let mut shards = self.shards.write();
        let stale: Vec<Arc<ShardIndex>> = shards
            .iter()
            .filter(|((g, _), _)| *g == group)
            .map(|(_, s)| s.clone())
            .collect();
        for old in stale {
            let fresh = match ShardIndex::new(group, old.table.clone(), old.index.clone(), 0) {
                Ok(f) => Arc::new(f),
                Err(e) => {
                    tracing::error!("index {} on shard {group}: {e}", old.index.name);
                    continue;
                }
            };
            *fresh.pending.lock() = Pending::Defer(Vec::new());
            // The old checkpoint describes rows that are gone.
            let _ = std::fs::remove_dir_all(self.shard_dir(group, old.index.id));
            shards.insert((group, old.index.id), fresh.clone());
            tracing::info!(
                "index {} on shard {group}: rebuilding after a snapshot install at {log_index}",
                old.index.name
            );
            let me = self.clone();
            tokio::spawn(async move {
                let quiet = |_: String| {};
                if let Err(e) = me.fill_from_rows(&fresh, log_index, &quiet).await {
                    tracing::error!(
                        "index {} on shard {group}: rebuild after a snapshot install failed: {e}",
                        fresh.index.name
                    );
                }
            });
        }
    }

    /// Rebuild the shards whose tombstones passed the threshold (from the rows).
    pub async fn maintain(self: &Arc<Self>) {
        let stale: Vec<Arc<ShardIndex>> = self
            .all()
            .into_iter()
            .filter(|s| s.needs_rebuild())
            .collect();
        for s in stale {
            tracing::info!(
                "rebuilding index {} on shard {}: {:?} live/dead",
                s.index.name,
                s.shard,
                s.counts()
            );
            let _ = self.rebuild_shard(&s).await;
        }
    }

    /// REINDEX: rebuild `index`'s graph on every shard from its rows (the
    /// old graph serves until each swap), then checkpoint. Returns the rows.
    pub async fn reindex(self: &Arc<Self>, index: u32) -> PgResult<usize> {
        let shards: Vec<Arc<ShardIndex>> = self
            .all()
            .into_iter()
            .filter(|s| s.index.id == index)
            .collect();
        let Some(first) = shards.first() else {
            return Ok(0);
        };
        let build = self.start_build(&first.table.clone(), &first.index.clone(), "REINDEX");
        let mut rows = 0;
        for old in shards {
            self.rebuild_when_free(old.shard, index).await?;
            build.build.shards_done.fetch_add(1, Ordering::Relaxed);
            if let Some(fresh) = self.get(old.shard, index) {
                rows += fresh.counts().0;
                let dir = self.shard_dir(old.shard, index);
                tokio::task::spawn_blocking(move || fresh.dump(&dir))
                    .await
                    .map_err(|e| PgError::internal(e.to_string()))??;
            }
        }
        Ok(rows)
    }

    /// Rebuild the current graph of `index` on `group`, first waiting for a
    /// rebuild of it already running (maintenance, another REINDEX) to
    /// finish, as PostgreSQL's REINDEX waits for the index's lock.
    async fn rebuild_when_free(self: &Arc<Self>, group: GroupId, index: u32) -> PgResult<()> {
        loop {
            let Some(current) = self.get(group, index) else {
                return Ok(()); // dropped meanwhile
            };
            if !current.rebuilding.load(Ordering::SeqCst) {
                match self.rebuild_shard(&current).await {
                    Err(e) if e.code == REBUILDING => {} // lost a race: wait
                    r => return r,
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    async fn rebuild_shard(self: &Arc<Self>, old: &Arc<ShardIndex>) -> PgResult<()> {
        // One rebuild of a graph at a time (REINDEX and maintenance).
        if old.rebuilding.swap(true, Ordering::SeqCst) {
            return Err(PgError::new(
                REBUILDING,
                format!("index \"{}\" is being rebuilt", old.index.name),
            ));
        }
        // The old graph serves searches until the swap; writes meanwhile are
        // recorded and replayed into the new one.
        *old.pending.lock() = Pending::Record(Vec::new());
        // On an error, or if this future is dropped (statement timeout,
        // cancel), recording stops and the old graph stays.
        let mut guard = RebuildGuard(Some(old));
        let fresh = self.build_replacement(old).await?;
        // Catch up with the writes recorded so far outside the lock (more
        // keep being recorded, after these), then apply the rest under it.
        let early = match &mut *old.pending.lock() {
            Pending::Record(r) => std::mem::take(r),
            _ => Vec::new(),
        };
        fresh.apply_to_graph(&early);
        freeze_off_runtime(&fresh).await;
        // The write lock waits for in-flight applies (they hold the read lock).
        let mut shards = self.shards.write();
        guard.0 = None;
        let (_pending, changes) = old.take_pending();
        old.rebuilding.store(false, Ordering::SeqCst);
        // Dropped (or replaced) meanwhile: nothing to swap.
        let key = (old.shard, old.index.id);
        if !shards.get(&key).is_some_and(|cur| Arc::ptr_eq(cur, old)) {
            return Ok(());
        }
        fresh.apply_to_graph(&changes);
        *fresh.source.lock() = "rebuilt";
        fresh
            .applied
            .store(old.applied.load(Ordering::SeqCst), Ordering::SeqCst);
        shards.insert(key, fresh);
        Ok(())
    }

    /// A new graph of `old`'s index from the shard's rows.
    async fn build_replacement(&self, old: &ShardIndex) -> PgResult<Arc<ShardIndex>> {
        let mut fresh = ShardIndex::new(old.shard, old.table.clone(), old.index.clone(), 0)?;
        fresh.dump_lock = old.dump_lock.clone();
        let fresh = Arc::new(fresh);
        let rows = fresh.read_points(self.node.group(old.shard)?)?;
        fresh.progress.total.store(rows.len(), Ordering::Relaxed);
        *fresh.graph.write() = Graph::trained(&fresh.spec, &points_of(&rows));
        let f = fresh.clone();
        tokio::task::spawn_blocking(move || f.insert_many(rows))
            .await
            .map_err(|e| PgError::internal(e.to_string()))?;
        Ok(fresh)
    }
}

/// Bring `s`'s compact graph up to date on a blocking thread (it copies
/// the graph).
async fn freeze_off_runtime(s: &Arc<ShardIndex>) {
    let s = s.clone();
    let _ = tokio::task::spawn_blocking(move || s.freeze()).await;
}

/// The points of rows read for a build.
fn points_of(rows: &[RowEntry]) -> Vec<&Point> {
    rows.iter().map(|(_, p, _)| p).collect()
}

/// Ends a graph rebuild however its future ends unless disarmed: writes
/// stop being recorded for it and the graph can be rebuilt again.
struct RebuildGuard<'a>(Option<&'a ShardIndex>);

impl Drop for RebuildGuard<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            drop(s.take_pending());
            s.rebuilding.store(false, Ordering::SeqCst);
        }
    }
}

/// SQLSTATE object_in_use: a graph is already being rebuilt.
const REBUILDING: &str = "55006";
