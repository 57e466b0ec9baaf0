//! The HNSW graph searches walk and later writes grow: flat arrays, owned.
//!
//! hnsw_rs builds graphs from a table's rows with all cores; its nodes are
//! then copied into a [`Compact`] graph and hnsw_rs's structures dropped.
//! hnsw_rs holds per node ~1.5 KB beside the point (a neighbour `Vec` per
//! layer behind a lock, an `Arc` per edge): a compact node is its point,
//! its layer-0 neighbours as `u32`s in fixed slots, and a few bytes, so the
//! index's memory is mostly its points (halfvec storage halves it). Its
//! search also skips what hnsw_rs pays per visited node (a `HashMap` entry,
//! `Arc` clones, a lock): a reusable generation-stamped visited array.
//!
//! Later writes are inserted here with HNSW's own algorithm (Malkov &
//! Yashunin: beam search at `ef_construction`, the neighbour-selection
//! heuristic, back links pruned by the same heuristic), in batches, on a
//! copy that replaces the one searches walk (copy-on-write): the caller
//! searches points not yet inserted exactly.
//!
//! Graphs of f32 vectors under squared L2 or inner product (cosine graphs
//! hold unit vectors and use inner product) also keep 8-bit codes of their
//! points (per-dimension min and step): the layer-0 walk reads a quarter of
//! the bytes — at 384 dimensions the walk was bound by reading vectors —
//! and the beam it ends with is re-ranked with the full vectors, so the
//! distances returned are the graph's own.

mod checkpoint;
mod insert;
mod search;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::HashMap;

use hnsw_rs::prelude::Hnsw;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codes::Codes;
use super::distance::WalkDistance;

/// Distance-ordered node, for both heaps of the walk.
#[derive(Clone, Copy, PartialEq)]
struct Near(f32, u32);

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Near {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

/// Most layers a node may have (as hnsw_rs).
const MAX_LEVEL: usize = 15;

/// A graph's nodes and edges as flat arrays: what searches read and what a
/// checkpoint holds.
#[derive(Clone, Serialize, Deserialize)]
struct Nodes<T> {
    dim: usize,
    /// Most neighbours a node keeps above layer 0 (`m`) and at it (`2·m`).
    m: usize,
    m0: usize,
    ef_construction: usize,
    /// Node `i`'s point: `points[i * dim..(i + 1) * dim]`.
    points: Vec<T>,
    /// Node → the id the graph was given for it (the caller's row id).
    ids: Vec<usize>,
    /// 8-bit codes for the walk, when the distance allows them.
    codes: Option<Codes>,
    /// Nodes when the codes' ranges were taken (retaken as the graph doubles).
    coded_at: usize,
    /// Layer 0: node `i`'s slots are `adj0[i * (m0 + 1)..(i + 1) * (m0 + 1)]`,
    /// a count then up to `m0` neighbours (one cache line or two).
    adj0: Vec<u32>,
    /// Nodes above layer 0 (a few percent): neighbours at layers 1..=level.
    upper: HashMap<u32, Vec<Vec<u32>>>,
    entry: u32,
    top: usize,
    /// Row id → node (`u32::MAX`: not in the graph).
    by_id: Vec<u32>,
    /// Level generator state (xorshift64).
    rng: u64,
}

/// One index's HNSW graph on one shard (see the module doc).
#[derive(Clone)]
pub struct Compact<T, D> {
    dist: D,
    g: Nodes<T>,
}

impl<T, D> Compact<T, D>
where
    T: Copy + Send + Sync + Serialize + DeserializeOwned + 'static,
    D: WalkDistance<T> + Clone + Send + Sync,
{
    /// A graph with no nodes yet (its dimension is its first point's).
    pub fn empty(dist: D, m: usize, ef_construction: usize) -> Self {
        let m = m.clamp(2, 256);
        Compact {
            dist,
            g: Nodes {
                dim: 0,
                m,
                m0: 2 * m,
                ef_construction: ef_construction.max(1),
                points: Vec::new(),
                ids: Vec::new(),
                codes: None,
                coded_at: 0,
                adj0: Vec::new(),
                upper: HashMap::new(),
                entry: 0,
                top: 0,
                by_id: Vec::new(),
                rng: 0x9e37_79b9_7f4a_7c15,
            },
        }
    }

    /// Copy hnsw_rs's graph `h` (built with `ef_construction`). Safe while
    /// other threads insert: points they add meanwhile may be missing (the
    /// caller keeps those to insert later), edges to them are dropped. None
    /// if its points have different lengths.
    pub fn from_hnsw(h: &Hnsw<'static, T, D>, dist: D, ef_construction: usize) -> Option<Self> {
        let mut c = Compact::empty(
            dist,
            usize::from(h.get_max_nb_connection()),
            ef_construction,
        );
        let index = h.get_point_indexation();
        // Take each layer's points (one lock at a time: hnsw_rs's locks are
        // fair, a nested read could wait behind a queued insert).
        let mut layers = Vec::new();
        for l in 0..=usize::from(h.get_max_level_observed()).min(MAX_LEVEL) {
            layers.push(index.get_layer_iterator(l).collect::<Vec<_>>());
        }
        let mut base = Vec::with_capacity(layers.len());
        let mut n = 0usize;
        for layer in &layers {
            base.push(n);
            n += layer.len();
        }
        if n == 0 {
            return Some(c);
        }
        if n >= u32::MAX as usize {
            return None;
        }
        let dim = layers.iter().flatten().next()?.get_v().len();
        let node_of = |layer: u8, slot: i32| -> Option<u32> {
            let l = usize::from(layer);
            let s = usize::try_from(slot).ok()?;
            (s < layers.get(l)?.len()).then(|| (base[l] + s) as u32)
        };
        let g = &mut c.g;
        g.dim = dim;
        g.points.reserve_exact(n * dim);
        g.ids.reserve_exact(n);
        g.adj0 = vec![0; n * (g.m0 + 1)];
        for (l, layer) in layers.iter().enumerate() {
            for (slot, p) in layer.iter().enumerate() {
                let v = p.get_v();
                if v.len() != dim {
                    return None;
                }
                g.points.extend_from_slice(v);
                g.ids.push(p.get_origin_id());
                let node = (base[l] + slot) as u32;
                let hood = p.get_neighborhood_id();
                let edges = |level: usize| -> Vec<u32> {
                    hood.get(level)
                        .into_iter()
                        .flatten()
                        .filter_map(|nb| node_of(nb.p_id.0, nb.p_id.1))
                        .collect()
                };
                let at = node as usize * (g.m0 + 1);
                let e0 = edges(0);
                let e0 = &e0[..e0.len().min(g.m0)];
                g.adj0[at] = e0.len() as u32;
                g.adj0[at + 1..at + 1 + e0.len()].copy_from_slice(e0);
                if l > 0 {
                    g.upper.insert(node, (1..=l).map(edges).collect());
                }
            }
        }
        // Any node of the top layer enters the walk.
        g.top = layers.iter().rposition(|l| !l.is_empty())?;
        g.entry = base[g.top] as u32;
        let max_id = g.ids.iter().copied().max().unwrap_or(0);
        g.by_id = vec![u32::MAX; max_id + 1];
        for (node, &id) in g.ids.iter().enumerate() {
            g.by_id[id] = node as u32;
        }
        c.train_codes();
        Some(c)
    }

    /// Nodes in the graph.
    pub fn len(&self) -> usize {
        self.g.ids.len()
    }

    /// Whether row id `id` is in the graph.
    pub fn has(&self, id: usize) -> bool {
        self.g.by_id.get(id).is_some_and(|&n| n != u32::MAX)
    }

    /// The graph distance from `q` to row id `id`'s point, if held.
    pub fn distance_to(&self, q: &[T], id: usize) -> Option<f32> {
        let node = *self.g.by_id.get(id).filter(|&&n| n != u32::MAX)?;
        (q.len() == self.g.dim).then(|| self.distance(q, self.point(node)))
    }

    /// The graph's distance between two points.
    pub fn distance(&self, a: &[T], b: &[T]) -> f32 {
        self.dist.eval(a, b)
    }

    fn point(&self, node: u32) -> &[T] {
        let at = node as usize * self.g.dim;
        &self.g.points[at..at + self.g.dim]
    }

    /// Node `node`'s neighbours at `layer` (none above its level).
    #[inline]
    fn hood(&self, node: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let at = node as usize * (self.g.m0 + 1);
            let n = self.g.adj0[at] as usize;
            &self.g.adj0[at + 1..at + 1 + n]
        } else {
            self.g
                .upper
                .get(&node)
                .and_then(|l| l.get(layer - 1))
                .map_or(&[], |v| v.as_slice())
        }
    }

    /// (Re)take the codes' ranges from every point and encode them all.
    fn train_codes(&mut self) {
        let (n, dim) = (self.len(), self.g.dim);
        let Some(kind) = self.dist.coded() else {
            return;
        };
        if n == 0 || dim == 0 {
            return;
        }
        let (dist, points) = (&self.dist, &self.g.points);
        let floats = points.chunks_exact(dim).map(|p| dist.floats(p));
        if floats.clone().any(|f| f.is_none()) {
            return;
        }
        self.g.codes = Some(Codes::of(kind, floats.flatten(), dim));
        self.g.coded_at = n;
    }

    /// A copy whose arrays have room for `extra` more nodes: inserting them
    /// then reallocates nothing (a plain clone and then growing would hold
    /// a third copy of the points for a moment).
    pub fn copy_with_room(&self, extra: usize) -> Self {
        fn with_room<X: Clone>(v: &[X], extra: usize) -> Vec<X> {
            let mut out = Vec::with_capacity(v.len() + extra);
            out.extend_from_slice(v);
            out
        }
        let g = &self.g;
        let dim = g.dim.max(1);
        let codes = g.codes.as_ref().map(|c| Codes {
            kind: c.kind,
            min: c.min.clone(),
            step: c.step.clone(),
            bytes: with_room(&c.bytes, extra * dim),
            sq: with_room(&c.sq, extra),
        });
        Compact {
            dist: self.dist.clone(),
            g: Nodes {
                points: with_room(&g.points, extra * dim),
                ids: with_room(&g.ids, extra),
                codes,
                adj0: with_room(&g.adj0, extra * (g.m0 + 1)),
                upper: g.upper.clone(),
                by_id: g.by_id.clone(),
                ..*g
            },
        }
    }

    /// The largest row id in the graph (0 when empty).
    pub fn max_id(&self) -> usize {
        self.g.ids.iter().copied().max().unwrap_or(0)
    }

    /// Bytes the graph holds on the heap (points, codes, edges, id maps).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let g = &self.g;
        let codes = g.codes.as_ref().map_or(0, |c| {
            c.bytes.capacity() + 4 * (c.sq.capacity() + c.min.capacity() + c.step.capacity())
        });
        // A map slot: key, `Vec` header, control byte.
        let upper = g.upper.capacity() * (4 + size_of::<Vec<Vec<u32>>>() + 1)
            + g.upper
                .values()
                .map(|ls| {
                    ls.capacity() * size_of::<Vec<u32>>()
                        + ls.iter().map(|l| 4 * l.capacity()).sum::<usize>()
                })
                .sum::<usize>();
        g.points.capacity() * size_of::<T>()
            + g.ids.capacity() * size_of::<usize>()
            + 4 * (g.adj0.capacity() + g.by_id.capacity())
            + codes
            + upper
    }
}
