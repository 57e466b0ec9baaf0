//! One index's graph on one shard: filled from the shard's rows, kept in
//! step with every applied write (inserts and tombstones), searched with
//! and without filters. Writes to a compact graph go to a delta searched
//! exactly, inserted into a new copy of the graph in the background.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard, RwLock};

use super::filter_columns::FilterColumns;
use super::spec::{Step, graph_spec, index_steps, point_of, quantized};
use crate::ann::{CompactGraph, Graph, GraphSpec, IdMap, Point, Scan, Storage, bits_words};
use crate::catalog::{Index, Table, VectorIndex};
use crate::encoding::{decode_row, table_prefix};
use crate::error::{PgError, PgResult};
use crate::shard::{Change, GroupId};
use crate::types::Datum;
use crate::vector;
use crate::vector::distance::{self, Metric};

/// A row read for a build: key, graph point, values (vector column NULL).
pub(super) type RowEntry = (Vec<u8>, Point, Vec<Datum>);

/// Build progress, reported in NOTICEs and the log.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicUsize,
    pub done: AtomicUsize,
}

/// What happens to writes while a graph is being built.
pub(super) enum Pending {
    None,
    /// First build: the graph is being filled from a row scan that may or
    /// may not include these; applied after it (puts replace, deletes remove).
    Defer(Vec<Change>),
    /// Background rebuild: applied to the old graph, which still serves,
    /// and recorded for the new one.
    Record(Vec<Change>),
}

/// The graph of one index on one shard.
pub struct ShardIndex {
    /// The shard (data Raft group) the graph indexes.
    pub shard: GroupId,
    pub index: Index,
    pub def: VectorIndex,
    /// What the graph is made of (from `def`).
    pub(super) spec: GraphSpec,
    pub table: Arc<Table>,
    pub(super) col_pos: usize,
    pub(super) steps: Vec<Step>,
    pub(super) graph: RwLock<Graph>,
    pub(super) map: RwLock<IdMap>,
    pub(super) applied: AtomicU64,
    pub progress: Progress,
    /// Writes that arrive while the graph is being (re)built. Held for the
    /// whole of each apply, so no write slips between recording and replay.
    pub(super) pending: Mutex<Pending>,
    /// Where the graph came from: "building", "rows", "checkpoint", "rebuilt".
    pub(super) source: Mutex<&'static str>,
    /// A rebuild of this graph is running.
    pub(super) rebuilding: std::sync::atomic::AtomicBool,
    /// Checkpoints of this graph's directory are written one at a time
    /// (shared with the graphs that replace it: two REINDEXes in a row
    /// may write the same directory at once otherwise).
    pub(super) dump_lock: Arc<Mutex<()>>,
    /// Points written to a compact graph since it was copied (searched
    /// exactly; inserted into the next copy). Changed only under its write
    /// lock, together with the graph (`graph`, then `delta`).
    pub(super) delta: RwLock<Vec<(usize, Point)>>,
    /// The delta is being inserted into a new copy in the background.
    pub(super) freezing: std::sync::atomic::AtomicBool,
    /// New copies are made one at a time.
    pub(super) freeze_lock: Mutex<()>,
    /// The rows' scalar columns by graph id, for filters (after `map` when
    /// both are locked).
    pub(super) attrs: RwLock<FilterColumns>,
}

impl ShardIndex {
    pub(super) fn new(
        shard: GroupId,
        table: Arc<Table>,
        index: Index,
        capacity: usize,
    ) -> PgResult<Self> {
        let def = index
            .vector
            .clone()
            .ok_or_else(|| PgError::internal("not a vector index"))?;
        let col_pos = table
            .columns
            .iter()
            .position(|c| c.id == def.column)
            .ok_or_else(|| PgError::internal("indexed column is gone"))?;
        let steps = index_steps(&def);
        let spec = graph_spec(&def);
        let graph = Graph::new(&spec, capacity);
        let attrs = FilterColumns::new(&table);
        Ok(ShardIndex {
            shard,
            def,
            spec,
            index,
            table,
            col_pos,
            steps,
            graph: RwLock::new(graph),
            map: RwLock::new(IdMap::default()),
            applied: AtomicU64::new(0),
            progress: Progress::default(),
            pending: Mutex::new(Pending::None),
            source: Mutex::new("building"),
            rebuilding: Default::default(),
            dump_lock: Arc::new(Mutex::new(())),
            delta: RwLock::new(Vec::new()),
            freezing: Default::default(),
            freeze_lock: Mutex::new(()),
            attrs: RwLock::new(attrs),
        })
    }

    /// A row's graph point (None if its vector is NULL) and its values.
    pub(super) fn entry_of_row(&self, row: &[u8]) -> Option<(Point, Vec<Datum>)> {
        let mut vals = decode_row(&self.table, row).ok()?;
        let kind = self.table.columns[self.col_pos].ty.vector()?.0;
        let p = point_of(vals.get(self.col_pos)?, kind, &self.steps, self.def.metric)?;
        // The vector itself is in the graph; the filter columns need not hold it.
        vals[self.col_pos] = Datum::Null;
        Some((self.graph_point(p), vals))
    }

    /// The graph points of the table's rows in this shard, read in batches.
    pub(super) fn read_points(&self, group: &crate::cluster::Group) -> PgResult<Vec<RowEntry>> {
        let mut rows = Vec::new();
        let mut too_many = false;
        self.scan_rows(group, |k, v| {
            if let Some((p, vals)) = self.entry_of_row(v) {
                too_many |=
                    matches!(&p, Point::Sparse(s) if s.len() > vector::SPARSEVEC_HNSW_MAX_NNZ);
                rows.push((k.to_vec(), p, vals));
            }
        })?;
        if too_many && self.def.method == "hnsw" {
            return Err(vector::sparsevec_hnsw_nnz_error());
        }
        Ok(rows)
    }

    /// Every row of the table in this shard, read in batches.
    pub(super) fn scan_rows(
        &self,
        group: &crate::cluster::Group,
        mut each: impl FnMut(&[u8], &[u8]),
    ) -> PgResult<()> {
        const BATCH: usize = 10_000;
        let end = table_prefix(self.table.id + 1);
        let mut cursor = table_prefix(self.table.id);
        loop {
            let kvs = group.scan(&cursor, Some(&end), BATCH)?;
            let n = kvs.len();
            for (k, v) in kvs {
                each(&k, &v);
                cursor = k;
            }
            if n < BATCH {
                return Ok(());
            }
            cursor.push(0);
        }
    }

    /// Fill the filter columns of a graph loaded from its checkpoint (which
    /// does not hold them) from the shard's rows.
    pub(super) fn fill_attrs(&self, group: &crate::cluster::Group) -> PgResult<()> {
        let map = self.map.read();
        let mut attrs = self.attrs.write();
        self.scan_rows(group, |k, v| {
            if let Some(id) = map.id(k) {
                if let Some((_, vals)) = self.entry_of_row(v) {
                    attrs.set(id, &vals);
                }
            }
        })
    }

    /// A value as the graph holds it (its 1-bit code when quantized, a unit
    /// vector for cosine).
    pub(super) fn graph_point(&self, p: Point) -> Point {
        match p {
            Point::Dense(v) if quantized(&self.def) => {
                Point::Bits(bits_words(&vector::binary_quantize(&v)))
            }
            Point::Sparse(v) if self.def.metric == Metric::Cosine => {
                let n = v
                    .iter()
                    .map(|p| p.1 as f64 * p.1 as f64)
                    .sum::<f64>()
                    .sqrt() as f32;
                Point::Sparse(v.into_iter().map(|(i, x)| (i, x / n)).collect())
            }
            Point::Dense(v) => {
                let v = if self.def.metric == Metric::Cosine {
                    let n = distance::norm(&v) as f32;
                    v.iter().map(|x| x / n).collect()
                } else {
                    v
                };
                if self.spec.storage == Storage::Half {
                    // Out-of-range values (vector columns) saturate at ±65504.
                    Point::Half(
                        v.iter()
                            .map(|x| half::f16::from_f32(x.clamp(-65504.0, 65504.0)).to_bits())
                            .collect(),
                    )
                } else {
                    Point::Dense(v)
                }
            }
            p => p,
        }
    }

    /// Insert many rows with all cores.
    pub(super) fn insert_many(&self, rows: Vec<RowEntry>) {
        let mut items = Vec::with_capacity(rows.len());
        {
            let mut map = self.map.write();
            let mut attrs = self.attrs.write();
            for (key, p, vals) in rows {
                // Never twice: a key already in the map keeps its entry.
                if map.id(&key).is_some() {
                    continue;
                }
                let id = map.insert(&key);
                attrs.set(id, &vals);
                items.push((p, id));
            }
        }
        let g = self.graph.read();
        for chunk in items.chunks(10_000) {
            if !g.insert(chunk) {
                // A compact graph: searched exactly until the next copy.
                self.delta
                    .write()
                    .extend(chunk.iter().map(|(p, id)| (*id, p.clone())));
            }
            self.progress.done.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    }

    /// Apply a batch of applied writes (the store's observer calls this).
    pub(super) fn apply(self: &Arc<Self>, changes: &[Change]) {
        let mut pending = self.pending.lock();
        match &mut *pending {
            Pending::Defer(r) => return r.extend(changes.iter().cloned()),
            Pending::Record(r) => r.extend(changes.iter().cloned()),
            Pending::None => {}
        }
        self.apply_to_graph(changes);
        drop(pending);
        // Enough points searched exactly: insert them into a new copy of
        // the graph, off this path.
        let taken = self.compact().map_or(0, |c| c.len());
        if self.delta.read().len() > 256.max(taken / 32)
            && !self.freezing.swap(true, Ordering::SeqCst)
        {
            let me = self.clone();
            std::thread::spawn(move || {
                // Cleared however the copy ends (a panic too), so a later
                // batch can try again instead of the delta growing forever.
                struct Done<'a>(&'a std::sync::atomic::AtomicBool);
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::SeqCst);
                    }
                }
                let _done = Done(&me.freezing);
                me.freeze();
            });
        }
    }

    /// The compact graph, if the graph is one.
    pub(super) fn compact(&self) -> Option<Arc<CompactGraph>> {
        self.graph.read().compact().cloned()
    }

    /// Bring the compact graph up to date: after a build (or a load of
    /// hnsw_rs's graph) copy hnsw_rs's graph and drop it; after that,
    /// insert the delta's points into a copy of the compact graph and swap
    /// it in (searches walk the old one meanwhile).
    pub(super) fn freeze(&self) {
        // One at a time, so an older copy is never installed after a newer.
        // It orders copies and guards no data: a copy that panicked does
        // not stop later ones.
        let _one = self.freeze_lock.lock();
        {
            // Under the write lock no insert is half done: the copy has
            // every point hnsw_rs has, all linked.
            let mut g = self.graph.write();
            if !matches!(&*g, Graph::Compact(_)) {
                let compact = CompactGraph::of(&g, &self.spec);
                let mut delta = self.delta.write();
                match compact {
                    Some(c) => {
                        delta.retain(|(id, _)| !c.has(*id));
                        let built = std::mem::replace(&mut *g, Graph::Compact(Arc::new(c)));
                        // Freeing hnsw_rs's millions of small allocations
                        // takes a while: not on the build's path.
                        std::thread::spawn(move || {
                            drop(built);
                            // They were allocated on rayon's threads: the
                            // allocator returns their pages to the system
                            // when those threads collect.
                            rayon::broadcast(|_| release_freed_memory());
                        });
                    }
                    // Stays in hnsw_rs, which holds every point.
                    None => delta.clear(),
                }
                return;
            }
        }
        // Points are pushed to the delta and removed only here: its first
        // `complete` stay as they are while the copy is made.
        let complete = self.delta.read().len();
        if complete == 0 {
            return;
        }
        let Some(current) = self.compact() else {
            return;
        };
        let items = self.delta.read()[..complete].to_vec();
        let mut copy = current.copy_with_room(items.len());
        drop(current);
        copy.insert_many(&items);
        let mut g = self.graph.write();
        let mut delta = self.delta.write();
        let mut i = 0;
        delta.retain(|(id, _)| {
            i += 1;
            i > complete || !copy.has(*id)
        });
        *g = Graph::Compact(Arc::new(copy));
    }

    /// Stop deferring or recording; the changes gathered so far.
    pub(super) fn take_pending(&self) -> (MutexGuard<'_, Pending>, Vec<Change>) {
        let mut pending = self.pending.lock();
        let changes = match std::mem::replace(&mut *pending, Pending::None) {
            Pending::Defer(c) | Pending::Record(c) => c,
            Pending::None => vec![],
        };
        (pending, changes)
    }

    pub(super) fn apply_to_graph(&self, changes: &[Change]) {
        let prefix = table_prefix(self.table.id);
        for c in changes {
            match c {
                Change::Put(key, value) if key.starts_with(&prefix) => {
                    let entry = self.entry_of_row(value);
                    let mut map = self.map.write();
                    let Some((point, vals)) = entry else {
                        map.remove(key);
                        continue;
                    };
                    let id = map.insert(key);
                    self.attrs.write().set(id, &vals);
                    drop(map);
                    let g = self.graph.read();
                    let item = [(point, id)];
                    if !g.insert(&item) {
                        let [(point, id)] = item;
                        self.delta.write().push((id, point));
                    }
                }
                Change::Delete(key) if key.starts_with(&prefix) => {
                    let mut map = self.map.write();
                    map.remove(key);
                }
                Change::DeletePrefix(p) if prefix.starts_with(p) || p.starts_with(&prefix) => {
                    let mut map = self.map.write();
                    for k in map.keys_with_prefix(p) {
                        map.remove(&k);
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether the graph holds every row (not in its first build): until
    /// then searches scan rows exactly instead.
    pub fn ready(&self) -> bool {
        *self.source.lock() != "building"
    }

    /// Rows in the graph, and tombstones.
    pub fn counts(&self) -> (usize, usize) {
        let m = self.map.read();
        (m.live(), m.dead())
    }

    /// Bytes this graph holds on the heap: its points, codes and edges, the
    /// key map, the kept filter columns and the points not yet inserted.
    /// None while hnsw_rs holds it (sparsevec graphs, builds).
    pub fn heap_bytes(&self) -> Option<usize> {
        let graph = self.graph.read().heap_bytes()?;
        let delta: usize = self
            .delta
            .read()
            .iter()
            .map(|(_, p)| {
                std::mem::size_of::<(usize, Point)>()
                    + match p {
                        Point::Dense(v) => 4 * v.capacity(),
                        Point::Half(v) => 2 * v.capacity(),
                        Point::Bits(v) => 8 * v.capacity(),
                        Point::Sparse(v) => 8 * v.capacity(),
                    }
            })
            .sum();
        let map = self.map.read().heap_bytes();
        Some(graph + delta + map + self.attrs.read().heap_bytes())
    }

    /// Whether tombstones are many enough to rebuild.
    pub(super) fn needs_rebuild(&self) -> bool {
        let (live, dead) = self.counts();
        dead > 1000 && dead > live / 2
    }

    /// Up to `k` nearest live rows to `q` (graph order), as row keys with
    /// the graph's distance (order-equivalent to the exact one, except for
    /// quantized graphs); `allow` filters candidates inside the graph walk.
    pub fn search(&self, q: &Point, k: usize, ef: usize) -> Vec<(Vec<u8>, f32)> {
        let q = &self.graph_point(q.clone());
        let map = self.map.read();
        let dead = map.dead();
        // No walk needs more candidates than the graph has (a huge LIMIT
        // must not size the search's heaps).
        let (k, ef) = (k.min(map.len()), ef.min(map.len().max(1)));
        let keys_of = |ids: Vec<(usize, f32)>| -> Vec<(Vec<u8>, f32)> {
            ids.into_iter()
                .filter_map(|(id, d)| Some((map.key(id)?.to_vec(), d)))
                .collect()
        };
        // The graph and its delta change together under both write locks.
        let g = self.graph.read();
        let delta = self.delta.read();
        let live = |id: usize| map.is_live(id);
        // `live_only`: tombstones are walked through but not returned.
        let run = |k: usize, live_only: bool| g.search(q, k, ef, &live, live_only, &delta);
        if dead == 0 {
            return keys_of(run(k, false));
        }
        // Ask for a few more than k to cover tombstones; walk with the filter
        // only if that was not enough.
        let extra = run(k + dead.min(k.max(16)), false);
        let found: Vec<(usize, f32)> = extra
            .into_iter()
            .filter(|(id, _)| live(*id))
            .take(k)
            .collect();
        if found.len() >= k.min(map.live()) {
            return keys_of(found);
        }
        keys_of(run(k, true))
    }

    /// Rows of `keys` holding only table columns `cols` (of `table` as
    /// planned), from the kept columns, with the keys' distances. None if a
    /// column is not kept; keys gone meanwhile are skipped.
    pub fn kept_rows(
        &self,
        keys: &[(f32, Vec<u8>)],
        table: &Table,
        cols: &[usize],
    ) -> Option<Vec<(f64, Vec<Datum>)>> {
        let map = self.map.read();
        let attrs = self.attrs.read();
        let mut rows = Vec::with_capacity(keys.len());
        for (d, key) in keys {
            let Some(id) = map.id(key) else {
                continue;
            };
            let mut row = vec![Datum::Null; table.columns.len()];
            for &p in cols {
                row[p] = attrs.value(id, table.columns.get(p)?)?;
            }
            rows.push((*d as f64, row));
        }
        Some(rows)
    }

    /// Up to `k` nearest live rows passing `filter`, as row keys with graph
    /// graph distances (for inexact graphs — 1-bit, f16 of unit vectors —
    /// the caller re-ranks them with the rows). The filter is evaluated over
    /// the kept columns of every row at once; the matches are then scored
    /// when they are few, else the graph is walked keeping only them.
    /// None when this graph cannot answer so (not compact, or the filter
    /// reads a column not kept).
    pub fn filtered_search(
        &self,
        q: &Point,
        k: usize,
        ef: usize,
        filter: &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        table: &Table,
        schema: &datafusion::arrow::datatypes::SchemaRef,
    ) -> Option<Vec<(Vec<u8>, f32)>> {
        let q = &self.graph_point(q.clone());
        let map = self.map.read();
        let n = map.len();
        // Evaluated over every id, tombstones included (their values may be
        // stale): an error sends the query to the row-reading path.
        let pass = self.attrs.read().mask(filter, table, schema, n)?.ok()?;
        let (k, ef) = (k.min(n), ef.min(n.max(1)));
        let allow = |id: usize| pass.get(id).copied().unwrap_or(false) && map.is_live(id);
        let matches: Vec<usize> = (0..n).filter(|&id| allow(id)).collect();
        let g = self.graph.read();
        let delta = self.delta.read();
        let Graph::Compact(compact) = &*g else {
            return None;
        };
        // Scoring every match costs one distance each; a walk that keeps a
        // fraction s of what it visits costs about 2·m·ef/s. Exact is cheaper
        // while matches² ≤ 2·m·ef·n.
        let walk_cost = (2 * self.def.m.max(2))
            .saturating_mul(ef.max(k))
            .saturating_mul(n);
        let scan = if matches.len().saturating_mul(matches.len()) <= walk_cost {
            Scan::Ids(&matches, &allow)
        } else {
            Scan::Walk(ef.max(k), Some(&allow))
        };
        let found = compact.nearest(q, k, &scan, &delta)?;
        Some(
            found
                .into_iter()
                .filter_map(|(id, d)| Some((map.key(id)?.to_vec(), d)))
                .collect(),
        )
    }
}

/// Return this thread's freed memory to the system (mimalloc keeps pages
/// whose blocks another thread freed until their own thread collects).
pub(super) fn release_freed_memory() {
    // SAFETY: mi_collect only walks this thread's heap; with another
    // global allocator its heap is empty and this does nothing.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
