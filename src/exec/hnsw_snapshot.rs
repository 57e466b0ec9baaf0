//! A read-only, search-optimised copy of an hnsw_rs graph.
//!
//! hnsw_rs builds and grows the graph (all cores, concurrent inserts), but
//! its search pays per visited node for a `HashMap` entry, `Arc` clones and
//! a lock on the node's neighbour list; profiles put ~35 % of a KNN query's
//! server CPU there. A snapshot holds the same graph as flat arrays — a
//! pointer to each node's point (hnsw_rs's own copy, kept alive, not
//! duplicated), layer 0's adjacency as CSR — and walks it with a reusable
//! generation-stamped visited array. Points inserted after a snapshot was
//! taken are searched exactly by the caller until the next one.
//!
//! Graphs of f32 vectors under squared L2 or inner product (cosine graphs
//! hold unit vectors and use inner product) also keep 8-bit codes of their
//! points (per-dimension min and step): the layer-0 walk reads a quarter of
//! the bytes — at 384 dimensions the walk was bound by reading vectors —
//! and the beam it ends with is re-ranked with the full vectors, so the
//! distances returned are the graph's own.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use hnsw_rs::hnsw::Point;
use hnsw_rs::prelude::{Distance, Hnsw};

/// What a graph distance lets the walk do with 8-bit codes.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Coded {
    /// Squared Euclidean distance.
    L2,
    /// Negative inner product.
    NegDot,
}

/// A graph distance, and whether its walk may use 8-bit codes.
pub trait WalkDistance<T: Send + Sync>: Distance<T> {
    /// Which coded form orders as this distance (None: walk the points).
    fn coded(&self) -> Option<Coded> {
        None
    }

    /// The point as f32s, when it is one.
    fn floats<'a>(&self, _p: &'a [T]) -> Option<&'a [f32]> {
        None
    }
}

/// 8-bit codes of every node's point: `x[j] ≈ min[j] + step[j] · code[j]`.
struct Codes {
    kind: Coded,
    min: Vec<f32>,
    step: Vec<f32>,
    /// Node `i`'s codes: `bytes[i * dim..(i + 1) * dim]`.
    bytes: Vec<u8>,
    /// Node `i`'s decoded point's squared norm (for L2: the coded
    /// distance is then exactly the distance to the decoded point).
    sq: Vec<f32>,
}

/// A query prepared for coded distances.
struct CodedQuery {
    /// `q[j] · step[j]`, itself quantized: `round(q[j] · step[j] / scale)`
    /// in -63..=63 (what an 8-bit × 8-bit kernel takes without overflow).
    weights: Vec<i8>,
    scale: f32,
    /// `Σ q[j] · min[j]`.
    offset: f32,
    /// `Σ q[j]²`.
    sq: f32,
}

impl Codes {
    fn of(kind: Coded, points: &[&[f32]], dim: usize) -> Codes {
        let mut min = vec![f32::INFINITY; dim];
        let mut max = vec![f32::NEG_INFINITY; dim];
        for p in points {
            for (j, &x) in p.iter().enumerate() {
                if x.is_finite() {
                    min[j] = min[j].min(x);
                    max[j] = max[j].max(x);
                }
            }
        }
        let step: Vec<f32> = min
            .iter()
            .zip(&max)
            .map(|(lo, hi)| {
                let s = (hi - lo) / 255.0;
                if s.is_finite() && s > 0.0 { s } else { 1.0 }
            })
            .collect();
        let min: Vec<f32> = min
            .into_iter()
            .map(|m| if m.is_finite() { m } else { 0.0 })
            .collect();
        let mut bytes = Vec::with_capacity(points.len() * dim);
        let mut sq = Vec::with_capacity(points.len());
        for p in points {
            let at = bytes.len();
            bytes.extend(
                p.iter()
                    .enumerate()
                    .map(|(j, &x)| ((x - min[j]) / step[j]).round().clamp(0.0, 255.0) as u8),
            );
            let decoded = bytes[at..]
                .iter()
                .enumerate()
                .map(|(j, &c)| min[j] + step[j] * c as f32);
            sq.push(decoded.map(|x| x * x).sum());
        }
        Codes {
            kind,
            min,
            step,
            bytes,
            sq,
        }
    }

    /// None when the query's scaled values overflow (the walk then
    /// compares full vectors).
    fn query(&self, q: &[f32]) -> Option<CodedQuery> {
        let scaled: Vec<f32> = q.iter().zip(&self.step).map(|(x, s)| x * s).collect();
        let top = scaled.iter().fold(0f32, |m, x| m.max(x.abs()));
        if !top.is_finite() {
            return None;
        }
        let to_weight = if top > 0.0 { 63.0 / top } else { 0.0 };
        Some(CodedQuery {
            // Rounded half away from zero (`round` is a libm call here);
            // |w| ≤ 63 since |x| ≤ top.
            weights: scaled
                .iter()
                .map(|x| {
                    let w = (x * to_weight).clamp(-63.0, 63.0);
                    (w + 0.5f32.copysign(w)) as i8
                })
                .collect(),
            scale: top / 63.0,
            offset: q.iter().zip(&self.min).map(|(x, m)| x * m).sum(),
            sq: crate::vector::distance::fast::dot(q, q),
        })
    }

    fn node(&self, node: u32, dim: usize) -> &[u8] {
        let at = node as usize * dim;
        &self.bytes[at..at + dim]
    }

    /// The coded distance: ordered as the graph's (not its value).
    #[inline]
    fn distance(&self, q: &CodedQuery, node: u32) -> f32 {
        let dim = q.weights.len();
        let codes = crate::vector::distance::fast::dot_codes_i8(&q.weights, self.node(node, dim));
        let dot = codes as f32 * q.scale + q.offset;
        match self.kind {
            Coded::L2 => q.sq - 2.0 * dot + self.sq[node as usize],
            Coded::NegDot => -dot,
        }
    }
}

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

/// The graph of one hnsw_rs index, frozen at the moment it was copied.
pub struct Snapshot<T: Clone + Send + Sync + 'static, D> {
    dist: D,
    dim: usize,
    /// Node `i`'s point: `dim` elements at `points[i]`, inside `owners[i]`.
    points: Vec<*const T>,
    /// hnsw_rs's nodes, held so the points stay where `points` says.
    owners: Vec<Arc<Point<'static, T>>>,
    /// Node → the id the graph was given for it (the caller's row id).
    ids: Vec<usize>,
    /// 8-bit codes for the layer-0 walk, when the distance allows them.
    codes: Option<Codes>,
    /// Layer 0 adjacency: node `i`'s neighbours are `adj[off[i]..off[i + 1]]`.
    off: Vec<u32>,
    adj: Vec<u32>,
    /// Nodes above layer 0 (a few percent): neighbours at layers 1..=level.
    upper: HashMap<u32, Vec<Vec<u32>>>,
    entry: u32,
    top: usize,
    /// Row id → node (`u32::MAX`: not in the snapshot).
    by_id: Vec<u32>,
}

// SAFETY: the raw pointers only read points owned by `owners` (immutable
// once inserted, shared between threads by hnsw_rs itself).
unsafe impl<T: Clone + Send + Sync, D: Send> Send for Snapshot<T, D> {}
unsafe impl<T: Clone + Send + Sync, D: Sync> Sync for Snapshot<T, D> {}

impl<T: Copy + Send + Sync + 'static, D: WalkDistance<T> + Clone + Send + Sync> Snapshot<T, D> {
    /// Copy `h`'s graph. Safe while other threads insert: points they add
    /// meanwhile may be missing (the caller searches those exactly), edges
    /// to them are dropped. None when the graph is empty or its points have
    /// different lengths.
    pub fn of(h: &Hnsw<'static, T, D>, dist: D) -> Option<Self> {
        let index = h.get_point_indexation();
        // Take each layer's points (one lock at a time: hnsw_rs's locks are
        // fair, a nested read could wait behind a queued insert).
        let mut layers = Vec::new();
        for l in 0..=usize::from(h.get_max_level_observed()) {
            layers.push(index.get_layer_iterator(l).collect::<Vec<_>>());
        }
        let mut base = Vec::with_capacity(layers.len());
        let mut n = 0usize;
        for layer in &layers {
            base.push(n);
            n += layer.len();
        }
        if n == 0 || n > u32::MAX as usize {
            return None;
        }
        let dim = layers.iter().flatten().next()?.get_v().len();
        let node_of = |layer: u8, slot: i32| -> Option<u32> {
            let l = usize::from(layer);
            let s = usize::try_from(slot).ok()?;
            (s < layers.get(l)?.len()).then(|| (base[l] + s) as u32)
        };
        let mut points = Vec::with_capacity(n);
        let mut owners = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut off = Vec::with_capacity(n + 1);
        let mut adj = Vec::with_capacity(n * 2 * h.get_max_nb_connection() as usize);
        let mut upper = HashMap::new();
        off.push(0u32);
        for (l, layer) in layers.iter().enumerate() {
            for (slot, p) in layer.iter().enumerate() {
                let v = p.get_v();
                if v.len() != dim {
                    return None;
                }
                points.push(v.as_ptr());
                owners.push(p.clone());
                ids.push(p.get_origin_id());
                let node = (base[l] + slot) as u32;
                let hood = p.get_neighborhood_id();
                let edges = |level: usize| -> Vec<u32> {
                    hood.get(level)
                        .into_iter()
                        .flatten()
                        .filter_map(|nb| node_of(nb.p_id.0, nb.p_id.1))
                        .collect()
                };
                adj.extend(edges(0));
                off.push(adj.len() as u32);
                if l > 0 {
                    upper.insert(node, (1..=l).map(edges).collect::<Vec<_>>());
                }
            }
        }
        // Any node of the top layer enters the walk.
        let top = layers.iter().rposition(|l| !l.is_empty())?;
        let entry = base[top] as u32;
        let codes = dist.coded().and_then(|kind| {
            let floats: Option<Vec<&[f32]>> = layers
                .iter()
                .flatten()
                .map(|p| dist.floats(p.get_v()))
                .collect();
            Some(Codes::of(kind, &floats?, dim))
        });
        let max_id = ids.iter().copied().max().unwrap_or(0);
        let mut by_id = vec![u32::MAX; max_id + 1];
        for (node, &id) in ids.iter().enumerate() {
            by_id[id] = node as u32;
        }
        Some(Snapshot {
            dist,
            dim,
            points,
            owners,
            ids,
            codes,
            off,
            adj,
            upper,
            entry,
            top,
            by_id,
        })
    }

    /// Nodes in the snapshot.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether row id `id` is in the snapshot.
    pub fn has(&self, id: usize) -> bool {
        self.by_id.get(id).is_some_and(|&n| n != u32::MAX)
    }

    /// The graph distance from `q` to row id `id`'s point, if held.
    pub fn distance_to(&self, q: &[T], id: usize) -> Option<f32> {
        let node = *self.by_id.get(id).filter(|&&n| n != u32::MAX)?;
        (q.len() == self.dim).then(|| self.distance(q, self.point(node)))
    }

    /// The graph's distance between two points.
    pub fn distance(&self, a: &[T], b: &[T]) -> f32 {
        self.dist.eval(a, b)
    }

    fn point(&self, node: u32) -> &[T] {
        // SAFETY: `points[node]` is the data of `owners[node]`, a point of
        // `dim` elements that is never mutated and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.points[node as usize], self.dim) }
    }

    /// Up to `k` nearest nodes to `q` as (row id, graph distance), nearest
    /// first: a greedy descent through the upper layers, then a beam of
    /// `ef` (at least `k`) at layer 0. With `allow`, every node is walked
    /// through but only allowed ones are kept (the walk goes on until `ef`
    /// allowed nodes are found or the reachable graph is exhausted).
    pub fn search(
        &self,
        q: &[T],
        k: usize,
        ef: usize,
        allow: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        if q.len() != self.dim || k == 0 {
            return Vec::new();
        }
        let ef = ef.max(k);
        let keep = |node: u32| allow.is_none_or(|a| a(self.ids[node as usize]));
        // The walk (upper layers and layer 0) compares codes when there are
        // any, and re-ranks its final beam with the full vectors.
        let coded = self
            .codes
            .as_ref()
            .zip(self.dist.floats(q))
            .and_then(|(c, qf)| Some((c, c.query(qf)?)));
        let d0 = |node: u32| match &coded {
            Some((c, cq)) => c.distance(cq, node),
            None => self.distance(q, self.point(node)),
        };
        // A node's first lines are requested as soon as it is seen, the
        // rest just before its distance is computed: requesting every line
        // of 32 neighbours at once stalls on the CPU's few fill buffers.
        let fetch = |node: u32| match &coded {
            Some((c, _)) => prefetch(c.node(node, self.dim), 1),
            None => prefetch(self.point(node), 1),
        };
        let fetch_next = |node: u32| match &coded {
            Some((c, _)) => prefetch(c.node(node, self.dim), usize::MAX),
            None => prefetch(self.point(node), usize::MAX),
        };
        let mut ep = self.entry;
        let mut d_ep = d0(ep);
        for layer in (1..=self.top).rev() {
            loop {
                let mut moved = false;
                let hood = self.upper.get(&ep).and_then(|l| l.get(layer - 1));
                for &nb in hood.into_iter().flatten() {
                    fetch(nb);
                }
                for &nb in hood.into_iter().flatten() {
                    let d = d0(nb);
                    if d < d_ep {
                        (ep, d_ep, moved) = (nb, d, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        VISITED.with(|cell| {
            let mut visited = cell.borrow_mut();
            let stamp = visited.next(self.len());
            let marks = &mut visited.marks;
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut found: BinaryHeap<Near> = BinaryHeap::with_capacity(ef + 1);
            marks[ep as usize] = stamp;
            candidates.push(std::cmp::Reverse(Near(d_ep, ep)));
            if keep(ep) {
                found.push(Near(d_ep, ep));
            }
            while let Some(std::cmp::Reverse(Near(dc, c))) = candidates.pop() {
                if found.len() >= ef && found.peek().is_some_and(|w| dc > w.0) {
                    break;
                }
                let hood =
                    &self.adj[self.off[c as usize] as usize..self.off[c as usize + 1] as usize];
                // Unvisited neighbours, their points requested from memory
                // before the first distance needs one.
                let mut fresh = [0u32; FRESH];
                let mut nfresh = 0;
                for &nb in hood {
                    if marks[nb as usize] != stamp && nfresh < FRESH {
                        marks[nb as usize] = stamp;
                        fetch(nb);
                        fresh[nfresh] = nb;
                        nfresh += 1;
                    }
                }
                for (i, &nb) in fresh[..nfresh].iter().enumerate() {
                    if let Some(&next) = fresh[..nfresh].get(i + 1) {
                        fetch_next(next);
                    }
                    let d = d0(nb);
                    if found.len() < ef || found.peek().is_some_and(|w| d < w.0) {
                        // Its neighbour list is read when it is expanded.
                        prefetch(&self.adj[self.off[nb as usize] as usize..], 1);
                        candidates.push(std::cmp::Reverse(Near(d, nb)));
                        if keep(nb) {
                            found.push(Near(d, nb));
                            if found.len() > ef {
                                found.pop();
                            }
                        }
                    }
                }
            }
            let mut beam = found.into_vec();
            if coded.is_some() {
                for i in 0..beam.len() {
                    if let Some(next) = beam.get(i + 1) {
                        prefetch(self.point(next.1), usize::MAX);
                    }
                    beam[i].0 = self.distance(q, self.point(beam[i].1));
                }
            }
            beam.sort();
            beam.truncate(k);
            beam.into_iter()
                .map(|Near(d, node)| (self.ids[node as usize], d))
                .collect()
        })
    }
}

/// Most neighbours a node has at layer 0 (hnsw_rs keeps at most 2 × m,
/// m ≤ 100); any beyond are left unvisited from that node.
const FRESH: usize = 256;

/// Per-thread visited marks, reused across searches: a node is visited when
/// its mark equals the current search's stamp, so no clearing per search.
struct Visited {
    marks: Vec<u32>,
    stamp: u32,
}

impl Visited {
    fn next(&mut self, n: usize) -> u32 {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        self.stamp
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { marks: Vec::new(), stamp: 0 }) };
}

/// Ask the CPU to start loading up to `lines` cache lines of a point we
/// are about to compare against.
#[inline(always)]
fn prefetch<T>(p: &[T], lines: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(p).min(lines.saturating_mul(64));
        let base = p.as_ptr() as *const i8;
        for line in (0..bytes).step_by(64) {
            // SAFETY: prefetching is a hint that never faults; the address
            // is inside `p`.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(base.add(line));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnsw_rs::prelude::DistL2;

    impl WalkDistance<f32> for DistL2 {
        fn coded(&self) -> Option<Coded> {
            Some(Coded::L2)
        }

        fn floats<'a>(&self, p: &'a [f32]) -> Option<&'a [f32]> {
            Some(p)
        }
    }

    fn brute(data: &[Vec<f32>], q: &[f32], k: usize) -> Vec<usize> {
        let mut d: Vec<(f32, usize)> = data
            .iter()
            .enumerate()
            .map(|(i, v)| (DistL2.eval(q, v), i))
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        d.into_iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn snapshot_search_recalls_and_filters() {
        // Deterministic pseudo-random points (xorshift).
        let mut s = 0x9e3779b97f4a7c15u64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let data: Vec<Vec<f32>> = (0..3000)
            .map(|_| (0..16).map(|_| rnd()).collect())
            .collect();
        let h: Hnsw<'static, f32, DistL2> = Hnsw::new(16, data.len(), 16, 64, DistL2);
        let items: Vec<(&[f32], usize)> =
            data.iter().enumerate().map(|(i, v)| (&v[..], i)).collect();
        h.parallel_insert_slice(&items);
        let snap = Snapshot::of(&h, DistL2).unwrap();
        assert_eq!(snap.len(), data.len());
        assert!((0..data.len()).all(|i| snap.has(i)) && !snap.has(data.len()));
        let (mut hit, mut total) = (0, 0);
        for q in data.iter().step_by(60) {
            let want = brute(&data, q, 10);
            let got: Vec<usize> = snap
                .search(q, 10, 64, None)
                .into_iter()
                .map(|x| x.0)
                .collect();
            assert_eq!(got.len(), 10);
            // The walk compared codes; what it returns is re-ranked exactly.
            for (id, d) in snap.search(q, 10, 64, None) {
                assert_eq!(d, DistL2.eval(q, &data[id]));
            }
            hit += got.iter().filter(|g| want.contains(g)).count();
            total += 10;
            // Only even ids: all kept ones are even, and the nearest even ones.
            let even = |id: usize| id % 2 == 0;
            let got = snap.search(q, 10, 64, Some(&even));
            assert!(got.len() == 10 && got.iter().all(|x| x.0 % 2 == 0));
            assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
        }
        assert!(hit as f64 / total as f64 > 0.95, "recall {hit}/{total}");
    }
}
