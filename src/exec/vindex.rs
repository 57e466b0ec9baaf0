//! Vector indexes at run time: one HNSW graph (hnsw_rs) per (shard, index),
//! derived from the rows.
//!
//! - Built from the shard's rows with all cores (rayon, inside hnsw_rs),
//!   then copied into a [`Compact`] graph (hnsw_rs's structures dropped),
//!   which later writes are inserted into (sparsevec graphs stay in hnsw_rs).
//! - Kept in step with the rows by the shard's [`ApplyObserver`]: every
//!   applied put or delete of an indexed table's row inserts or tombstones
//!   its graph node, whichever path wrote it.
//! - HNSW cannot delete: deleted and updated rows leave tombstones that
//!   searches skip; past a threshold the graph is rebuilt from the rows.
//! - Checkpointed (graph + key map + the log index it reflects) at
//!   shutdown and after a build; loaded at start when the log index still
//!   matches the shard's, rebuilt from the rows otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};

use super::codec::{Datum, decode_row, table_prefix};
use super::filter_columns::FilterColumns;
use super::hnsw_compact::{Coded, Compact, WalkDistance};
use super::id_map::IdMap;
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
/// the SQL operator's; cosine graphs hold unit vectors and order by inner
/// product, see [`graph_metric`]).
#[derive(Clone, Copy, Debug)]
pub struct DenseDist(pub Metric);

impl Distance<f32> for DenseDist {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        graph_value(dense_raw(self.0, a, b))
    }
}

impl WalkDistance<f32> for DenseDist {
    fn coded(&self) -> Option<Coded> {
        match self.0 {
            Metric::L2 => Some(Coded::L2),
            Metric::NegInnerProduct => Some(Coded::NegDot),
            _ => None,
        }
    }

    fn floats<'a>(&self, p: &'a [f32]) -> Option<&'a [f32]> {
        Some(p)
    }
}

impl WalkDistance<u16> for HalfDist {}
impl WalkDistance<u64> for BitDist {}

/// A dense distance as the graph orders by it, before [`graph_value`].
fn dense_raw(m: Metric, a: &[f32], b: &[f32]) -> f32 {
    match m {
        Metric::L2 => distance::fast::l2_squared(a, b),
        Metric::NegInnerProduct => -distance::fast::dot(a, b),
        Metric::Cosine => distance::cosine(a, b) as f32,
        Metric::L1 => distance::fast::l1(a, b),
        // Bit strings as 0/1 floats (IVFFlat's k-means): squared L2 is Hamming.
        Metric::Hamming => distance::fast::l2_squared(a, b),
        _ => 0.0,
    }
}

/// What hnsw_rs gets: non-negative, NaN last.
fn graph_value(d: f32) -> f32 {
    if d.is_nan() { f32::MAX } else { positive(d) }
}

/// The expression steps of an index (none for a bare column).
pub fn index_steps(def: &VectorIndex) -> Vec<Step> {
    def.expr
        .as_deref()
        .and_then(parse_expr)
        .map(|(_, s)| s)
        .unwrap_or_default()
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

/// The value a graph stores for a row: floats, half floats (bit
/// patterns), or bit words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Point {
    Dense(Vec<f32>),
    Half(Vec<u16>),
    Bits(Vec<u64>),
    /// A sparsevec: (0-based index, value) pairs, indices ascending.
    Sparse(Vec<(u32, f32)>),
}

impl Point {
    pub fn sparse(v: &crate::vector::SparseVec) -> Point {
        Point::Sparse(
            v.indices
                .iter()
                .copied()
                .zip(v.values.iter().copied())
                .collect(),
        )
    }
}

/// The sparsevec a graph point holds (its dimension does not matter to distances).
pub fn sparse_of(pairs: &[(u32, f32)]) -> crate::vector::SparseVec {
    crate::vector::SparseVec {
        dim: pairs.last().map_or(0, |p| p.0 + 1),
        indices: pairs.iter().map(|p| p.0).collect(),
        values: pairs.iter().map(|p| p.1).collect(),
    }
}

/// Distance between sparse vectors, merging their sorted indices; the same
/// order as the SQL operator (cosine graphs hold unit vectors, as dense ones).
#[derive(Clone, Copy, Debug)]
pub struct SparseDist(pub Metric);

impl Distance<(u32, f32)> for SparseDist {
    fn eval(&self, a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
        let (mut i, mut j) = (0, 0);
        let (mut dot, mut l2, mut l1) = (0f32, 0f32, 0f32);
        while i < a.len() || j < b.len() {
            let ai = a.get(i).map_or(u32::MAX, |p| p.0);
            let bj = b.get(j).map_or(u32::MAX, |p| p.0);
            let (x, y) = if ai == bj {
                i += 1;
                j += 1;
                (a[i - 1].1, b[j - 1].1)
            } else if ai < bj {
                i += 1;
                (a[i - 1].1, 0.0)
            } else {
                j += 1;
                (0.0, b[j - 1].1)
            };
            dot += x * y;
            l2 += (x - y) * (x - y);
            l1 += (x - y).abs();
        }
        graph_value(match self.0 {
            Metric::L2 => l2,
            Metric::NegInnerProduct => -dot,
            Metric::L1 => l1,
            _ => 0.0,
        })
    }
}

/// Distance between half-precision vectors (f16 bit patterns), converted
/// to f32 a block at a time; the same order as [`DenseDist`].
#[derive(Clone, Copy, Debug)]
pub struct HalfDist(pub Metric);

impl Distance<u16> for HalfDist {
    fn eval(&self, a: &[u16], b: &[u16]) -> f32 {
        use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
        const BLOCK: usize = 64;
        let (mut x, mut y) = ([0f32; BLOCK], [0f32; BLOCK]);
        let mut d = 0f32;
        for (ca, cb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
            let n = ca.len().min(cb.len());
            ca[..n]
                .reinterpret_cast::<half::f16>()
                .convert_to_f32_slice(&mut x[..n]);
            cb[..n]
                .reinterpret_cast::<half::f16>()
                .convert_to_f32_slice(&mut y[..n]);
            // Block sums add up (cosine graphs hold unit vectors: inner product).
            d += dense_raw(self.0, &x[..n], &y[..n]);
        }
        graph_value(d)
    }
}

/// Graph element types, so one generic routine serves every graph.
trait Elem: Clone + Send + Sync + Sized + 'static {
    fn of(p: &Point) -> Option<&[Self]>;
}
impl Elem for f32 {
    fn of(p: &Point) -> Option<&[f32]> {
        match p {
            Point::Dense(v) => Some(v),
            _ => None,
        }
    }
}
impl Elem for u16 {
    fn of(p: &Point) -> Option<&[u16]> {
        match p {
            Point::Half(v) => Some(v),
            _ => None,
        }
    }
}
impl Elem for (u32, f32) {
    fn of(p: &Point) -> Option<&[(u32, f32)]> {
        match p {
            Point::Sparse(v) => Some(v),
            _ => None,
        }
    }
}
impl Elem for u64 {
    fn of(p: &Point) -> Option<&[u64]> {
        match p {
            Point::Bits(v) => Some(v),
            _ => None,
        }
    }
}

/// Run `$body` with `$h` bound to the HNSW graph, whichever element type it
/// holds, or `$ivf_body` with `$ivf` bound to an IVFFlat index.
macro_rules! with_graph {
    ($g:expr, $h:ident => $body:expr, $ivf:ident => $ivf_body:expr, $c:ident => $c_body:expr) => {
        match $g {
            Graph::Dense($h) => $body,
            Graph::Half($h) => $body,
            Graph::Bits($h) => $body,
            Graph::Sparse($h) => $body,
            Graph::Ivf($ivf) => $ivf_body,
            Graph::IvfBits($ivf) => $ivf_body,
            Graph::Compact($c) => $c_body,
        }
    };
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
pub fn point_of(d: &Datum, kind: Kind, steps: &[Step], metric: Metric) -> Option<Point> {
    let mut p = match d {
        Datum::Bytes(b) if kind == Kind::SparseVec => {
            Point::sparse(&crate::vector::SparseVec::from_bytes(b))
        }
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
    let zero = match &p {
        Point::Dense(v) => v.iter().all(|x| *x == 0.0),
        Point::Sparse(v) => v.iter().all(|x| x.1 == 0.0),
        _ => false,
    };
    if metric == Metric::Cosine && zero {
        return None;
    }
    Some(p)
}

enum Graph {
    Dense(Hnsw<'static, f32, DenseDist>),
    Half(Hnsw<'static, u16, HalfDist>),
    Bits(Hnsw<'static, u64, BitDist>),
    Sparse(Hnsw<'static, (u32, f32), SparseDist>),
    /// `USING ivfflat` over vectors (and halfvecs, as f32).
    Ivf(super::ivf::Ivf<f32>),
    /// `USING ivfflat (col bit_hamming_ops)`.
    IvfBits(super::ivf::Ivf<u64>),
    /// An HNSW graph of fixed-length points once built: copied out of
    /// hnsw_rs; later writes are inserted into copies of it (see `delta`).
    Compact(Arc<CompactGraph>),
}

/// Insert `(point, id)` pairs whose point has the graph's element type.
fn insert_chunk<T, D>(h: &Hnsw<'static, T, D>, chunk: &[(Point, usize)])
where
    T: Elem + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    D: Distance<T> + Send + Sync,
{
    let refs: Vec<(&[T], usize)> = chunk
        .iter()
        .filter_map(|(p, id)| T::of(p).map(|v| (v, *id)))
        .collect();
    h.parallel_insert_slice(&refs);
}

/// Search `h` for `q` if it has the graph's element type.
fn search_graph<T, D>(
    h: &Hnsw<'static, T, D>,
    q: &Point,
    k: usize,
    ef: usize,
    filter: Option<&dyn hnsw_rs::prelude::FilterT>,
) -> Vec<(usize, f32)>
where
    T: Elem + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    D: Distance<T> + Send + Sync,
{
    let Some(v) = T::of(q) else { return vec![] };
    let found = match filter {
        Some(f) => h.search_filter(v, k, ef, Some(f)),
        None => h.search(v, k, ef),
    };
    found.into_iter().map(|n| (n.d_id, n.distance)).collect()
}

/// A row read for a build: key, graph point, values (vector column NULL).
type RowEntry = (Vec<u8>, Point, Vec<Datum>);

/// Build progress, reported in NOTICEs and the log.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicUsize,
    pub done: AtomicUsize,
}

/// What happens to writes while a graph is being built.
enum Pending {
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
    /// Writes that arrive while the graph is being (re)built. Held for the
    /// whole of each apply, so no write slips between recording and replay.
    pending: Mutex<Pending>,
    /// Where the graph came from: "building", "rows", "checkpoint", "rebuilt".
    source: Mutex<&'static str>,
    /// A rebuild of this graph is running.
    rebuilding: std::sync::atomic::AtomicBool,
    /// Checkpoints of this graph's directory are written one at a time
    /// (shared with the graphs that replace it: two REINDEXes in a row
    /// may write the same directory at once otherwise).
    dump_lock: Arc<Mutex<()>>,
    /// Points written to a compact graph since it was copied (searched
    /// exactly; inserted into the next copy). Changed only under its write
    /// lock, together with the graph (`graph`, then `delta`).
    delta: RwLock<Vec<(usize, Point)>>,
    /// The delta is being inserted into a new copy in the background.
    freezing: std::sync::atomic::AtomicBool,
    /// New copies are made one at a time.
    freeze_lock: Mutex<()>,
    /// The rows' scalar columns by graph id, for filters (after `map` when
    /// both are locked).
    attrs: RwLock<FilterColumns>,
}

/// An HNSW graph in compact form ([`Compact`]); graphs of variable-length
/// points (sparsevec) stay in hnsw_rs, IVFFlat in its lists.
#[derive(Clone)]
pub enum CompactGraph {
    Dense(Compact<f32, DenseDist>),
    Half(Compact<u16, HalfDist>),
    Bits(Compact<u64, BitDist>),
}

/// `$body` with `$c` bound to the [`Compact`] inside a [`CompactGraph`].
macro_rules! with_compact {
    ($g:expr, $c:ident => $body:expr) => {
        match $g {
            CompactGraph::Dense($c) => $body,
            CompactGraph::Half($c) => $body,
            CompactGraph::Bits($c) => $body,
        }
    };
}

impl CompactGraph {
    /// A compact copy of hnsw_rs's graph (None for other graphs, or points
    /// of different lengths).
    fn of(g: &Graph, def: &VectorIndex) -> Option<CompactGraph> {
        let ef = def.ef_construction;
        match g {
            Graph::Dense(h) => Some(CompactGraph::Dense(Compact::from_hnsw(
                h,
                *h.get_distance(),
                ef,
            )?)),
            Graph::Half(h) => Some(CompactGraph::Half(Compact::from_hnsw(
                h,
                *h.get_distance(),
                ef,
            )?)),
            Graph::Bits(h) => Some(CompactGraph::Bits(Compact::from_hnsw(
                h,
                *h.get_distance(),
                ef,
            )?)),
            _ => None,
        }
    }

    /// Insert `(id, point)` pairs of the graph's element type.
    fn insert_many(&mut self, items: &[(usize, Point)]) {
        with_compact!(self, c => {
            let refs: Vec<(usize, &[_])> = items
                .iter()
                .filter_map(|(id, p)| Some((*id, Elem::of(p)?)))
                .collect();
            c.insert_many(&refs)
        })
    }

    fn write_to(&self, w: impl std::io::Write) -> bincode::Result<()> {
        with_compact!(self, c => c.write_to(w))
    }

    fn heap_bytes(&self) -> usize {
        with_compact!(self, c => c.heap_bytes())
    }

    /// A copy with room for `extra` more nodes (see [`Compact::copy_with_room`]).
    fn copy_with_room(&self, extra: usize) -> CompactGraph {
        match self {
            CompactGraph::Dense(c) => CompactGraph::Dense(c.copy_with_room(extra)),
            CompactGraph::Half(c) => CompactGraph::Half(c.copy_with_room(extra)),
            CompactGraph::Bits(c) => CompactGraph::Bits(c.copy_with_room(extra)),
        }
    }

    /// The largest row id in the graph (0 when empty).
    fn max_id(&self) -> usize {
        with_compact!(self, c => c.max_id())
    }

    /// A checkpointed graph of `def`'s storage, from its file.
    fn read(def: &VectorIndex, path: &Path) -> bincode::Result<CompactGraph> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let r = std::io::BufReader::new(file);
        let metric = graph_metric(def);
        Ok(match storage(def) {
            Storage::F32 => CompactGraph::Dense(Compact::read_from(DenseDist(metric), r, len)?),
            Storage::Half => CompactGraph::Half(Compact::read_from(HalfDist(metric), r, len)?),
            Storage::Bits => CompactGraph::Bits(Compact::read_from(BitDist(metric), r, len)?),
            Storage::Sparse => {
                return Err(Box::new(bincode::ErrorKind::Custom("sparse graph".into())));
            }
        })
    }

    fn len(&self) -> usize {
        with_compact!(self, c => c.len())
    }

    fn has(&self, id: usize) -> bool {
        with_compact!(self, c => c.has(id))
    }

    /// The `k` nearest points to `q` that `scan` reaches, merged with the
    /// exact nearest of `delta` (the points the graph does not hold yet).
    /// None if `q` is not the graph's type.
    fn nearest(
        &self,
        q: &Point,
        k: usize,
        scan: &Scan,
        delta: &[(usize, Point)],
    ) -> Option<Vec<(usize, f32)>> {
        with_compact!(self, c => compact_nearest(c, q, k, scan, delta))
    }
}

/// How a compact graph is searched.
enum Scan<'a> {
    /// A graph walk of width ef, keeping only what the filter lets through.
    Walk(usize, Option<&'a dyn Fn(usize) -> bool>),
    /// Exactly these row ids (delta points: those the filter lets through).
    Ids(&'a [usize], &'a dyn Fn(usize) -> bool),
}

fn compact_nearest<T, D>(
    s: &Compact<T, D>,
    q: &Point,
    k: usize,
    scan: &Scan,
    delta: &[(usize, Point)],
) -> Option<Vec<(usize, f32)>>
where
    T: Elem + Copy + Serialize + serde::de::DeserializeOwned + 'static,
    D: WalkDistance<T> + Clone + Send + Sync,
{
    let v = T::of(q)?;
    let (mut out, allow) = match scan {
        Scan::Walk(ef, allow) => (s.search(v, k, *ef, *allow), *allow),
        Scan::Ids(ids, allow) => (
            ids.iter()
                .filter_map(|&id| Some((id, s.distance_to(v, id)?)))
                .collect(),
            Some(*allow),
        ),
    };
    let sorted = matches!(scan, Scan::Walk(..));
    let before = out.len();
    for (id, p) in delta {
        if !allow.is_none_or(|a| a(*id)) {
            continue;
        }
        if let Some(pv) = T::of(p) {
            out.push((*id, s.distance(v, pv)));
        }
    }
    if !sorted || out.len() > before {
        // A point can be in both (inserted while the graph was copied).
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        out.dedup_by_key(|x| x.0);
        out.truncate(k);
    }
    Some(out)
}

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
    pub group: GroupId,
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

fn graph_new(def: &VectorIndex, capacity: usize) -> Graph {
    let cap = capacity.max(1024);
    let (m, ef) = (def.m, def.ef_construction);
    let metric = graph_metric(def);
    if def.method == "ivfflat" {
        // Untrained: one list until built from rows.
        return ivf_graph(def, &[]);
    }
    match storage(def) {
        Storage::Bits => Graph::Bits(Hnsw::new(m, cap, 16, ef, BitDist(metric))),
        Storage::Half => Graph::Half(Hnsw::new(m, cap, 16, ef, HalfDist(metric))),
        Storage::F32 => Graph::Dense(Hnsw::new(m, cap, 16, ef, DenseDist(metric))),
        Storage::Sparse => Graph::Sparse(Hnsw::new(m, cap, 16, ef, SparseDist(metric))),
    }
}

/// An empty graph sized for `rows`; an IVFFlat index trained on them.
fn graph_for(def: &VectorIndex, rows: &[RowEntry]) -> Graph {
    if def.method == "ivfflat" {
        return ivf_graph(def, rows);
    }
    graph_new(def, rows.len() * 2)
}

/// An IVFFlat index trained on `rows` (untrained, one list, without).
fn ivf_graph(def: &VectorIndex, rows: &[RowEntry]) -> Graph {
    fn train<T: Elem + super::ivf::IvfElem>(
        def: &VectorIndex,
        rows: &[RowEntry],
    ) -> super::ivf::Ivf<T> {
        let points: Vec<&[T]> = rows.iter().filter_map(|(_, p, _)| T::of(p)).collect();
        super::ivf::Ivf::train(DenseDist(graph_metric(def)), &points, def.lists)
    }
    if stores_bits(def) {
        Graph::IvfBits(train(def, rows))
    } else {
        Graph::Ivf(train(def, rows))
    }
}

/// The points of `(point, id)` pairs that have the element type `T`.
fn items_of<T: Elem>(items: &[(Point, usize)]) -> Vec<(&[T], usize)> {
    items
        .iter()
        .filter_map(|(p, id)| T::of(p).map(|v| (v, *id)))
        .collect()
}

/// What a graph's points are made of.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Storage {
    F32,
    /// Half precision: halfvec indexes, and `quantization = 'halfvec'`.
    Half,
    /// Bit words: bit columns and expressions, `quantization = 'binary'`.
    Bits,
    /// (index, value) pairs: sparsevec.
    Sparse,
}

fn storage(def: &VectorIndex) -> Storage {
    if def.method == "ivfflat" {
        if def.kind == Kind::Bit {
            Storage::Bits
        } else {
            Storage::F32
        }
    } else if def.kind == Kind::SparseVec {
        Storage::Sparse
    } else if def.kind == Kind::Bit || quantized(def) {
        Storage::Bits
    } else if def.kind == Kind::HalfVec || def.quantization.as_deref() == Some("halfvec") {
        Storage::Half
    } else {
        Storage::F32
    }
}

/// Whether the graph's distances order rows exactly as the SQL operator
/// does (full-precision points): then shards can be merged on them.
pub fn exact_order(def: &VectorIndex) -> bool {
    match storage(def) {
        Storage::F32 | Storage::Sparse => true,
        // halfvec values are exact in f16, but unit vectors are not.
        Storage::Half => def.kind == Kind::HalfVec && def.metric != Metric::Cosine,
        Storage::Bits => false,
    }
}

fn stores_bits(def: &VectorIndex) -> bool {
    storage(def) == Storage::Bits
}

/// The storage's name in `grape_vector_indexes`.
pub fn storage_name(def: &VectorIndex) -> &'static str {
    match storage(def) {
        Storage::F32 => "vector",
        Storage::Half => "halfvec",
        Storage::Bits if quantized(def) => "binary",
        Storage::Bits => "bit",
        Storage::Sparse => "sparsevec",
    }
}

/// The metric the graph orders by: Hamming over codes when quantized; for
/// cosine, inner product over unit vectors (the same order, one dot product
/// per step instead of three).
fn graph_metric(def: &VectorIndex) -> Metric {
    match def.metric {
        _ if quantized(def) => Metric::Hamming,
        Metric::Cosine if !stores_bits(def) => Metric::NegInnerProduct,
        m => m,
    }
}

/// With binary quantization the graph holds 1-bit codes (Hamming distance);
/// candidates are re-ranked with the full vectors by the KNN scan.
pub fn quantized(def: &VectorIndex) -> bool {
    def.quantization.as_deref() == Some("binary")
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
        let steps = index_steps(&def);
        let graph = graph_new(&def, capacity);
        let attrs = FilterColumns::new(&table);
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
    fn entry_of_row(&self, row: &[u8]) -> Option<(Point, Vec<Datum>)> {
        let mut vals = decode_row(&self.table, row).ok()?;
        let kind = self.table.columns[self.col_pos].ty.vector()?.0;
        let p = point_of(vals.get(self.col_pos)?, kind, &self.steps, self.def.metric)?;
        // The vector itself is in the graph; the filter columns need not hold it.
        vals[self.col_pos] = Datum::Null;
        Some((self.graph_point(p), vals))
    }

    /// The graph points of the table's rows in this shard, read in batches.
    fn read_points(&self, group: &crate::cluster::Group) -> PgResult<Vec<RowEntry>> {
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
    fn scan_rows(
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
    fn fill_attrs(&self, group: &crate::cluster::Group) -> PgResult<()> {
        let map = self.map.read().unwrap();
        let mut attrs = self.attrs.write().unwrap();
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
    fn graph_point(&self, p: Point) -> Point {
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
                if storage(&self.def) == Storage::Half {
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
    fn insert_many(&self, rows: Vec<RowEntry>) {
        let mut items = Vec::with_capacity(rows.len());
        {
            let mut map = self.map.write().unwrap();
            let mut attrs = self.attrs.write().unwrap();
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
        let g = self.graph.read().unwrap();
        for chunk in items.chunks(10_000) {
            with_graph!(&*g, h => insert_chunk(h, chunk), ivf => ivf.insert(&items_of(chunk)),
                _c => self.delta.write().unwrap().extend(chunk.iter().map(|(p, id)| (*id, p.clone()))));
            self.progress.done.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    }

    /// Apply a batch of applied writes (the store's observer calls this).
    fn apply(self: &Arc<Self>, changes: &[Change]) {
        let mut pending = self.pending.lock().unwrap();
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
        if self.delta.read().unwrap().len() > 256.max(taken / 32)
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
    fn compact(&self) -> Option<Arc<CompactGraph>> {
        match &*self.graph.read().unwrap() {
            Graph::Compact(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// Bring the compact graph up to date: after a build (or a load of
    /// hnsw_rs's graph) copy hnsw_rs's graph and drop it; after that,
    /// insert the delta's points into a copy of the compact graph and swap
    /// it in (searches walk the old one meanwhile).
    fn freeze(&self) {
        // One at a time, so an older copy is never installed after a newer.
        // It orders copies and guards no data: a copy that panicked does
        // not stop later ones.
        let _one = self.freeze_lock.lock().unwrap_or_else(|e| e.into_inner());
        {
            // Under the write lock no insert is half done: the copy has
            // every point hnsw_rs has, all linked.
            let mut g = self.graph.write().unwrap();
            if !matches!(&*g, Graph::Compact(_)) {
                let compact = CompactGraph::of(&g, &self.def);
                let mut delta = self.delta.write().unwrap();
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
        let complete = self.delta.read().unwrap().len();
        if complete == 0 {
            return;
        }
        let Some(current) = self.compact() else {
            return;
        };
        let items = self.delta.read().unwrap()[..complete].to_vec();
        let mut copy = current.copy_with_room(items.len());
        drop(current);
        copy.insert_many(&items);
        let mut g = self.graph.write().unwrap();
        let mut delta = self.delta.write().unwrap();
        let mut i = 0;
        delta.retain(|(id, _)| {
            i += 1;
            i > complete || !copy.has(*id)
        });
        *g = Graph::Compact(Arc::new(copy));
    }

    /// Stop deferring or recording; the changes gathered so far.
    fn take_pending(&self) -> (std::sync::MutexGuard<'_, Pending>, Vec<Change>) {
        let mut pending = self.pending.lock().unwrap();
        let changes = match std::mem::replace(&mut *pending, Pending::None) {
            Pending::Defer(c) | Pending::Record(c) => c,
            Pending::None => vec![],
        };
        (pending, changes)
    }

    fn apply_to_graph(&self, changes: &[Change]) {
        let prefix = table_prefix(self.table.id);
        for c in changes {
            match c {
                Change::Put(key, value) if key.starts_with(&prefix) => {
                    let entry = self.entry_of_row(value);
                    let mut map = self.map.write().unwrap();
                    let Some((point, vals)) = entry else {
                        map.remove(key);
                        continue;
                    };
                    let id = map.insert(key);
                    self.attrs.write().unwrap().set(id, &vals);
                    drop(map);
                    let g = self.graph.read().unwrap();
                    let item = [(point, id)];
                    with_graph!(&*g, h => insert_chunk(h, &item), ivf => ivf.insert(&items_of(&item)),
                    _c => {
                        let [(point, id)] = item;
                        self.delta.write().unwrap().push((id, point));
                    });
                }
                Change::Delete(key) if key.starts_with(&prefix) => {
                    let mut map = self.map.write().unwrap();
                    map.remove(key);
                }
                Change::DeletePrefix(p) if prefix.starts_with(p) || p.starts_with(&prefix) => {
                    let mut map = self.map.write().unwrap();
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
        *self.source.lock().unwrap() != "building"
    }

    /// Rows in the graph, and tombstones.
    pub fn counts(&self) -> (usize, usize) {
        let m = self.map.read().unwrap();
        (m.live(), m.dead())
    }

    /// Bytes this graph holds on the heap: its points, codes and edges, the
    /// key map, the kept filter columns and the points not yet inserted.
    /// None while hnsw_rs holds it (sparsevec graphs, builds).
    pub fn heap_bytes(&self) -> Option<usize> {
        let graph = match &*self.graph.read().unwrap() {
            Graph::Compact(c) => c.heap_bytes(),
            Graph::Ivf(ivf) => ivf.heap_bytes(),
            Graph::IvfBits(ivf) => ivf.heap_bytes(),
            _ => return None,
        };
        let delta: usize = self
            .delta
            .read()
            .unwrap()
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
        let map = self.map.read().unwrap().heap_bytes();
        Some(graph + delta + map + self.attrs.read().unwrap().heap_bytes())
    }

    /// Whether tombstones are many enough to rebuild.
    fn needs_rebuild(&self) -> bool {
        let (live, dead) = self.counts();
        dead > 1000 && dead > live / 2
    }

    /// Up to `k` nearest live rows to `q` (graph order), as row keys with
    /// the graph's distance (order-equivalent to the exact one, except for
    /// quantized graphs); `allow` filters candidates inside the graph walk.
    pub fn search(&self, q: &Point, k: usize, ef: usize) -> Vec<(Vec<u8>, f32)> {
        let q = &self.graph_point(q.clone());
        let map = self.map.read().unwrap();
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
        let g = self.graph.read().unwrap();
        let delta = self.delta.read().unwrap();
        let live = |id: usize| map.is_live(id);
        // `live_only`: tombstones are walked through but not returned.
        let run = |k: usize, live_only: bool| -> Vec<(usize, f32)> {
            let keep: Option<&dyn Fn(usize) -> bool> = if live_only { Some(&live) } else { None };
            let f = |id: &usize| live(*id);
            let filter: Option<&dyn hnsw_rs::prelude::FilterT> =
                if live_only { Some(&f) } else { None };
            // For IVFFlat `ef` is the number of lists probed.
            with_graph!(&*g, h => search_graph(h, q, k, ef.max(k), filter), ivf => match Elem::of(q) {
                Some(v) => ivf.search(v, k, ef, &live),
                None => vec![],
            }, c => c.nearest(q, k, &Scan::Walk(ef.max(k), keep), &delta).unwrap_or_default())
        };
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
        let map = self.map.read().unwrap();
        let attrs = self.attrs.read().unwrap();
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
        let map = self.map.read().unwrap();
        let n = map.len();
        // Evaluated over every id, tombstones included (their values may be
        // stale): an error sends the query to the row-reading path.
        let pass = self
            .attrs
            .read()
            .unwrap()
            .mask(filter, table, schema, n)?
            .ok()?;
        let (k, ef) = (k.min(n), ef.min(n.max(1)));
        let allow = |id: usize| pass.get(id).copied().unwrap_or(false) && map.is_live(id);
        let matches: Vec<usize> = (0..n).filter(|&id| allow(id)).collect();
        let g = self.graph.read().unwrap();
        let delta = self.delta.read().unwrap();
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

    fn dump(&self, dir: &Path) -> PgResult<()> {
        let _one_at_a_time = self.dump_lock.lock().unwrap();
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
        let map = self.map.read().unwrap().to_bytes().map_err(|e| io(&e))?;
        let g = self.graph.read().unwrap();
        let base = if let Graph::Compact(c) = &*g {
            // Written outside the lock (searches and the next copy go on):
            // this graph and the points not inserted into it yet.
            let (c, delta) = (c.clone(), self.delta.read().unwrap().clone());
            drop(g);
            let file = std::fs::File::create(dir.join(COMPACT_FILE)).map_err(|e| io(&e))?;
            let mut w = std::io::BufWriter::new(file);
            c.write_to(&mut w).map_err(|e| io(&e))?;
            std::io::Write::flush(&mut w).map_err(|e| io(&e))?;
            let delta = bincode::serialize(&delta).map_err(|e| io(&e))?;
            std::fs::write(dir.join(DELTA_FILE), delta).map_err(|e| io(&e))?;
            COMPACT_FILE.to_string()
        } else {
            with_graph!(&*g, h => h.file_dump(dir, "graph").map_err(|e| io(&e))?, ivf => {
                let bytes = ivf.to_bytes().map_err(|e| io(&e))?;
                std::fs::write(dir.join(IVF_FILE), bytes).map_err(|e| io(&e))?;
                IVF_FILE.to_string()
            }, _c => unreachable!("matched above"))
        };
        let meta = Checkpoint {
            format: CHECKPOINT_FORMAT,
            base,
            applied,
            index_id: self.index.id,
            def: self.def.clone(),
            map,
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
        if meta.format != CHECKPOINT_FORMAT
            || meta.applied != applied
            || meta.def != self.def
            || meta.index_id != self.index.id
        {
            return None;
        }
        let map = IdMap::from_bytes(&meta.map).ok()?;
        if self.def.method == "ivfflat" {
            let bytes = std::fs::read(dir.join(IVF_FILE)).ok()?;
            let dist = DenseDist(graph_metric(&self.def));
            *self.graph.write().unwrap() = if stores_bits(&self.def) {
                Graph::IvfBits(super::ivf::Ivf::from_bytes(dist, &bytes).ok()?)
            } else {
                Graph::Ivf(super::ivf::Ivf::from_bytes(dist, &bytes).ok()?)
            };
            *self.map.write().unwrap() = map;
            self.applied.fetch_max(applied, Ordering::SeqCst);
            return Some(());
        }
        if meta.base == COMPACT_FILE {
            let graph = CompactGraph::read(&self.def, &dir.join(COMPACT_FILE)).ok()?;
            let delta: Vec<(usize, Point)> =
                bincode::deserialize(&std::fs::read(dir.join(DELTA_FILE)).ok()?).ok()?;
            // Ids the key map never gave out: not a checkpoint of this map.
            if delta.iter().any(|(id, _)| *id >= map.len()) || graph.max_id() >= map.len() {
                return None;
            }
            *self.graph.write().unwrap() = Graph::Compact(Arc::new(graph));
            *self.delta.write().unwrap() = delta;
            *self.map.write().unwrap() = map;
            self.applied.fetch_max(applied, Ordering::SeqCst);
            return Some(());
        }
        // The graph borrows its loader for its whole life: leak the loader
        // (one per loaded index).
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, &meta.base)));
        let metric = graph_metric(&self.def);
        let graph = match storage(&self.def) {
            Storage::Bits => Graph::Bits(loader.load_hnsw_with_dist(BitDist(metric)).ok()?),
            Storage::Half => Graph::Half(loader.load_hnsw_with_dist(HalfDist(metric)).ok()?),
            Storage::F32 => Graph::Dense(loader.load_hnsw_with_dist(DenseDist(metric)).ok()?),
            Storage::Sparse => Graph::Sparse(loader.load_hnsw_with_dist(SparseDist(metric)).ok()?),
        };
        *self.graph.write().unwrap() = graph;
        *self.map.write().unwrap() = map;
        self.applied.fetch_max(applied, Ordering::SeqCst);
        Some(())
    }
}

/// Return this thread's freed memory to the system (mimalloc keeps pages
/// whose blocks another thread freed until their own thread collects).
fn release_freed_memory() {
    // SAFETY: mi_collect only walks this thread's heap; with another
    // global allocator its heap is empty and this does nothing.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Bring `s`'s compact graph up to date on a blocking thread (it copies
/// the graph).
async fn freeze_off_runtime(s: &Arc<ShardIndex>) {
    let s = s.clone();
    let _ = tokio::task::spawn_blocking(move || s.freeze()).await;
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

/// The IVFFlat checkpoint file beside `meta.bin`.
const IVF_FILE: &str = "ivf.bin";

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
    def: VectorIndex,
    map: Vec<u8>,
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
            .unwrap()
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
        let shards = self.shards.read().unwrap();
        for ((g, _), s) in shards.iter() {
            if *g == group {
                s.apply(changes);
                s.applied.store(log_index, Ordering::SeqCst);
            }
        }
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
        self.shards.read().unwrap().get(&(group, index)).cloned()
    }

    /// All shard indexes (for progress and EXPLAIN).
    pub fn all(&self) -> Vec<Arc<ShardIndex>> {
        self.shards.read().unwrap().values().cloned().collect()
    }

    fn start_build(&self, table: &Table, index: &Index, command: &'static str) -> BuildGuard<'_> {
        let build = Arc::new(Build {
            index: index.clone(),
            table_id: table.id,
            command,
            shards_total: self.node.groups.len(),
            shards_done: AtomicUsize::new(0),
        });
        self.builds.lock().unwrap().push(build.clone());
        BuildGuard { owner: self, build }
    }

    /// Builds in progress, with their tuple counts so far.
    pub fn builds(&self) -> Vec<BuildProgress> {
        let builds = self.builds.lock().unwrap().clone();
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
                let source = *s.source.lock().unwrap();
                let graph_nodes = s.compact().map_or(0, |c| c.len());
                let recent = s.delta.read().unwrap().len();
                let bytes = s.heap_bytes();
                ShardState {
                    index: s.index.clone(),
                    table: s.table.qualified_name(),
                    group: s.group,
                    live,
                    dead,
                    source,
                    storage: storage_name(&s.def),
                    applied: s.applied.load(Ordering::SeqCst),
                    graph_nodes,
                    recent,
                    bytes,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.index.name, a.group).cmp(&(&b.index.name, b.group)));
        out
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
            *shard.pending.lock().unwrap() = Pending::Defer(Vec::new());
            self.shards
                .write()
                .unwrap()
                .insert((gid, index.id), shard.clone());
            let applied = crate::shard::state_machine::applied_index(&self.node.store, gid);
            if try_checkpoint && shard.load(&dir, applied).is_some() {
                // Writes are still deferred: rows read now plus the deferred
                // ones applied next give every live id its values.
                shard.fill_attrs(group)?;
                let (pending, changes) = shard.take_pending();
                shard.apply_to_graph(&changes);
                drop(pending);
                freeze_off_runtime(&shard).await;
                *shard.source.lock().unwrap() = "checkpoint";
                progress_row
                    .build
                    .shards_done
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            shard.applied.fetch_max(applied, Ordering::SeqCst);
            let rows = shard.read_points(group)?;
            let capacity = rows.len();
            {
                *shard.graph.write().unwrap() = graph_for(&shard.def, &rows);
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
                        freeze_off_runtime(&shard).await;
                        *shard.source.lock().unwrap() = "rows";
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
            let (me, s) = (self.clone(), shard.clone());
            tokio::task::spawn_blocking(move || {
                let current = me.get(s.group, s.index.id);
                if current.is_some_and(|cur| Arc::ptr_eq(&cur, &s)) {
                    if let Err(e) = s.dump(&dir) {
                        tracing::warn!("could not checkpoint index {}: {e}", s.index.name);
                    }
                }
            });
            progress_row
                .build
                .shards_done
                .fetch_add(1, Ordering::Relaxed);
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
            self.rebuild_when_free(old.group, index).await?;
            build.build.shards_done.fetch_add(1, Ordering::Relaxed);
            if let Some(fresh) = self.get(old.group, index) {
                rows += fresh.counts().0;
                let dir = self.shard_dir(old.group, index);
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
        *old.pending.lock().unwrap() = Pending::Record(Vec::new());
        // On an error, or if this future is dropped (statement timeout,
        // cancel), recording stops and the old graph stays.
        let mut guard = RebuildGuard(Some(old));
        let fresh = self.build_replacement(old).await?;
        // Catch up with the writes recorded so far outside the lock (more
        // keep being recorded, after these), then apply the rest under it.
        let early = match &mut *old.pending.lock().unwrap() {
            Pending::Record(r) => std::mem::take(r),
            _ => Vec::new(),
        };
        fresh.apply_to_graph(&early);
        freeze_off_runtime(&fresh).await;
        // The write lock waits for in-flight applies (they hold the read lock).
        let mut shards = self.shards.write().unwrap();
        guard.0 = None;
        let (_pending, changes) = old.take_pending();
        old.rebuilding.store(false, Ordering::SeqCst);
        // Dropped (or replaced) meanwhile: nothing to swap.
        let key = (old.group, old.index.id);
        if !shards.get(&key).is_some_and(|cur| Arc::ptr_eq(cur, old)) {
            return Ok(());
        }
        fresh.apply_to_graph(&changes);
        *fresh.source.lock().unwrap() = "rebuilt";
        fresh
            .applied
            .store(old.applied.load(Ordering::SeqCst), Ordering::SeqCst);
        shards.insert(key, fresh);
        Ok(())
    }

    /// A new graph of `old`'s index from the shard's rows.
    async fn build_replacement(&self, old: &ShardIndex) -> PgResult<Arc<ShardIndex>> {
        let mut fresh = ShardIndex::new(old.group, old.table.clone(), old.index.clone(), 0)?;
        fresh.dump_lock = old.dump_lock.clone();
        let fresh = Arc::new(fresh);
        let rows = fresh.read_points(self.node.group(old.group)?)?;
        fresh.progress.total.store(rows.len(), Ordering::Relaxed);
        *fresh.graph.write().unwrap() = graph_for(&fresh.def, &rows);
        let f = fresh.clone();
        tokio::task::spawn_blocking(move || f.insert_many(rows))
            .await
            .map_err(|e| PgError::internal(e.to_string()))?;
        Ok(fresh)
    }

    /// Write every graph's checkpoint (at shutdown).
    pub fn checkpoint_all(&self) {
        // A graph still being built is not a checkpoint of anything.
        for s in self.all().into_iter().filter(|s| s.ready()) {
            if let Err(e) = s.dump(&self.shard_dir(s.group, s.index.id)) {
                tracing::warn!("could not checkpoint index {}: {e}", s.index.name);
            }
        }
    }
}
