//! Searching a compact graph: a greedy descent through the upper layers,
//! then a beam at layer 0 (on 8-bit codes when the graph has them,
//! re-ranked with the full points).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::super::distance::WalkDistance;
use super::super::visited::{FRESH, VISITED, prefetch};
use super::{Compact, Near};

impl<T, D> Compact<T, D>
where
    T: Copy + Send + Sync + Serialize + DeserializeOwned + 'static,
    D: WalkDistance<T> + Clone + Send + Sync,
{
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

    /// Greedy descent at one layer under `dist`; `fetch` is told each
    /// neighbour before any distance is computed.
    pub(super) fn greedy(
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
    pub(super) fn search_layer(&self, p: &[T], eps: &[Near], ef: usize, layer: usize) -> Vec<Near> {
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
}
