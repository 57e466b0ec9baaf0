//! 8-bit codes of a graph's points, for the walk: a quarter of the bytes
//! per visited node (a 384-d walk was bound by reading vectors). The query
//! side is rounded to weights in -63..=63, so a coded distance is one
//! integer dot product of bytes; the beam a walk ends with is re-ranked
//! with the full points.

use serde::{Deserialize, Serialize};

use super::distance::Coded;

/// 8-bit codes of every node's point: `x[j] ≈ min[j] + step[j] · code[j]`.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Codes {
    pub(super) kind: Coded,
    pub(super) min: Vec<f32>,
    pub(super) step: Vec<f32>,
    /// Node `i`'s codes: `bytes[i * dim..(i + 1) * dim]`.
    pub(super) bytes: Vec<u8>,
    /// Node `i`'s decoded point's squared norm (for L2: the coded
    /// distance is then exactly the distance to the decoded point).
    pub(super) sq: Vec<f32>,
}

/// A query prepared for coded distances.
pub(super) struct CodedQuery {
    /// `q[j] · step[j]`, itself quantized: `round(q[j] · step[j] / scale)`
    /// in -63..=63 (what an 8-bit × 8-bit kernel takes without overflow).
    weights: Vec<i8>,
    scale: f32,
    /// `Σ q[j] · min[j]`.
    offset: f32,
    /// `Σ q[j]²`.
    pub(super) sq: f32,
}

impl Codes {
    /// Codes of `points`, with each dimension's range taken from them.
    pub(super) fn of<'a>(
        kind: Coded,
        points: impl Iterator<Item = &'a [f32]> + Clone,
        dim: usize,
    ) -> Codes {
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
    pub(super) fn push(&mut self, p: &[f32]) {
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
    pub(super) fn query(&self, q: &[f32]) -> Option<CodedQuery> {
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

    pub(super) fn node(&self, node: u32, dim: usize) -> &[u8] {
        let at = node as usize * dim;
        &self.bytes[at..at + dim]
    }

    /// The coded distance: ordered as the graph's (not its value).
    #[inline]
    pub(super) fn distance(&self, q: &CodedQuery, node: u32) -> f32 {
        let dim = q.weights.len();
        let codes = crate::vector::distance::fast::dot_codes_i8(&q.weights, self.node(node, dim));
        let dot = codes as f32 * q.scale + q.offset;
        match self.kind {
            Coded::L2 => q.sq - 2.0 * dot + self.sq[node as usize],
            Coded::NegDot => -dot,
        }
    }
}
