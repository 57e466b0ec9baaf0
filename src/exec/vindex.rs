//! Vector indexes at run time: one HNSW graph (hnsw_rs) per (shard, index),
//! derived from the rows.
//!
//! - Built from the shard's rows with all cores (rayon, inside hnsw_rs).
//! - Kept in step with the rows by the shard's [`ApplyObserver`]: every
//!   applied put or delete of an indexed table's row inserts or tombstones
//!   its graph node, whichever path wrote it.
//! - hnsw_rs cannot delete: deleted and updated rows leave tombstones that
//!   searches skip; past a threshold the graph is rebuilt from the rows.
//! - Checkpointed (graph dump + key map + the log index it reflects) at
//!   shutdown and after a build; loaded at start when the log index still
//!   matches the shard's, rebuilt from the rows otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};

use super::codec::{Datum, decode_row, table_prefix};
use crate::catalog::{Index, Table, VectorIndex};
use crate::cluster::Node;
use crate::error::{PgError, PgResult};
use crate::shard::{ApplyObserver, Change, GroupId};
use crate::vector::distance::{self, Metric};
use crate::vector::{self, Bits, Kind};

/// hnsw_rs wants non-negative distances: map any f32 onto (0, inf)
/// monotonically (only the order matters to the graph).
#[inline]
fn positive(d: f32) -> f32 {
    if d >= 0.0 { d + 1.0 } else { 1.0 / (1.0 - d) }
}

/// Distance between dense vectors as the graph sees it (order-equivalent to
/// the SQL operator's).
#[derive(Clone, Copy, Debug)]
pub struct DenseDist(pub Metric);

impl Distance<f32> for DenseDist {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = match self.0 {
            Metric::L2 => distance::l2_squared(a, b),
            Metric::NegInnerProduct => -distance::dot(a, b),
            Metric::Cosine => distance::cosine(a, b) as f32,
            Metric::L1 => distance::l1(a, b),
            _ => 0.0,
        };
        if d.is_nan() { f32::MAX } else { positive(d) }
    }
}

/// Hamming or Jaccard distance over 64-bit words of bit strings.
#[derive(Clone, Copy, Debug)]
pub struct BitDist(pub Metric);

impl Distance<u64> for BitDist {
    fn eval(&self, a: &[u64], b: &[u64]) -> f32 {
        match self.0 {
            Metric::Jaccard => {
                let (mut ab, mut aa, mut bb) = (0u32, 0u32, 0u32);
                for (x, y) in a.iter().zip(b) {
                    ab += (x & y).count_ones();
                    aa += x.count_ones();
                    bb += y.count_ones();
                }
                if ab == 0 {
                    1.0
                } else {
                    1.0 - ab as f32 / (aa + bb - ab) as f32
                }
            }
            _ => a
                .iter()
                .zip(b)
                .map(|(x, y)| (x ^ y).count_ones())
                .sum::<u32>() as f32,
        }
    }
}

/// The value a graph stores for a row: floats, or bit words.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    Dense(Vec<f32>),
    Bits(Vec<u64>),
}

pub fn bits_words(b: &Bits) -> Vec<u64> {
    b.data
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_be_bytes(w)
        })
        .collect()
}

/// One step of an index expression, applied to the column's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `::halfvec[(n)]`
    Half,
    /// `::vector[(n)]` (a no-op on values, kept so expressions compare equal)
    Vector,
    /// `binary_quantize(...)`
    Quantize,
    /// `::bit(n)` / `::varbit`
    Bit,
}

/// The steps of an index expression over one column, from its SQL text.
pub fn parse_expr(sql: &str) -> Option<(String, Vec<Step>)> {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};
    let e = datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(sql)
    .ok()?
    .parse_expr()
    .ok()?;
    fn walk(e: &Expr, steps: &mut Vec<Step>) -> Option<String> {
        match e {
            Expr::Nested(inner) => walk(inner, steps),
            Expr::Identifier(i) => Some(i.value.to_lowercase()),
            Expr::Cast {
                expr, data_type, ..
            } => {
                let col = walk(expr, steps)?;
                let (t, _) = crate::catalog::SqlType::from_ast(data_type).ok()?;
                steps.push(match t.vector()?.0 {
                    Kind::HalfVec => Step::Half,
                    Kind::Vector => Step::Vector,
                    Kind::Bit => Step::Bit,
                    Kind::SparseVec => return None,
                });
                Some(col)
            }
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("binary_quantize") => {
                let FunctionArguments::List(l) = &f.args else {
                    return None;
                };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(a))] = l.args.as_slice() else {
                    return None;
                };
                let col = walk(a, steps)?;
                steps.push(Step::Quantize);
                Some(col)
            }
            _ => None,
        }
    }
    let mut steps = Vec::new();
    let col = walk(&e, &mut steps)?;
    Some((col, steps))
}

/// A stored column value through the index expression, as a graph point.
pub fn point_of(d: &Datum, steps: &[Step], metric: Metric) -> Option<Point> {
    let mut p = match d {
        Datum::Vector(v) => Point::Dense(v.clone()),
        Datum::HalfVec(h) => Point::Dense(
            h.iter()
                .map(|b| half::f16::from_bits(*b).to_f32())
                .collect(),
        ),
        Datum::Bytes(b) => Point::Bits(bits_words(&Bits::from_bytes(b))),
        _ => return None,
    };
    for s in steps {
        p = match (s, p) {
            (Step::Half, Point::Dense(v)) => Point::Dense(vector::to_half(&v).ok()?),
            (Step::Quantize, Point::Dense(v)) => {
                Point::Bits(bits_words(&vector::binary_quantize(&v)))
            }
            (_, p) => p,
        };
    }
    // Cosine leaves zero vectors out (their distance is NaN), as pgvector does.
    if let (Metric::Cosine, Point::Dense(v)) = (metric, &p) {
        if v.iter().all(|x| *x == 0.0) {
            return None;
        }
    }
    Some(p)
}

enum Graph {
    Dense(Hnsw<'static, f32, DenseDist>),
    Bits(Hnsw<'static, u64, BitDist>),
}

/// Graph ids ↔ row keys, and tombstones (ids whose key is gone).
#[derive(Default, Serialize, Deserialize)]
struct IdMap {
    keys: Vec<Option<Vec<u8>>>,
    ids: HashMap<Vec<u8>, usize>,
    dead: usize,
}

impl IdMap {
    fn live(&self) -> usize {
        self.ids.len()
    }
}

/// Build progress, reported in NOTICEs and the log.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicUsize,
    pub done: AtomicUsize,
}

/// The graph of one index on one shard.
pub struct ShardIndex {
    pub group: GroupId,
    pub index: Index,
    pub def: VectorIndex,
    pub table: Arc<Table>,
    col_pos: usize,
    steps: Vec<Step>,
    graph: RwLock<Graph>,
    map: RwLock<IdMap>,
    applied: AtomicU64,
    pub progress: Progress,
    /// While a rebuild runs: the changes it must replay into the new graph.
    replay: Mutex<Option<Vec<Change>>>,
}

fn graph_new(def: &VectorIndex, capacity: usize, bits: bool) -> Graph {
    let cap = capacity.max(1024);
    if bits {
        Graph::Bits(Hnsw::new(
            def.m,
            cap,
            16,
            def.ef_construction,
            BitDist(graph_metric(def)),
        ))
    } else {
        Graph::Dense(Hnsw::new(
            def.m,
            cap,
            16,
            def.ef_construction,
            DenseDist(def.metric),
        ))
    }
}

/// The graph stores bit words for bit columns, bit expressions and binary quantization.
fn stores_bits(def: &VectorIndex) -> bool {
    def.kind == Kind::Bit || def.quantization.is_some()
}

/// The metric the graph orders by: Hamming over codes when quantized.
fn graph_metric(def: &VectorIndex) -> Metric {
    if quantized(def) {
        Metric::Hamming
    } else {
        def.metric
    }
}

/// With binary quantization the graph holds 1-bit codes (Hamming distance);
/// candidates are re-ranked with the full vectors by the KNN scan.
fn quantized(def: &VectorIndex) -> bool {
    def.quantization.is_some()
}

impl ShardIndex {
    fn new(group: GroupId, table: Arc<Table>, index: Index, capacity: usize) -> PgResult<Self> {
        let def = index
            .vector
            .clone()
            .ok_or_else(|| PgError::internal("not a vector index"))?;
        let col_pos = table
            .columns
            .iter()
            .position(|c| c.id == def.column)
            .ok_or_else(|| PgError::internal("indexed column is gone"))?;
        let steps = match &def.expr {
            Some(e) => parse_expr(e).map(|(_, s)| s).unwrap_or_default(),
            None => vec![],
        };
        let graph = graph_new(&def, capacity, stores_bits(&def));
        Ok(ShardIndex {
            group,
            def,
            index,
            table,
            col_pos,
            steps,
            graph: RwLock::new(graph),
            map: RwLock::new(IdMap::default()),
            applied: AtomicU64::new(0),
            progress: Progress::default(),
            replay: Mutex::new(None),
        })
    }

    fn point_of_row(&self, row: &[u8]) -> Option<Point> {
        let vals = decode_row(&self.table, row).ok()?;
        let p = point_of(vals.get(self.col_pos)?, &self.steps, self.def.metric)?;
        Some(self.graph_point(p))
    }

    /// The graph points of the table's rows in this shard, read in batches.
    fn read_points(&self, group: &crate::cluster::Group) -> PgResult<Vec<(Vec<u8>, Point)>> {
        const BATCH: usize = 10_000;
        let end = table_prefix(self.table.id + 1);
        let mut rows = Vec::new();
        let mut cursor = table_prefix(self.table.id);
        loop {
            let kvs = group.scan(&cursor, Some(&end), BATCH)?;
            let n = kvs.len();
            for (k, v) in kvs {
                if let Some(p) = self.point_of_row(&v) {
                    rows.push((k.clone(), p));
                }
                cursor = k;
            }
            if n < BATCH {
                return Ok(rows);
            }
            cursor.push(0);
        }
    }

    /// A value as the graph holds it (its 1-bit code when quantized).
    fn graph_point(&self, p: Point) -> Point {
        match p {
            Point::Dense(v) if quantized(&self.def) => {
                Point::Bits(bits_words(&vector::binary_quantize(&v)))
            }
            p => p,
        }
    }

    /// Insert many rows with all cores.
    fn insert_many(&self, rows: Vec<(Vec<u8>, Point)>) {
        let mut items = Vec::with_capacity(rows.len());
        {
            let mut map = self.map.write().unwrap();
            for (key, p) in rows {
                // A key already present was written during the build: newer.
                if map.ids.contains_key(&key) {
                    continue;
                }
                let id = map.keys.len();
                map.keys.push(Some(key.clone()));
                map.ids.insert(key, id);
                items.push((p, id));
            }
        }
        let g = self.graph.read().unwrap();
        for chunk in items.chunks(10_000) {
            match &*g {
                Graph::Dense(h) => {
                    let refs: Vec<(&[f32], usize)> = chunk
                        .iter()
                        .filter_map(|(p, id)| match p {
                            Point::Dense(v) => Some((v.as_slice(), *id)),
                            _ => None,
                        })
                        .collect();
                    h.parallel_insert_slice(&refs);
                }
                Graph::Bits(h) => {
                    let refs: Vec<(&[u64], usize)> = chunk
                        .iter()
                        .filter_map(|(p, id)| match p {
                            Point::Bits(v) => Some((v.as_slice(), *id)),
                            _ => None,
                        })
                        .collect();
                    h.parallel_insert_slice(&refs);
                }
            }
            self.progress.done.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    }

    fn apply(&self, changes: &[Change]) {
        if let Some(r) = self.replay.lock().unwrap().as_mut() {
            r.extend(changes.iter().cloned());
        }
        let prefix = table_prefix(self.table.id);
        for c in changes {
            match c {
                Change::Put(key, value) if key.starts_with(&prefix) => {
                    let point = self.point_of_row(value);
                    let mut map = self.map.write().unwrap();
                    if let Some(old) = map.ids.remove(key) {
                        map.keys[old] = None;
                        map.dead += 1;
                    }
                    let Some(point) = point else { continue };
                    let id = map.keys.len();
                    map.keys.push(Some(key.clone()));
                    map.ids.insert(key.clone(), id);
                    drop(map);
                    let g = self.graph.read().unwrap();
                    match (&*g, &point) {
                        (Graph::Dense(h), Point::Dense(v)) => h.insert_slice((v, id)),
                        (Graph::Bits(h), Point::Bits(v)) => h.insert_slice((v, id)),
                        _ => {}
                    }
                }
                Change::Delete(key) if key.starts_with(&prefix) => {
                    let mut map = self.map.write().unwrap();
                    if let Some(old) = map.ids.remove(key) {
                        map.keys[old] = None;
                        map.dead += 1;
                    }
                }
                Change::DeletePrefix(p) if prefix.starts_with(p) || p.starts_with(&prefix) => {
                    let mut map = self.map.write().unwrap();
                    let gone: Vec<Vec<u8>> = map
                        .ids
                        .keys()
                        .filter(|k| k.starts_with(p))
                        .cloned()
                        .collect();
                    for k in gone {
                        if let Some(old) = map.ids.remove(&k) {
                            map.keys[old] = None;
                            map.dead += 1;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Rows in the graph, and tombstones.
    pub fn counts(&self) -> (usize, usize) {
        let m = self.map.read().unwrap();
        (m.live(), m.dead)
    }

    /// Whether tombstones are many enough to rebuild.
    fn needs_rebuild(&self) -> bool {
        let (live, dead) = self.counts();
        dead > 1000 && dead > live / 2
    }

    /// Up to `k` nearest live rows to `q` (graph order), as row keys; `allow`
    /// filters candidates inside the graph walk.
    pub fn search(
        &self,
        q: &Point,
        k: usize,
        ef: usize,
        allow: Option<&(dyn Fn(&[u8]) -> bool + Sync)>,
    ) -> Vec<Vec<u8>> {
        let q = &self.graph_point(q.clone());
        let map = self.map.read().unwrap();
        let dead = map.dead;
        let keys_of = |ids: Vec<usize>| -> Vec<Vec<u8>> {
            ids.into_iter()
                .filter_map(|id| map.keys.get(id).cloned().flatten())
                .collect()
        };
        let g = self.graph.read().unwrap();
        let run = |k: usize, filtered: bool| -> Vec<usize> {
            let f = |id: &usize| match map.keys.get(*id) {
                Some(Some(key)) => allow.map_or(true, |a| a(key)),
                _ => false,
            };
            let res = match (&*g, q) {
                (Graph::Dense(h), Point::Dense(v)) => {
                    if filtered {
                        h.search_filter(v, k, ef.max(k), Some(&f))
                    } else {
                        h.search(v, k, ef.max(k))
                    }
                }
                (Graph::Bits(h), Point::Bits(v)) => {
                    if filtered {
                        h.search_filter(v, k, ef.max(k), Some(&f))
                    } else {
                        h.search(v, k, ef.max(k))
                    }
                }
                _ => vec![],
            };
            res.into_iter().map(|n| n.d_id).collect()
        };
        if allow.is_some() {
            return keys_of(run(k, true));
        }
        if dead == 0 {
            return keys_of(run(k, false));
        }
        // Ask for a few more than k to cover tombstones; walk with the filter
        // only if that was not enough.
        let extra = run(k + dead.min(k.max(16)), false);
        let live: Vec<usize> = extra
            .into_iter()
            .filter(|id| matches!(map.keys.get(*id), Some(Some(_))))
            .take(k)
            .collect();
        if live.len() >= k.min(map.live()) {
            return keys_of(live);
        }
        keys_of(run(k, true))
    }

    fn dump(&self, dir: &Path) -> PgResult<()> {
        let io = |e: &dyn std::fmt::Display| PgError::internal(format!("index checkpoint: {e}"));
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| io(&e))?;
        let g = self.graph.read().unwrap();
        let base = match &*g {
            Graph::Dense(h) => h.file_dump(dir, "graph"),
            Graph::Bits(h) => h.file_dump(dir, "graph"),
        }
        .map_err(|e| io(&e))?;
        let map = self.map.read().unwrap();
        let meta = Checkpoint {
            base,
            applied: self.applied.load(Ordering::SeqCst),
            index_id: self.index.id,
            def: self.def.clone(),
            map: bincode::serialize(&*map).map_err(|e| io(&e))?,
        };
        std::fs::write(
            dir.join("meta.bin"),
            bincode::serialize(&meta).map_err(|e| io(&e))?,
        )
        .map_err(|e| io(&e))?;
        Ok(())
    }

    fn load(&self, dir: &Path, applied: u64) -> Option<()> {
        let meta: Checkpoint =
            bincode::deserialize(&std::fs::read(dir.join("meta.bin")).ok()?).ok()?;
        if meta.applied != applied || meta.def != self.def || meta.index_id != self.index.id {
            return None;
        }
        let map: IdMap = bincode::deserialize(&meta.map).ok()?;
        // The graph borrows its loader for its whole life: leak the loader
        // (one per loaded index).
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, &meta.base)));
        let graph = if stores_bits(&self.def) {
            Graph::Bits(
                loader
                    .load_hnsw_with_dist(BitDist(graph_metric(&self.def)))
                    .ok()?,
            )
        } else {
            Graph::Dense(
                loader
                    .load_hnsw_with_dist(DenseDist(self.def.metric))
                    .ok()?,
            )
        };
        *self.graph.write().unwrap() = graph;
        *self.map.write().unwrap() = map;
        self.applied.store(applied, Ordering::SeqCst);
        Some(())
    }
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    base: String,
    applied: u64,
    index_id: u32,
    def: VectorIndex,
    map: Vec<u8>,
}

/// Every vector index of the node, by (shard, index id).
pub struct VectorIndexes {
    node: Arc<Node>,
    dir: PathBuf,
    shards: RwLock<HashMap<(GroupId, u32), Arc<ShardIndex>>>,
}

impl std::fmt::Debug for VectorIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VectorIndexes")
    }
}

impl ApplyObserver for VectorIndexes {
    fn applied(&self, group: GroupId, changes: &[Change], log_index: u64) {
        let shards: Vec<Arc<ShardIndex>> = self
            .shards
            .read()
            .unwrap()
            .iter()
            .filter(|((g, _), _)| *g == group)
            .map(|(_, s)| s.clone())
            .collect();
        for s in shards {
            s.apply(changes);
            s.applied.store(log_index, Ordering::SeqCst);
        }
    }
}

impl VectorIndexes {
    pub fn new(node: Arc<Node>, data_dir: &Path) -> Arc<Self> {
        let v = Arc::new(VectorIndexes {
            node: node.clone(),
            dir: data_dir.join("vector-indexes"),
            shards: Default::default(),
        });
        node.store.set_observer(v.clone());
        v
    }

    fn shard_dir(&self, group: GroupId, index: u32) -> PathBuf {
        self.dir.join(format!("{index}-shard{group}"))
    }

    pub fn get(&self, group: GroupId, index: u32) -> Option<Arc<ShardIndex>> {
        self.shards.read().unwrap().get(&(group, index)).cloned()
    }

    /// All shard indexes (for progress and EXPLAIN).
    pub fn all(&self) -> Vec<Arc<ShardIndex>> {
        self.shards.read().unwrap().values().cloned().collect()
    }

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
        let table = Arc::new(table.clone());
        for (&gid, group) in &self.node.groups {
            let applied = crate::shard::state_machine::applied_index(&self.node.store, gid);
            let shard = Arc::new(ShardIndex::new(gid, table.clone(), index.clone(), 0)?);
            let dir = self.shard_dir(gid, index.id);
            if try_checkpoint && shard.load(&dir, applied).is_some() {
                self.shards.write().unwrap().insert((gid, index.id), shard);
                continue;
            }
            // Read the rows, then build.
            let rows = shard.read_points(group)?;
            let capacity = rows.len();
            {
                *shard.graph.write().unwrap() =
                    graph_new(&shard.def, capacity * 2, stores_bits(&shard.def));
            }
            shard.progress.total.store(capacity, Ordering::Relaxed);
            self.shards
                .write()
                .unwrap()
                .insert((gid, index.id), shard.clone());
            shard.applied.store(applied, Ordering::SeqCst);
            let worker = shard.clone();
            let build = tokio::task::spawn_blocking(move || worker.insert_many(rows));
            let started = std::time::Instant::now();
            tokio::pin!(build);
            loop {
                tokio::select! {
                    r = &mut build => {
                        r.map_err(|e| PgError::internal(format!("index build failed: {e}")))?;
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
            let _ = tokio::task::spawn_blocking({
                let s = shard.clone();
                move || s.dump(&dir)
            })
            .await;
        }
        Ok(())
    }

    /// Forget an index (DROP INDEX, DROP TABLE) and its checkpoints.
    pub fn drop_index(&self, index: u32) {
        let mut shards = self.shards.write().unwrap();
        let gone: Vec<(GroupId, u32)> = shards.keys().filter(|k| k.1 == index).copied().collect();
        for k in gone {
            shards.remove(&k);
            let _ = std::fs::remove_dir_all(self.shard_dir(k.0, k.1));
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
                s.group,
                s.counts()
            );
            let _ = self.rebuild_shard(&s).await;
        }
    }

    async fn rebuild_shard(self: &Arc<Self>, old: &Arc<ShardIndex>) -> PgResult<()> {
        // The old graph serves searches until the swap; writes meanwhile are
        // recorded and replayed into the new one.
        *old.replay.lock().unwrap() = Some(Vec::new());
        let fresh = Arc::new(ShardIndex::new(
            old.group,
            old.table.clone(),
            old.index.clone(),
            0,
        )?);
        let rows = fresh.read_points(self.node.group(old.group)?)?;
        *fresh.graph.write().unwrap() =
            graph_new(&fresh.def, rows.len() * 2, stores_bits(&fresh.def));
        let f = fresh.clone();
        tokio::task::spawn_blocking(move || f.insert_many(rows))
            .await
            .map_err(|e| PgError::internal(e.to_string()))?;
        let mut shards = self.shards.write().unwrap();
        if let Some(changes) = old.replay.lock().unwrap().take() {
            fresh.apply(&changes);
        }
        fresh
            .applied
            .store(old.applied.load(Ordering::SeqCst), Ordering::SeqCst);
        shards.insert((old.group, old.index.id), fresh);
        Ok(())
    }

    /// Write every graph's checkpoint (at shutdown).
    pub fn checkpoint_all(&self) {
        for s in self.all() {
            if let Err(e) = s.dump(&self.shard_dir(s.group, s.index.id)) {
                tracing::warn!("could not checkpoint index {}: {e}", s.index.name);
            }
        }
    }
}
