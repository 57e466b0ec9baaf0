//! Growing a compact graph with HNSW's own insertion (Malkov & Yashunin):
//! a random level, a beam of `ef_construction` per layer, the
//! neighbour-selection heuristic, back links pruned by it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::super::distance::WalkDistance;
use super::{Compact, MAX_LEVEL, Near};

impl<T, D> Compact<T, D>
where
    T: Copy + Send + Sync + Serialize + DeserializeOwned + 'static,
    D: WalkDistance<T> + Clone + Send + Sync,
{
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
}
