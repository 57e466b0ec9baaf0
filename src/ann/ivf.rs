//! IVFFlat: pgvector's inverted-file index. Vectors are grouped into `lists`
//! by k-means; a search scans the `probes` lists whose centroids are nearest
//! the query, exactly. One per (shard, index), like the HNSW graphs, with
//! the same ids, tombstones and checkpoints (`vindex`).

use parking_lot::RwLock;
use std::borrow::Cow;

use hnsw_rs::prelude::Distance;
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::distance::{BitDist, DenseDist};
use crate::vector::distance::Metric;

/// k-means iterations over the training sample.
const ITERATIONS: usize = 10;
/// Training sample size per list (pgvector samples 50 rows per list).
const SAMPLE_PER_LIST: usize = 50;
/// Most memory the training sample takes as floats.
const SAMPLE_BYTES: usize = 256 << 20;

/// What a list holds per row: f32 vectors, or bit strings as 64-bit words
/// (`bit_hamming_ops`), which k-means sees as 0/1 vectors — the squared L2
/// distance between two 0/1 vectors is their Hamming distance.
pub trait IvfElem: Copy + Send + Sync + Serialize + DeserializeOwned + 'static {
    /// The point as floats, for k-means and choosing lists.
    fn floats(v: &[Self]) -> Cow<'_, [f32]>;
    /// Query-to-row distance as the index orders rows.
    fn distance(dist: &DenseDist, q: &[Self], v: &[Self]) -> f32;
}

impl IvfElem for f32 {
    fn floats(v: &[f32]) -> Cow<'_, [f32]> {
        Cow::Borrowed(v)
    }

    fn distance(dist: &DenseDist, q: &[f32], v: &[f32]) -> f32 {
        dist.eval(q, v)
    }
}

impl IvfElem for u64 {
    fn floats(v: &[u64]) -> Cow<'_, [f32]> {
        Cow::Owned(
            v.iter()
                .flat_map(|w| (0..64).map(move |b| ((w >> b) & 1) as f32))
                .collect(),
        )
    }

    fn distance(_: &DenseDist, q: &[u64], v: &[u64]) -> f32 {
        BitDist(Metric::Hamming).eval(q, v)
    }
}

pub struct Ivf<T: IvfElem> {
    /// Distance between floats (points and centroids).
    dist: DenseDist,
    centroids: Vec<Vec<f32>>,
    /// Per list: (id, point). With no centroids (built empty) one list.
    lists: Vec<RwLock<Vec<(usize, Vec<T>)>>>,
}

/// What a checkpoint holds.
#[derive(Serialize, Deserialize)]
struct Saved<T> {
    centroids: Vec<Vec<f32>>,
    lists: Vec<Vec<(usize, Vec<T>)>>,
}

/// A small deterministic generator (xorshift), so builds are repeatable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

impl<T: IvfElem> Ivf<T> {
    /// Bytes held on the heap (centroids and listed points).
    pub fn heap_bytes(&self) -> usize {
        let centroids: usize = self.centroids.iter().map(|c| 4 * c.capacity()).sum();
        let lists: usize = self
            .lists
            .iter()
            .map(|l| {
                let l = l.read();
                l.capacity() * std::mem::size_of::<(usize, Vec<T>)>()
                    + l.iter()
                        .map(|(_, p)| p.capacity() * std::mem::size_of::<T>())
                        .sum::<usize>()
            })
            .sum();
        centroids + lists
    }

    /// Centroids for `lists` lists, by k-means over a sample of `points`.
    pub fn train(dist: DenseDist, points: &[&[T]], lists: usize) -> Ivf<T> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let spherical = dist.0 == Metric::NegInnerProduct;
        let k = lists.min(points.len());
        // As floats the sample may take at most SAMPLE_BYTES (bit strings
        // unpack to 32 × their size), but at least one point per list.
        let width = points.first().map_or(1, |p| T::floats(p).len().max(1));
        let wanted = (lists * SAMPLE_PER_LIST).min((SAMPLE_BYTES / (width * 4)).max(lists));
        let sample: Vec<Cow<[f32]>> = if points.len() > wanted {
            (0..wanted)
                .map(|_| T::floats(points[rng.below(points.len())]))
                .collect()
        } else {
            points.iter().map(|p| T::floats(p)).collect()
        };
        // Initial centroids: distinct sample points.
        let mut centroids: Vec<Vec<f32>> = Vec::with_capacity(k);
        let mut taken = std::collections::HashSet::new();
        while centroids.len() < k && taken.len() < sample.len() {
            let i = rng.below(sample.len());
            if taken.insert(i) {
                centroids.push(sample[i].to_vec());
            }
        }
        for _ in 0..ITERATIONS {
            if centroids.is_empty() {
                break;
            }
            let assign: Vec<usize> = sample
                .par_iter()
                .map(|p| nearest(&dist, &centroids, p))
                .collect();
            let dim = centroids[0].len();
            let mut sums = vec![vec![0f64; dim]; centroids.len()];
            let mut counts = vec![0usize; centroids.len()];
            for (p, &c) in sample.iter().zip(&assign) {
                counts[c] += 1;
                for (s, x) in sums[c].iter_mut().zip(p.iter()) {
                    *s += *x as f64;
                }
            }
            for (c, centroid) in centroids.iter_mut().enumerate() {
                if counts[c] == 0 {
                    // An empty list takes a random sample point.
                    *centroid = sample[rng.below(sample.len())].to_vec();
                    continue;
                }
                for (x, s) in centroid.iter_mut().zip(&sums[c]) {
                    *x = (*s / counts[c] as f64) as f32;
                }
                if spherical {
                    // Inner product (and cosine, on unit vectors): centroids
                    // on the unit sphere, or long ones would win every list.
                    let n = crate::vector::distance::norm(centroid) as f32;
                    if n > 0.0 {
                        centroid.iter_mut().for_each(|x| *x /= n);
                    }
                }
            }
        }
        let n = centroids.len().max(1);
        Ivf {
            dist,
            centroids,
            lists: (0..n).map(|_| RwLock::new(Vec::new())).collect(),
        }
    }

    pub fn lists(&self) -> usize {
        self.centroids.len()
    }

    fn list_of(&self, v: &[T]) -> usize {
        if self.centroids.is_empty() {
            0
        } else {
            nearest(&self.dist, &self.centroids, &T::floats(v))
        }
    }

    /// Add `(point, id)` pairs (assignment runs on all cores).
    pub fn insert(&self, items: &[(&[T], usize)]) {
        let lists: Vec<usize> = items.par_iter().map(|(v, _)| self.list_of(v)).collect();
        for ((v, id), l) in items.iter().zip(lists) {
            self.lists[l].write().push((*id, v.to_vec()));
        }
    }

    /// Up to `k` nearest ids with distances, from the `probes` lists nearest
    /// `q`; `keep` drops ids (tombstones, filters) before they count.
    pub fn search(
        &self,
        q: &[T],
        k: usize,
        probes: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let qf = T::floats(q);
        let mut order: Vec<(f32, usize)> = self
            .centroids
            .iter()
            .enumerate()
            .map(|(i, c)| (self.dist.eval(&qf, c), i))
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        let chosen: Vec<usize> = if order.is_empty() {
            vec![0]
        } else {
            order.iter().take(probes.max(1)).map(|(_, i)| *i).collect()
        };
        let mut best: Vec<(usize, f32)> = Vec::new();
        for l in chosen {
            for (id, v) in self.lists[l].read().iter() {
                if keep(*id) {
                    best.push((*id, T::distance(&self.dist, q, v)));
                }
            }
        }
        best.sort_by(|a, b| a.1.total_cmp(&b.1));
        best.truncate(k);
        best
    }

    pub fn to_bytes(&self) -> bincode::Result<Vec<u8>> {
        bincode::serialize(&Saved {
            centroids: self.centroids.clone(),
            lists: self.lists.iter().map(|l| l.read().clone()).collect(),
        })
    }

    pub fn from_bytes(dist: DenseDist, b: &[u8]) -> bincode::Result<Ivf<T>> {
        let s: Saved<T> = bincode::deserialize(b)?;
        Ok(Ivf {
            dist,
            centroids: s.centroids,
            lists: s.lists.into_iter().map(RwLock::new).collect(),
        })
    }
}

fn nearest(dist: &DenseDist, centroids: &[Vec<f32>], p: &[f32]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (i, c) in centroids.iter().enumerate() {
        let d = dist.eval(p, c);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_neighbours_in_probed_lists() {
        // Two far clusters on a line; each list gets one.
        let points: Vec<Vec<f32>> = (0..200)
            .map(|i| vec![if i % 2 == 0 { 0.0 } else { 100.0 } + (i / 2) as f32 * 0.01])
            .collect();
        let refs: Vec<&[f32]> = points.iter().map(|p| p.as_slice()).collect();
        let ivf = Ivf::train(DenseDist(Metric::L2), &refs, 2);
        assert_eq!(ivf.lists(), 2);
        let items: Vec<(&[f32], usize)> = refs.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        ivf.insert(&items);
        let got = ivf.search(&[100.0], 3, 1, &|_| true);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 3, 5]);
        // Tombstoned ids are skipped.
        let got = ivf.search(&[100.0], 1, 1, &|id| id != 1);
        assert_eq!(got[0].0, 3);
        let back = Ivf::from_bytes(DenseDist(Metric::L2), &ivf.to_bytes().unwrap()).unwrap();
        assert_eq!(back.search(&[0.0], 1, 1, &|_| true)[0].0, 0);
    }

    #[test]
    fn bit_lists_order_by_hamming() {
        // Bit strings near all-zeros and near all-ones: one list each.
        let points: Vec<Vec<u64>> = (0..100u64)
            .map(|i| {
                vec![if i % 2 == 0 {
                    1 << (i % 64)
                } else {
                    !(1 << (i % 64))
                }]
            })
            .collect();
        let refs: Vec<&[u64]> = points.iter().map(|p| p.as_slice()).collect();
        let ivf = Ivf::train(DenseDist(Metric::Hamming), &refs, 2);
        let items: Vec<(&[u64], usize)> = refs.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        ivf.insert(&items);
        // One probe finds the near-all-ones strings at Hamming distance 1,
        // and the near-all-zeros ones: the two groups are in different lists.
        let got = ivf.search(&[u64::MAX], 3, 1, &|_| true);
        assert_eq!(got.len(), 3);
        assert!(
            got.iter().all(|(id, d)| id % 2 == 1 && *d == 1.0),
            "{got:?}"
        );
        let got = ivf.search(&[0], 3, 1, &|_| true);
        assert!(
            got.iter().all(|(id, d)| id % 2 == 0 && *d == 1.0),
            "{got:?}"
        );
        let half = ivf.search(&[0], 100, 1, &|_| true);
        assert_eq!(half.len(), 50, "one list holds exactly the near-zero half");
    }
}
