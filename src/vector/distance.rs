//! Distance kernels, computed as pgvector does: sums accumulated in f32 and
//! returned as f64 (so results match pgvector digit for digit).
//!
//! The loops run over 8 independent accumulators so the compiler vectorises
//! them; that changes the f32 summation order slightly against pgvector's
//! single accumulator (differences in the last bit of float4 precision).

use super::{Bits, SparseVec};

/// The distance an operator or index uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Metric {
    /// `<->`
    L2,
    /// `<#>` (negative inner product)
    NegInnerProduct,
    /// `<=>`
    Cosine,
    /// `<+>`
    L1,
    /// `<~>`
    Hamming,
    /// `<%>`
    Jaccard,
}

impl Metric {
    pub fn operator(self) -> &'static str {
        match self {
            Metric::L2 => "<->",
            Metric::NegInnerProduct => "<#>",
            Metric::Cosine => "<=>",
            Metric::L1 => "<+>",
            Metric::Hamming => "<~>",
            Metric::Jaccard => "<%>",
        }
    }
    pub fn from_operator(op: &str) -> Option<Metric> {
        Some(match op {
            "<->" => Metric::L2,
            "<#>" => Metric::NegInnerProduct,
            "<=>" => Metric::Cosine,
            "<+>" => Metric::L1,
            "<~>" => Metric::Hamming,
            "<%>" => Metric::Jaccard,
            _ => return None,
        })
    }
}

const LANES: usize = 8;

#[inline]
fn fold<F: Fn(f32, f32) -> f32>(a: &[f32], b: &[f32], f: F) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let (x, y) = (
            &a[c * LANES..c * LANES + LANES],
            &b[c * LANES..c * LANES + LANES],
        );
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    let mut s = 0f32;
    for i in chunks * LANES..n {
        s += f(a[i], b[i]);
    }
    acc.iter().sum::<f32>() + s
}

#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y| (x - y) * (x - y))
}

#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y| x * y)
}

#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    fold(a, b, |x, y| (x - y).abs())
}

/// Kernels for graph walks, where distances only order candidates: 32
/// accumulators (four AVX2 registers) and AVX2 code chosen at run time when
/// the CPU has it. Values a client sees come from the kernels above.
pub mod fast {
    const WIDE: usize = 32;

    #[inline(always)]
    fn fold_wide<F: Fn(f32, f32) -> f32>(a: &[f32], b: &[f32], f: F) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; WIDE];
        let (ca, cb) = (a.chunks_exact(WIDE), b.chunks_exact(WIDE));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..WIDE {
                acc[l] += f(x[l], y[l]);
            }
        }
        let mut s = 0f32;
        for (x, y) in ra.iter().zip(rb) {
            s += f(*x, *y);
        }
        // Fold halves onto each other (vector adds), not lane by lane.
        let mut w = WIDE;
        while w > 1 {
            w /= 2;
            for l in 0..w {
                acc[l] += acc[l + w];
            }
        }
        acc[0] + s
    }

    macro_rules! kernel {
        ($(#[$doc:meta])* $name:ident, $avx2:ident, $f:expr) => {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn $avx2(a: &[f32], b: &[f32]) -> f32 {
                fold_wide(a, b, $f)
            }

            $(#[$doc])*
            #[inline]
            pub fn $name(a: &[f32], b: &[f32]) -> f32 {
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { $avx2(a, b) };
                }
                fold_wide(a, b, $f)
            }
        };
    }

    kernel!(
        /// Squared Euclidean distance.
        l2_squared, l2_squared_avx2, |x, y| (x - y) * (x - y)
    );
    kernel!(
        /// Inner product.
        dot, dot_avx2, |x, y| x * y
    );
    kernel!(
        /// Manhattan distance.
        l1, l1_avx2, |x, y| (x - y).abs()
    );
}

pub fn l2(a: &[f32], b: &[f32]) -> f64 {
    (l2_squared(a, b) as f64).sqrt()
}

/// 1 - cos(a, b), clamped to [0, 2]; NaN when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let d = dot(a, b) as f64;
    let na = dot(a, a) as f64;
    let nb = dot(b, b) as f64;
    let sim = d / (na * nb).sqrt();
    if sim.is_nan() {
        return f64::NAN;
    }
    1.0 - sim.clamp(-1.0, 1.0)
}

/// The L2 norm, accumulated in f64 as pgvector's vector_norm does.
pub fn norm(a: &[f32]) -> f64 {
    a.iter().map(|x| *x as f64 * *x as f64).sum::<f64>().sqrt()
}

/// Distance of a dense pair under `m` (dense metrics only).
pub fn dense(m: Metric, a: &[f32], b: &[f32]) -> f64 {
    match m {
        Metric::L2 => l2(a, b),
        Metric::NegInnerProduct => -(dot(a, b) as f64),
        Metric::Cosine => cosine(a, b),
        Metric::L1 => l1(a, b) as f64,
        Metric::Hamming | Metric::Jaccard => f64::NAN,
    }
}

/// Merge-join over two sparse vectors' indices: (dot, |a|², |b|², l2², l1).
fn sparse_parts(a: &SparseVec, b: &SparseVec) -> (f32, f32, f32, f32, f32) {
    let (mut i, mut j) = (0, 0);
    let (mut dot, mut na, mut nb, mut l2, mut l1) = (0f32, 0f32, 0f32, 0f32, 0f32);
    while i < a.indices.len() || j < b.indices.len() {
        let ai = a.indices.get(i).copied().unwrap_or(u32::MAX);
        let bj = b.indices.get(j).copied().unwrap_or(u32::MAX);
        let (x, y) = if ai == bj {
            let r = (a.values[i], b.values[j]);
            i += 1;
            j += 1;
            r
        } else if ai < bj {
            i += 1;
            (a.values[i - 1], 0.0)
        } else {
            j += 1;
            (0.0, b.values[j - 1])
        };
        dot += x * y;
        na += x * x;
        nb += y * y;
        l2 += (x - y) * (x - y);
        l1 += (x - y).abs();
    }
    (dot, na, nb, l2, l1)
}

pub fn sparse(m: Metric, a: &SparseVec, b: &SparseVec) -> f64 {
    let (dot, na, nb, l2, l1) = sparse_parts(a, b);
    match m {
        Metric::L2 => (l2 as f64).sqrt(),
        Metric::NegInnerProduct => -(dot as f64),
        Metric::Cosine => {
            let sim = dot as f64 / ((na as f64) * (nb as f64)).sqrt();
            if sim.is_nan() {
                f64::NAN
            } else {
                1.0 - sim.clamp(-1.0, 1.0)
            }
        }
        Metric::L1 => l1 as f64,
        Metric::Hamming | Metric::Jaccard => f64::NAN,
    }
}

pub fn sparse_norm(a: &SparseVec) -> f64 {
    norm(&a.values)
}

pub fn hamming_bytes(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

pub fn bits(m: Metric, a: &Bits, b: &Bits) -> f64 {
    match m {
        Metric::Hamming => hamming_bytes(&a.data, &b.data) as f64,
        _ => {
            let (mut ab, mut aa, mut bb) = (0u64, 0u64, 0u64);
            for (x, y) in a.data.iter().zip(&b.data) {
                ab += (x & y).count_ones() as u64;
                aa += x.count_ones() as u64;
                bb += y.count_ones() as u64;
            }
            if ab == 0 {
                1.0
            } else {
                1.0 - ab as f64 / (aa + bb - ab) as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_pgvector_examples() {
        assert_eq!(l2(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]), 1.0);
        assert_eq!(
            dense(Metric::NegInnerProduct, &[1.0, 2.0], &[3.0, 4.0]),
            -11.0
        );
        assert!(cosine(&[0.0, 0.0], &[1.0, 1.0]).is_nan());
        assert_eq!(cosine(&[1.0, 1.0], &[2.0, 2.0]), 0.0);
        assert_eq!(cosine(&[1.0, 1.0], &[-1.0, -1.0]), 2.0);
        assert_eq!(dense(Metric::L1, &[1.0, 2.0], &[3.0, 5.0]), 5.0);
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| (36 - i) as f32).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        assert!((l2_squared(&a, &b) - naive).abs() / naive < 1e-6);
    }

    #[test]
    fn graph_kernels_agree_with_exact_ones() {
        for n in [1, 7, 31, 32, 33, 128, 384, 1000] {
            let a: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 101) as f32 * 0.01 - 0.5)
                .collect();
            let b: Vec<f32> = (0..n)
                .map(|i| ((i * 104729) % 97) as f32 * 0.02 - 1.0)
                .collect();
            let close = |x: f32, y: f32| (x - y).abs() <= 1e-5 * (1.0 + y.abs());
            assert!(
                close(fast::l2_squared(&a, &b), l2_squared(&a, &b)),
                "l2 {n}"
            );
            assert!(close(fast::dot(&a, &b), dot(&a, &b)), "dot {n}");
            assert!(close(fast::l1(&a, &b), l1(&a, &b)), "l1 {n}");
        }
    }

    #[test]
    fn sparse_and_bits() {
        let a = SparseVec {
            dim: 5,
            indices: vec![0, 2],
            values: vec![1.0, 2.0],
        };
        let b = SparseVec {
            dim: 5,
            indices: vec![2, 4],
            values: vec![2.0, 1.0],
        };
        assert_eq!(sparse(Metric::L2, &a, &b), 2f64.sqrt());
        assert_eq!(sparse(Metric::NegInnerProduct, &a, &b), -4.0);
        let x = super::super::parse_bits("1100", None).unwrap();
        let y = super::super::parse_bits("1010", None).unwrap();
        assert_eq!(bits(Metric::Hamming, &x, &y), 2.0);
        assert!((bits(Metric::Jaccard, &x, &y) - (1.0 - 1.0 / 3.0)).abs() < 1e-12);
    }
}
