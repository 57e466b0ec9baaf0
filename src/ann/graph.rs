//! One index's searchable structure on one shard, whichever kind it is:
//! an HNSW graph still in hnsw_rs (being built, or of sparse points), a
//! compact HNSW graph ([`Compact`]), or IVFFlat lists ([`Ivf`]). Callers
//! hand it [`Point`]s and row ids and never match on the kind.

use std::path::Path;
use std::sync::Arc;

use hnsw_rs::prelude::{AnnT, Distance, FilterT, Hnsw, HnswIo};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::distance::{BitDist, DenseDist, HalfDist, SparseDist, WalkDistance};
use super::hnsw::Compact;
use super::ivf::{Ivf, IvfElem};
use super::point::{Elem, Point};
use crate::vector::distance::Metric;

/// How an index finds neighbours.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Method {
    Hnsw,
    /// k-means lists (IVFFlat).
    Ivf,
}

/// What a graph's points are made of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Storage {
    F32,
    /// Half precision: halfvec indexes, and `quantization = 'halfvec'`.
    Half,
    /// Bit words: bit columns and expressions, `quantization = 'binary'`.
    Bits,
    /// (index, value) pairs: sparsevec.
    Sparse,
}

/// Everything a graph needs to know of its index: the caller maps an
/// index definition onto it.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct GraphSpec {
    pub method: Method,
    pub storage: Storage,
    /// The metric the graph orders by (not always the SQL operator's: see
    /// the distance module).
    pub metric: Metric,
    pub m: usize,
    pub ef_construction: usize,
    /// IVFFlat: lists (k-means centroids).
    pub lists: usize,
}

/// A shard's index structure (see the module doc).
pub enum Graph {
    Dense(Hnsw<'static, f32, DenseDist>),
    Half(Hnsw<'static, u16, HalfDist>),
    Bits(Hnsw<'static, u64, BitDist>),
    Sparse(Hnsw<'static, (u32, f32), SparseDist>),
    /// `USING ivfflat` over vectors (and halfvecs, as f32).
    Ivf(Ivf<f32>),
    /// `USING ivfflat (col bit_hamming_ops)`.
    IvfBits(Ivf<u64>),
    /// An HNSW graph of fixed-length points once built: copied out of
    /// hnsw_rs; later writes are inserted into copies of it.
    Compact(Arc<CompactGraph>),
}

/// Run `$body` with `$h` bound to the hnsw_rs graph, whichever element type
/// it holds, `$ivf_body` with `$ivf` bound to IVFFlat lists, or `$c_body`
/// with `$c` bound to the compact graph.
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

/// The hnsw_rs dump's base name beside the caller's files.
const HNSW_BASE: &str = "graph";

impl Graph {
    /// An empty graph of `spec` with room for `capacity` points (IVFFlat:
    /// untrained, one list, until built from rows).
    pub fn new(spec: &GraphSpec, capacity: usize) -> Graph {
        if spec.method == Method::Ivf {
            return Graph::trained(spec, &[]);
        }
        let cap = capacity.max(1024);
        let (m, ef, metric) = (spec.m, spec.ef_construction, spec.metric);
        match spec.storage {
            Storage::Bits => Graph::Bits(Hnsw::new(m, cap, 16, ef, BitDist(metric))),
            Storage::Half => Graph::Half(Hnsw::new(m, cap, 16, ef, HalfDist(metric))),
            Storage::F32 => Graph::Dense(Hnsw::new(m, cap, 16, ef, DenseDist(metric))),
            Storage::Sparse => Graph::Sparse(Hnsw::new(m, cap, 16, ef, SparseDist(metric))),
        }
    }

    /// An empty graph sized for `points`; IVFFlat lists trained on them.
    pub fn trained(spec: &GraphSpec, points: &[&Point]) -> Graph {
        fn train<T: Elem + IvfElem>(spec: &GraphSpec, points: &[&Point]) -> Ivf<T> {
            let points: Vec<&[T]> = points.iter().filter_map(|p| T::of(p)).collect();
            Ivf::train(DenseDist(spec.metric), &points, spec.lists)
        }
        match (spec.method, spec.storage) {
            (Method::Ivf, Storage::Bits) => Graph::IvfBits(train(spec, points)),
            (Method::Ivf, _) => Graph::Ivf(train(spec, points)),
            (Method::Hnsw, _) => Graph::new(spec, points.len() * 2),
        }
    }

    /// Insert `(point, id)` pairs (points of another element type are
    /// skipped). A compact graph takes inserts only in batches, through a
    /// copy ([`CompactGraph::insert_many`]): for it this returns false and
    /// the caller keeps the points.
    #[must_use]
    pub fn insert(&self, items: &[(Point, usize)]) -> bool {
        with_graph!(self, h => { insert_hnsw(h, items); true },
            ivf => { ivf.insert(&items_of(items)); true },
            _c => false)
    }

    /// Up to `k` nearest points to `q` as (row id, graph distance), nearest
    /// first, with the `delta` points a compact graph does not hold yet.
    /// `live` tells live ids; with `live_only` the others are walked
    /// through but not returned (IVFFlat always skips them). For IVFFlat
    /// `ef` is the number of lists probed.
    pub fn search(
        &self,
        q: &Point,
        k: usize,
        ef: usize,
        live: &dyn Fn(usize) -> bool,
        live_only: bool,
        delta: &[(usize, Point)],
    ) -> Vec<(usize, f32)> {
        let keep: Option<&dyn Fn(usize) -> bool> = if live_only { Some(live) } else { None };
        let f = |id: &usize| live(*id);
        let filter: Option<&dyn FilterT> = if live_only { Some(&f) } else { None };
        with_graph!(self, h => search_hnsw(h, q, k, ef.max(k), filter),
            ivf => match Elem::of(q) {
                Some(v) => ivf.search(v, k, ef, live),
                None => vec![],
            },
            c => c.nearest(q, k, &Scan::Walk(ef.max(k), keep), delta).unwrap_or_default())
    }

    /// The compact graph, if this is one.
    pub fn compact(&self) -> Option<&Arc<CompactGraph>> {
        match self {
            Graph::Compact(c) => Some(c),
            _ => None,
        }
    }

    /// Heap bytes of a compact graph or IVFFlat lists (None for hnsw_rs's).
    pub fn heap_bytes(&self) -> Option<usize> {
        match self {
            Graph::Compact(c) => Some(c.heap_bytes()),
            Graph::Ivf(ivf) => Some(ivf.heap_bytes()),
            Graph::IvfBits(ivf) => Some(ivf.heap_bytes()),
            _ => None,
        }
    }

    /// Write a graph that is not compact into `dir` (a compact one is
    /// written with [`CompactGraph::write_to`], outside the graph's lock);
    /// returns the name to load it by.
    pub fn dump(&self, dir: &Path) -> std::io::Result<String> {
        let io = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        with_graph!(self, h => {
            h.file_dump(dir, HNSW_BASE).map_err(|e| io(&e))
        }, ivf => {
            let bytes = ivf.to_bytes().map_err(|e| io(&e))?;
            std::fs::write(dir.join(IVF_FILE), bytes)?;
            Ok(IVF_FILE.to_string())
        }, _c => Err(io(&"a compact graph is written with write_to")))
    }

    /// A graph of `spec` that [`Graph::dump`] wrote into `dir` as `base`.
    pub fn load(spec: &GraphSpec, dir: &Path, base: &str) -> Result<Graph, String> {
        if spec.method == Method::Ivf {
            let bytes = std::fs::read(dir.join(IVF_FILE)).map_err(|e| e.to_string())?;
            let dist = DenseDist(spec.metric);
            return if spec.storage == Storage::Bits {
                Ivf::from_bytes(dist, &bytes).map(Graph::IvfBits)
            } else {
                Ivf::from_bytes(dist, &bytes).map(Graph::Ivf)
            }
            .map_err(|e| e.to_string());
        }
        // The graph borrows its loader for its whole life: leak the loader
        // (one per loaded index).
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, base)));
        let metric = spec.metric;
        let e = |e: anyhow::Error| e.to_string();
        // hnsw_rs unwraps its reads: a damaged dump panics inside it. That
        // is a damaged checkpoint like any other (the caller rebuilds).
        let load = std::panic::AssertUnwindSafe(|| {
            Ok(match spec.storage {
                Storage::Bits => {
                    Graph::Bits(loader.load_hnsw_with_dist(BitDist(metric)).map_err(e)?)
                }
                Storage::Half => {
                    Graph::Half(loader.load_hnsw_with_dist(HalfDist(metric)).map_err(e)?)
                }
                Storage::F32 => {
                    Graph::Dense(loader.load_hnsw_with_dist(DenseDist(metric)).map_err(e)?)
                }
                Storage::Sparse => {
                    Graph::Sparse(loader.load_hnsw_with_dist(SparseDist(metric)).map_err(e)?)
                }
            })
        });
        std::panic::catch_unwind(load)
            .unwrap_or_else(|_| Err("hnsw_rs could not read the graph's files".to_string()))
    }
}

/// The IVFFlat checkpoint file.
const IVF_FILE: &str = "ivf.bin";

/// Insert `(point, id)` pairs whose point has the graph's element type.
fn insert_hnsw<T, D>(h: &Hnsw<'static, T, D>, chunk: &[(Point, usize)])
where
    T: Elem + Serialize + DeserializeOwned + std::fmt::Debug,
    D: Distance<T> + Send + Sync,
{
    h.parallel_insert_slice(&items_of(chunk));
}

/// Search `h` for `q` if it has the graph's element type.
fn search_hnsw<T, D>(
    h: &Hnsw<'static, T, D>,
    q: &Point,
    k: usize,
    ef: usize,
    filter: Option<&dyn FilterT>,
) -> Vec<(usize, f32)>
where
    T: Elem + Serialize + DeserializeOwned + std::fmt::Debug,
    D: Distance<T> + Send + Sync,
{
    let Some(v) = T::of(q) else { return vec![] };
    let found = match filter {
        Some(f) => h.search_filter(v, k, ef, Some(f)),
        None => h.search(v, k, ef),
    };
    found.into_iter().map(|n| (n.d_id, n.distance)).collect()
}

/// The points of `(point, id)` pairs that have the element type `T`.
fn items_of<T: Elem>(items: &[(Point, usize)]) -> Vec<(&[T], usize)> {
    items
        .iter()
        .filter_map(|(p, id)| T::of(p).map(|v| (v, *id)))
        .collect()
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
    pub fn of(g: &Graph, spec: &GraphSpec) -> Option<CompactGraph> {
        let ef = spec.ef_construction;
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
    pub fn insert_many(&mut self, items: &[(usize, Point)]) {
        with_compact!(self, c => {
            let refs: Vec<(usize, &[_])> = items
                .iter()
                .filter_map(|(id, p)| Some((*id, Elem::of(p)?)))
                .collect();
            c.insert_many(&refs)
        })
    }

    pub fn write_to(&self, w: impl std::io::Write) -> bincode::Result<()> {
        with_compact!(self, c => c.write_to(w))
    }

    pub fn heap_bytes(&self) -> usize {
        with_compact!(self, c => c.heap_bytes())
    }

    /// A copy with room for `extra` more nodes (see [`Compact::copy_with_room`]).
    pub fn copy_with_room(&self, extra: usize) -> CompactGraph {
        match self {
            CompactGraph::Dense(c) => CompactGraph::Dense(c.copy_with_room(extra)),
            CompactGraph::Half(c) => CompactGraph::Half(c.copy_with_room(extra)),
            CompactGraph::Bits(c) => CompactGraph::Bits(c.copy_with_room(extra)),
        }
    }

    /// The largest row id in the graph (0 when empty).
    pub fn max_id(&self) -> usize {
        with_compact!(self, c => c.max_id())
    }

    /// A checkpointed graph of `spec`, from its file.
    pub fn read(spec: &GraphSpec, path: &Path) -> bincode::Result<CompactGraph> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let r = std::io::BufReader::new(file);
        let metric = spec.metric;
        Ok(match spec.storage {
            Storage::F32 => CompactGraph::Dense(Compact::read_from(DenseDist(metric), r, len)?),
            Storage::Half => CompactGraph::Half(Compact::read_from(HalfDist(metric), r, len)?),
            Storage::Bits => CompactGraph::Bits(Compact::read_from(BitDist(metric), r, len)?),
            Storage::Sparse => {
                return Err(Box::new(bincode::ErrorKind::Custom("sparse graph".into())));
            }
        })
    }

    pub fn len(&self) -> usize {
        with_compact!(self, c => c.len())
    }

    pub fn has(&self, id: usize) -> bool {
        with_compact!(self, c => c.has(id))
    }

    /// The `k` nearest points to `q` that `scan` reaches, merged with the
    /// exact nearest of `delta` (the points the graph does not hold yet).
    /// None if `q` is not the graph's type.
    pub fn nearest(
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
pub enum Scan<'a> {
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
    T: Elem + Copy + Serialize + DeserializeOwned + 'static,
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
