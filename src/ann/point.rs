//! A graph's points: what a graph stores for a row, by element type.

use serde::{Deserialize, Serialize};

use crate::vector::{Bits, SparseVec};

/// The value a graph stores for a row: floats, half floats (bit
/// patterns), or bit words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Point {
    Dense(Vec<f32>),
    Half(Vec<u16>),
    Bits(Vec<u64>),
    /// A sparsevec: (0-based index, value) pairs, indices ascending.
    Sparse(Vec<(u32, f32)>),
}

impl Point {
    pub fn sparse(v: &SparseVec) -> Point {
        Point::Sparse(
            v.indices
                .iter()
                .copied()
                .zip(v.values.iter().copied())
                .collect(),
        )
    }
}

/// The sparsevec a graph point holds (its dimension does not matter to distances).
pub fn sparse_of(pairs: &[(u32, f32)]) -> SparseVec {
    SparseVec {
        dim: pairs.last().map_or(0, |p| p.0 + 1),
        indices: pairs.iter().map(|p| p.0).collect(),
        values: pairs.iter().map(|p| p.1).collect(),
    }
}

/// Graph element types, so one generic routine serves every graph.
pub trait Elem: Clone + Send + Sync + Sized + 'static {
    fn of(p: &Point) -> Option<&[Self]>;
}
impl Elem for f32 {
    fn of(p: &Point) -> Option<&[f32]> {
        match p {
            Point::Dense(v) => Some(v),
            _ => None,
        }
    }
}
impl Elem for u16 {
    fn of(p: &Point) -> Option<&[u16]> {
        match p {
            Point::Half(v) => Some(v),
            _ => None,
        }
    }
}
impl Elem for (u32, f32) {
    fn of(p: &Point) -> Option<&[(u32, f32)]> {
        match p {
            Point::Sparse(v) => Some(v),
            _ => None,
        }
    }
}
impl Elem for u64 {
    fn of(p: &Point) -> Option<&[u64]> {
        match p {
            Point::Bits(v) => Some(v),
            _ => None,
        }
    }
}

/// A bit string as 64-bit words (most significant bit first).
pub fn bits_words(b: &Bits) -> Vec<u64> {
    b.data
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_be_bytes(w)
        })
        .collect()
}
