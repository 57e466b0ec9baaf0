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

/// Kernels for graph walks, where distances only order candidates: AVX2 +
/// FMA intrinsics (four 8-lane accumulators) chosen at run time when the
/// CPU has them — the compiler did not vectorise the portable loop beyond
/// 2-lane loads — and the portable kernels above otherwise. Values a client
/// sees come from the portable kernels.
pub mod fast {
    /// Which distance a kernel accumulates.
    const L2: u8 = 0;
    const DOT: u8 = 1;
    const L1: u8 = 2;

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn kernel_avx2<const OP: u8>(a: &[f32], b: &[f32]) -> f32 {
        use std::arch::x86_64::*;
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // One 8-lane step of the distance into `acc`.
        #[inline(always)]
        fn step<const OP: u8>(x: __m256, y: __m256, acc: __m256) -> __m256 {
            // SAFETY: only called from the AVX2+FMA kernel below.
            unsafe {
                match OP {
                    L2 => {
                        let d = _mm256_sub_ps(x, y);
                        _mm256_fmadd_ps(d, d, acc)
                    }
                    DOT => _mm256_fmadd_ps(x, y, acc),
                    _ => {
                        let d = _mm256_sub_ps(x, y);
                        _mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0), d))
                    }
                }
            }
        }
        // SAFETY: every load reads 8 floats at an index + 8 <= n, inside
        // both slices.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i + 32 <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    let o = i + 8 * j;
                    *a = step::<OP>(_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o)), *a);
                }
                i += 32;
            }
            while i + 8 <= n {
                acc[0] = step::<OP>(
                    _mm256_loadu_ps(pa.add(i)),
                    _mm256_loadu_ps(pb.add(i)),
                    acc[0],
                );
                i += 8;
            }
            let mut s = hsum(_mm256_add_ps(
                _mm256_add_ps(acc[0], acc[1]),
                _mm256_add_ps(acc[2], acc[3]),
            ));
            while i < n {
                let (x, y) = (*pa.add(i), *pb.add(i));
                s += match OP {
                    L2 => (x - y) * (x - y),
                    DOT => x * y,
                    _ => (x - y).abs(),
                };
                i += 1;
            }
            s
        }
    }

    /// The sum of an AVX register's 8 lanes.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: std::arch::x86_64::__m256) -> f32 {
        use std::arch::x86_64::*;
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)))
    }

    /// `Σ q[j] · c[j]` over small signed weights (|q| ≤ 63, so no pair of
    /// products saturates 16 bits) and byte codes.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn codes_i8_avx2(q: &[i8], c: &[u8]) -> i32 {
        use std::arch::x86_64::*;
        let n = q.len().min(c.len());
        // SAFETY: every load reads 32 bytes at an index + 32 <= n.
        unsafe {
            let ones = _mm256_set1_epi16(1);
            let (mut a0, mut a1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
            let mut i = 0;
            while i + 64 <= n {
                let c0 = _mm256_loadu_si256(c.as_ptr().add(i) as *const __m256i);
                let q0 = _mm256_loadu_si256(q.as_ptr().add(i) as *const __m256i);
                let c1 = _mm256_loadu_si256(c.as_ptr().add(i + 32) as *const __m256i);
                let q1 = _mm256_loadu_si256(q.as_ptr().add(i + 32) as *const __m256i);
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(c0, q0), ones));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(c1, q1), ones));
                i += 64;
            }
            while i + 32 <= n {
                let c0 = _mm256_loadu_si256(c.as_ptr().add(i) as *const __m256i);
                let q0 = _mm256_loadu_si256(q.as_ptr().add(i) as *const __m256i);
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(c0, q0), ones));
                i += 32;
            }
            let a = _mm256_add_epi32(a0, a1);
            let h = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
            let h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0b01_00_11_10));
            let h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0b10_11_00_01));
            let mut s = _mm_cvtsi128_si32(h);
            while i < n {
                s += q[i] as i32 * c[i] as i32;
                i += 1;
            }
            s
        }
    }

    #[inline]
    fn avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    #[inline]
    fn run<const OP: u8>(a: &[f32], b: &[f32], portable: fn(&[f32], &[f32]) -> f32) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { kernel_avx2::<OP>(a, b) };
        }
        portable(a, b)
    }

    /// `Σ q[j] · c[j]` over signed weights with |q| ≤ 63 and byte codes.
    #[inline]
    pub fn dot_codes_i8(q: &[i8], c: &[u8]) -> i32 {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { codes_i8_avx2(q, c) };
        }
        q.iter().zip(c).map(|(&x, &b)| x as i32 * b as i32).sum()
    }

    /// Squared Euclidean distance.
    #[inline]
    pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        run::<L2>(a, b, super::l2_squared)
    }

    /// Inner product.
    #[inline]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        run::<DOT>(a, b, super::dot)
    }

    /// Manhattan distance.
    #[inline]
    pub fn l1(a: &[f32], b: &[f32]) -> f32 {
        run::<L1>(a, b, super::l1)
    }
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
    // `fold` from +0: `sum` of no floats is -0, and the norm of an empty
    // sparse vector is 0 in pgvector.
    a.iter()
        .fold(0.0f64, |s, x| s + *x as f64 * *x as f64)
        .sqrt()
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
            // The walk's 8-bit kernel, exact in integers, at its extremes too.
            let q: Vec<i8> = (0..n).map(|i| ((i * 37) % 127) as i8 - 63).collect();
            let c: Vec<u8> = (0..n).map(|i| ((i * 53) % 256) as u8).collect();
            let want: i32 = q.iter().zip(&c).map(|(&x, &y)| x as i32 * y as i32).sum();
            assert_eq!(fast::dot_codes_i8(&q, &c), want, "codes {n}");
            let (lo, hi) = (vec![-63i8; n], vec![255u8; n]);
            assert_eq!(
                fast::dot_codes_i8(&lo, &hi),
                -63 * 255 * n as i32,
                "codes {n}"
            );
            assert_eq!(fast::dot_codes_i8(&vec![63i8; n], &hi), 63 * 255 * n as i32);
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
