//! Distances as graphs see them: order-equivalent to the SQL operators'
//! (pgvector's), non-negative for hnsw_rs, NaN last. Cosine graphs hold unit
//! vectors and order by inner product (one dot product per step, not three).

use hnsw_rs::prelude::Distance;
use serde::{Deserialize, Serialize};

use crate::vector::distance::{self, Metric};

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

/// hnsw_rs wants non-negative distances: map any f32 onto (0, inf)
/// monotonically (only the order matters to the graph).
#[inline]
fn positive(d: f32) -> f32 {
    if d >= 0.0 { d + 1.0 } else { 1.0 / (1.0 - d) }
}

/// Distance between dense vectors as the graph sees it (order-equivalent to
/// the SQL operator's; cosine graphs hold unit vectors and order by inner
/// product).
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
pub(super) fn dense_raw(m: Metric, a: &[f32], b: &[f32]) -> f32 {
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
