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

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use bincode::Options as _;
use hnsw_rs::prelude::{Distance, Hnsw};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a graph distance lets the walk do with 8-bit codes.
#[derive(Clone, Copy, PartialEq, Debug, Serialize, Deserialize)]
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
#[derive(Clone, Serialize, Deserialize)]
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
    /// Codes of `points`, with each dimension's range taken from them.
    fn of<'a>(kind: Coded, points: impl Iterator<Item = &'a [f32]> + Clone, dim: usize) -> Codes {
        let mut min = vec![f32::INFINITY; dim];
        let mut max = vec![f32::NEG_INFINITY; dim];
        for p in points.clone() {
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
        let n = points.clone().count();
        let mut codes = Codes {
            kind,
            min,
            step,
            bytes: Vec::with_capacity(n * dim),
            sq: Vec::with_capacity(n),
        };
        for p in points {
            codes.push(p);
        }
        codes
    }

    /// Append a point's codes (values outside the trained range saturate).
    fn push(&mut self, p: &[f32]) {
        let at = self.bytes.len();
        let (min, step) = (&self.min, &self.step);
        self.bytes.extend(
            p.iter()
                .enumerate()
                .map(|(j, &x)| ((x - min[j]) / step[j]).round().clamp(0.0, 255.0) as u8),
        );
        let decoded = self.bytes[at..]
            .iter()
            .enumerate()
            .map(|(j, &c)| min[j] + step[j] * c as f32);
        self.sq.push(decoded.map(|x| x * x).sum());
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

/// bincode's fixed-width encoding, reading at most `limit` bytes.
fn checkpoint_options(limit: u64) -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(limit)
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
        if q.len() != self.g.dim || k == 0 || self.len() == 0 {
            return Vec::new();
        }
        let dim = self.g.dim;
        let ef = ef.max(k);
        let keep = |node: u32| allow.is_none_or(|a| a(self.g.ids[node as usize]));
        // The walk (upper layers and layer 0) compares codes when there are
        // any, and re-ranks its final beam with the full vectors.
        let coded = self
            .g
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
            Some((c, _)) => prefetch(c.node(node, dim), 1),
            None => prefetch(self.point(node), 1),
        };
        let fetch_next = |node: u32| match &coded {
            Some((c, _)) => prefetch(c.node(node, dim), usize::MAX),
            None => prefetch(self.point(node), usize::MAX),
        };
        let mut top = Near(d0(self.g.entry), self.g.entry);
        for layer in (1..=self.g.top).rev() {
            top = self.greedy(top, layer, &d0, &fetch);
        }
        let Near(d_ep, ep) = top;
        let stride = self.g.m0 + 1;
        VISITED.with(|cell| {
            let mut visited = cell.borrow_mut();
            let stamp = visited.next(self.len());
            let marks = &mut visited.marks;
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut found: BinaryHeap<Near> = BinaryHeap::with_capacity(ef + 1);
            marks[ep as usize] = stamp;
            candidates.push(Reverse(Near(d_ep, ep)));
            if keep(ep) {
                found.push(Near(d_ep, ep));
            }
            while let Some(Reverse(Near(dc, c))) = candidates.pop() {
                if found.len() >= ef && found.peek().is_some_and(|w| dc > w.0) {
                    break;
                }
                // Unvisited neighbours, their points requested from memory
                // before the first distance needs one.
                let mut fresh = [0u32; FRESH];
                let mut nfresh = 0;
                for &nb in self.hood(c, 0) {
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
                        prefetch(&self.g.adj0[nb as usize * stride..], 1);
                        candidates.push(Reverse(Near(d, nb)));
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
                .map(|Near(d, node)| (self.g.ids[node as usize], d))
                .collect()
        })
    }

    /// Insert `(row id, point)` pairs one after another; ids already in the
    /// graph and points of another dimension are skipped.
    pub fn insert_many(&mut self, items: &[(usize, &[T])]) {
        // Exactly what the batch needs: a copy's arrays start at their
        // length, and doubling would leave up to half of them unused.
        let (n, g) = (items.len(), &mut self.g);
        let dim = if g.ids.is_empty() {
            items.first().map_or(0, |i| i.1.len())
        } else {
            g.dim
        };
        g.points.reserve_exact(n * dim);
        g.ids.reserve_exact(n);
        g.adj0.reserve_exact(n * (g.m0 + 1));
        if let Some(c) = &mut g.codes {
            c.bytes.reserve_exact(n * dim);
            c.sq.reserve_exact(n);
        }
        for (id, p) in items {
            self.insert(*id, p);
        }
        // Codes saturate outside the ranges they were taken from: retake
        // them whenever the graph has doubled since (amortized O(1)).
        if self.dist.coded().is_some() && self.len() >= self.g.coded_at.max(1).saturating_mul(2) {
            self.train_codes();
        }
    }

    /// HNSW insertion: a random level, greedy descent to it, then at each
    /// layer down a beam of `ef_construction` from which the heuristic picks
    /// the neighbours; each neighbour links back, pruned the same way when full.
    fn insert(&mut self, id: usize, p: &[T]) {
        let n = self.len();
        if n == 0 {
            self.g.dim = p.len();
        }
        if p.len() != self.g.dim || n >= u32::MAX as usize - 1 || self.has(id) {
            return;
        }
        let node = n as u32;
        let level = self.random_level();
        let g = &mut self.g;
        g.points.extend_from_slice(p);
        g.ids.push(id);
        if g.by_id.len() <= id {
            g.by_id.resize(id + 1, u32::MAX);
        }
        g.by_id[id] = node;
        g.adj0.resize(g.adj0.len() + g.m0 + 1, 0);
        if level > 0 {
            g.upper.insert(node, vec![Vec::new(); level]);
        }
        if let (Some(codes), Some(f)) = (&mut g.codes, self.dist.floats(p)) {
            codes.push(f);
        }
        if n == 0 {
            (self.g.entry, self.g.top) = (node, level);
            return;
        }
        let entry = self.g.entry;
        let mut ep = Near(self.distance(p, self.point(entry)), entry);
        for layer in (level + 1..=self.g.top).rev() {
            ep = self.greedy(ep, layer, &|nb| self.distance(p, self.point(nb)), &|_| {});
        }
        let mut eps = vec![ep];
        for layer in (0..=level.min(self.g.top)).rev() {
            let found = self.search_layer(p, &eps, self.g.ef_construction, layer);
            let chosen = self.select(&found, self.cap(layer), node);
            let ids: Vec<u32> = chosen.iter().map(|x| x.1).collect();
            self.set_hood(node, layer, &ids);
            for Near(d, nb) in chosen {
                self.link(nb, node, d, layer);
            }
            eps = found;
        }
        if level > self.g.top {
            (self.g.entry, self.g.top) = (node, level);
        }
    }

    /// Levels fall off as m^-l (Malkov & Yashunin's mL = 1 / ln m).
    fn random_level(&mut self) -> usize {
        let s = &mut self.g.rng;
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        let u = ((*s >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let level = -u.ln() / (self.g.m as f64).ln();
        (level as usize).min(MAX_LEVEL)
    }

    fn cap(&self, layer: usize) -> usize {
        if layer == 0 { self.g.m0 } else { self.g.m }
    }

    /// Greedy descent at one layer under `dist`; `fetch` is told each
    /// neighbour before any distance is computed.
    fn greedy(
        &self,
        mut ep: Near,
        layer: usize,
        dist: &dyn Fn(u32) -> f32,
        fetch: &dyn Fn(u32),
    ) -> Near {
        loop {
            let mut moved = false;
            let hood = self.hood(ep.1, layer);
            for &nb in hood {
                fetch(nb);
            }
            for &nb in hood {
                let d = dist(nb);
                if d < ep.0 {
                    (ep, moved) = (Near(d, nb), true);
                }
            }
            if !moved {
                return ep;
            }
        }
    }

    /// The `ef` nearest nodes to `p` a beam from `eps` reaches at `layer`,
    /// nearest first.
    fn search_layer(&self, p: &[T], eps: &[Near], ef: usize, layer: usize) -> Vec<Near> {
        VISITED.with(|cell| {
            let mut visited = cell.borrow_mut();
            let stamp = visited.next(self.len());
            let marks = &mut visited.marks;
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut found: BinaryHeap<Near> = BinaryHeap::with_capacity(ef + 1);
            for &e in eps {
                if marks[e.1 as usize] != stamp {
                    marks[e.1 as usize] = stamp;
                    candidates.push(Reverse(e));
                    found.push(e);
                }
            }
            while found.len() > ef {
                found.pop();
            }
            while let Some(Reverse(c)) = candidates.pop() {
                if found.len() >= ef && found.peek().is_some_and(|w| c.0 > w.0) {
                    break;
                }
                for &nb in self.hood(c.1, layer) {
                    if marks[nb as usize] == stamp {
                        continue;
                    }
                    marks[nb as usize] = stamp;
                    let d = self.distance(p, self.point(nb));
                    if found.len() < ef || found.peek().is_some_and(|w| d < w.0) {
                        candidates.push(Reverse(Near(d, nb)));
                        found.push(Near(d, nb));
                        if found.len() > ef {
                            found.pop();
                        }
                    }
                }
            }
            found.into_sorted_vec()
        })
    }

    /// The neighbour-selection heuristic over `cands` (nearest first): a
    /// candidate is kept if it is nearer to the base than to every one
    /// kept before it, so edges spread in all directions; at most `cap`.
    fn select(&self, cands: &[Near], cap: usize, not: u32) -> Vec<Near> {
        let mut out: Vec<Near> = Vec::with_capacity(cap);
        for &c in cands {
            if out.len() >= cap {
                break;
            }
            if c.1 == not {
                continue;
            }
            let pc = self.point(c.1);
            if out
                .iter()
                .all(|r| self.distance(pc, self.point(r.1)) >= c.0)
            {
                out.push(c);
            }
        }
        out
    }

    fn set_hood(&mut self, node: u32, layer: usize, nbs: &[u32]) {
        if layer == 0 {
            let at = node as usize * (self.g.m0 + 1);
            let n = nbs.len().min(self.g.m0);
            self.g.adj0[at] = n as u32;
            self.g.adj0[at + 1..at + 1 + n].copy_from_slice(&nbs[..n]);
        } else if let Some(l) = self
            .g
            .upper
            .get_mut(&node)
            .and_then(|l| l.get_mut(layer - 1))
        {
            *l = nbs.to_vec();
        }
    }

    /// Give `from` an edge to `to` (at distance `d`); a full list keeps the
    /// heuristic's pick among its old neighbours and `to`.
    fn link(&mut self, from: u32, to: u32, d: f32, layer: usize) {
        let cap = self.cap(layer);
        let hood = self.hood(from, layer);
        if hood.contains(&to) {
            return;
        }
        if hood.len() < cap {
            let mut nbs = hood.to_vec();
            nbs.push(to);
            return self.set_hood(from, layer, &nbs);
        }
        let pf = self.point(from);
        let mut cands: Vec<Near> = hood
            .iter()
            .map(|&nb| Near(self.distance(pf, self.point(nb)), nb))
            .collect();
        cands.push(Near(d, to));
        cands.sort();
        let keep: Vec<u32> = self.select(&cands, cap, from).iter().map(|x| x.1).collect();
        self.set_hood(from, layer, &keep);
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

    /// Write the graph to a checkpoint file.
    pub fn write_to(&self, w: impl std::io::Write) -> bincode::Result<()> {
        checkpoint_options(u64::MAX).serialize_into(w, &self.g)
    }

    /// A graph from [`Self::write_to`]'s `len` bytes; an error if they do
    /// not hold a consistent graph (the caller rebuilds from rows).
    pub fn read_from(dist: D, r: impl std::io::Read, len: u64) -> bincode::Result<Self> {
        // Limited to the file's length: a damaged length prefix fails
        // instead of asking for a huge allocation.
        let g: Nodes<T> = checkpoint_options(len).deserialize_from(r)?;
        let n = g.ids.len();
        let bad = || Box::new(bincode::ErrorKind::Custom("inconsistent graph".into()));
        let nodes_ok = |l: &[u32]| l.iter().all(|&x| (x as usize) < n);
        let ok = (2..=256).contains(&g.m)
            && g.m0 == 2 * g.m
            && (1..=1000).contains(&g.ef_construction)
            && n.checked_mul(g.dim) == Some(g.points.len())
            && g.adj0.len() == n * (g.m0 + 1)
            && g.adj0.chunks_exact(g.m0 + 1).all(|s| {
                let c = s[0] as usize;
                c <= g.m0 && nodes_ok(&s[1..1 + c])
            })
            && g.upper.iter().all(|(&k, ls)| {
                (k as usize) < n && ls.len() <= MAX_LEVEL && ls.iter().all(|l| nodes_ok(l))
            })
            && (n == 0 || (g.entry as usize) < n && g.top <= MAX_LEVEL)
            && g.by_id.iter().all(|&x| x == u32::MAX || (x as usize) < n)
            // Every node's id maps back to it (no row twice).
            && g.ids
                .iter()
                .enumerate()
                .all(|(node, &id)| g.by_id.get(id).is_some_and(|&b| b as usize == node))
            && g.by_id.iter().filter(|&&b| b != u32::MAX).count() == n
            && g.codes.as_ref().map(|c| c.kind) == g.codes.as_ref().and(dist.coded())
            && g.codes.as_ref().is_none_or(|c| {
                Some(c.bytes.len()) == n.checked_mul(g.dim)
                    && c.sq.len() == n
                    && c.min.len() == g.dim
                    && c.step.len() == g.dim
            });
        if !ok {
            return Err(bad());
        }
        let mut g = g;
        if g.rng == 0 {
            g.rng = 0x9e37_79b9_7f4a_7c15; // xorshift stays at 0 from 0
        }
        Ok(Compact { dist, g })
    }
}

/// Most neighbours a node has at layer 0 (2 × m, m ≤ 100).
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

    /// Deterministic pseudo-random points in [0, 1)^16 (xorshift).
    fn points(n: usize) -> Vec<Vec<f32>> {
        let mut s = 0x9e3779b97f4a7c15u64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        (0..n).map(|_| (0..16).map(|_| rnd()).collect()).collect()
    }

    /// Recall@10 of `g` over every 60th point as query; checks the answers'
    /// distances, order and the filter on the way.
    fn recall(g: &Compact<f32, DistL2>, data: &[Vec<f32>]) -> f64 {
        let (mut hit, mut total) = (0, 0);
        for q in data.iter().step_by(60) {
            let want = brute(data, q, 10);
            let found = g.search(q, 10, 12, None);
            assert_eq!(found.len(), 10);
            // The walk compared codes; what it returns is re-ranked exactly.
            for (id, d) in &found {
                assert_eq!(*d, DistL2.eval(q, &data[*id]));
            }
            hit += found.iter().filter(|g| want.contains(&g.0)).count();
            total += 10;
            // Only even ids: all kept ones are even, and the nearest even ones.
            let even = |id: usize| id % 2 == 0;
            let got = g.search(q, 10, 64, Some(&even));
            assert!(got.len() == 10 && got.iter().all(|x| x.0 % 2 == 0));
            assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
        }
        hit as f64 / total as f64
    }

    #[test]
    fn copied_from_hnsw_rs_recalls_and_filters() {
        let data = points(3000);
        let h: Hnsw<'static, f32, DistL2> = Hnsw::new(16, data.len(), 16, 64, DistL2);
        let items: Vec<(&[f32], usize)> =
            data.iter().enumerate().map(|(i, v)| (&v[..], i)).collect();
        h.parallel_insert_slice(&items);
        let g = Compact::from_hnsw(&h, DistL2, 64).unwrap();
        drop(h);
        assert_eq!(g.len(), data.len());
        assert!((0..data.len()).all(|i| g.has(i)) && !g.has(data.len()));
        let r = recall(&g, &data);
        assert!(r > 0.95, "recall {r}");
    }

    #[test]
    fn own_inserts_recall_like_hnsw_rs() {
        let data = points(4000);
        // Half copied from hnsw_rs, half inserted here in batches.
        let h: Hnsw<'static, f32, DistL2> = Hnsw::new(16, 2000, 16, 64, DistL2);
        let items: Vec<(&[f32], usize)> = data[..2000]
            .iter()
            .enumerate()
            .map(|(i, v)| (&v[..], i))
            .collect();
        h.parallel_insert_slice(&items);
        let mut g = Compact::from_hnsw(&h, DistL2, 64).unwrap();
        let rest: Vec<(usize, &[f32])> = data
            .iter()
            .enumerate()
            .skip(2000)
            .map(|(i, v)| (i, &v[..]))
            .collect();
        for batch in rest.chunks(300) {
            g.insert_many(batch);
        }
        assert_eq!(g.len(), data.len());
        let r = recall(&g, &data);
        assert!(r > 0.95, "recall {r}");
        // Built from nothing by inserts alone (codes taken as it grows).
        let mut g = Compact::empty(DistL2, 16, 64);
        let all: Vec<(usize, &[f32])> = data.iter().enumerate().map(|(i, v)| (i, &v[..])).collect();
        for batch in all.chunks(257) {
            g.insert_many(batch);
        }
        // Inserting an id again changes nothing; another dimension is skipped.
        g.insert_many(&[(0, &data[1][..]), (data.len(), &[1.0, 2.0][..])]);
        assert_eq!(g.len(), data.len());
        assert!(g.g.codes.is_some());
        let r = recall(&g, &data);
        assert!(r > 0.95, "recall {r}");
        // A checkpoint round trip gives the same answers; damaged bytes
        // are refused, not trusted.
        let bytes = to_bytes(&g);
        let back = Compact::read_from(DistL2, &bytes[..], bytes.len() as u64).unwrap();
        assert_eq!(
            back.search(&data[7], 10, 40, None),
            g.search(&data[7], 10, 40, None)
        );
        // A copy with room answers the same and grows without moving.
        let mut copy = g.copy_with_room(2);
        assert_eq!(
            copy.search(&data[9], 10, 40, None),
            g.search(&data[9], 10, 40, None)
        );
        let at = copy.g.points.as_ptr();
        copy.insert_many(&[
            (data.len() + 1, &data[3][..]),
            (data.len() + 2, &data[4][..]),
        ]);
        assert_eq!((copy.len(), copy.g.points.as_ptr()), (g.len() + 2, at));
        let mut bad = g.clone();
        bad.g.adj0[1] = data.len() as u32 + 5;
        let damaged = to_bytes(&bad);
        assert!(Compact::read_from(DistL2, &damaged[..], damaged.len() as u64).is_err());
        let half = &bytes[..bytes.len() / 2];
        assert!(Compact::<f32, DistL2>::read_from(DistL2, half, half.len() as u64).is_err());
        // A length prefix beyond the file is refused before allocating, a
        // nonsense parameter is refused.
        let mut huge = bytes.clone();
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Compact::<f32, DistL2>::read_from(DistL2, &huge[..], huge.len() as u64).is_err());
        let mut huge = bytes.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Compact::<f32, DistL2>::read_from(DistL2, &huge[..], huge.len() as u64).is_err());
    }

    fn to_bytes(g: &Compact<f32, DistL2>) -> Vec<u8> {
        let mut out = Vec::new();
        g.write_to(&mut out).unwrap();
        out
    }
}
