//! sparsevec: `{1:1.5,3:2}/5`, its text form and checks.

use super::*;
use crate::error::{PgError, PgResult};

/// A sparse vector: 0-based ascending indices and their non-zero values.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseVec {
    pub dim: u32,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    /// Storage form: dim, nnz (u32 LE), indices, values (f32 LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(8 + self.indices.len() * 8);
        b.extend_from_slice(&self.dim.to_le_bytes());
        b.extend_from_slice(&(self.indices.len() as u32).to_le_bytes());
        for i in &self.indices {
            b.extend_from_slice(&i.to_le_bytes());
        }
        for v in &self.values {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Bytes that sort as pgvector's btree orders sparse vectors (their
    /// dense expansions element by element, then the smaller dimension
    /// first), for ORDER BY. Each non-zero element is a class byte (2 for a
    /// positive value, 0 for a negative one), its index (inverted for
    /// positive values: an earlier positive element makes the vector
    /// larger) and its order-preserving value; the end of the elements is
    /// class 1, followed by the dimension. Vectors of different dimensions
    /// whose elements differ only past the smaller dimension sort by those
    /// elements rather than by dimension (pgvector compares the dimensions).
    pub fn order_key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(9 * self.indices.len() + 5);
        for (i, v) in self.indices.iter().zip(&self.values) {
            let bits = v.to_bits();
            let ordered = if bits >> 31 == 1 {
                !bits
            } else {
                bits | (1 << 31)
            };
            if *v > 0.0 {
                k.push(2);
                k.extend_from_slice(&(u32::MAX - i).to_be_bytes());
            } else {
                k.push(0);
                k.extend_from_slice(&i.to_be_bytes());
            }
            k.extend_from_slice(&ordered.to_be_bytes());
        }
        k.push(1);
        k.extend_from_slice(&self.dim.to_be_bytes());
        k
    }

    pub fn from_bytes(b: &[u8]) -> SparseVec {
        let u = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let dim = u(0);
        let nnz = u(4) as usize;
        let indices = (0..nnz).map(|k| u(8 + 4 * k)).collect();
        let values = (0..nnz)
            .map(|k| f32::from_bits(u(8 + 4 * nnz + 4 * k)))
            .collect();
        SparseVec {
            dim,
            indices,
            values,
        }
    }

    pub fn from_dense(v: &[f32]) -> SparseVec {
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for (i, x) in v.iter().enumerate() {
            if *x != 0.0 {
                indices.push(i as u32);
                values.push(*x);
            }
        }
        SparseVec {
            dim: v.len() as u32,
            indices,
            values,
        }
    }

    pub fn to_dense(&self) -> Vec<f32> {
        let mut v = vec![0f32; self.dim as usize];
        for (i, x) in self.indices.iter().zip(&self.values) {
            v[*i as usize] = *x;
        }
        v
    }
}

pub(super) fn check_sparse_dim(dim: i64) -> PgResult<()> {
    if dim < 1 {
        return Err(data_error("sparsevec must have at least 1 dimension"));
    }
    if dim > SPARSEVEC_MAX_DIM {
        return Err(PgError::new(
            code::PROGRAM_LIMIT,
            format!("sparsevec cannot have more than {SPARSEVEC_MAX_DIM} dimensions"),
        ));
    }
    Ok(())
}

pub(super) fn check_nnz(nnz: usize) -> PgResult<()> {
    if nnz > SPARSEVEC_MAX_NNZ {
        return Err(PgError::new(
            code::PROGRAM_LIMIT,
            format!("sparsevec cannot have more than {SPARSEVEC_MAX_NNZ} non-zero elements"),
        ));
    }
    Ok(())
}

pub(super) fn read_long(b: &[u8]) -> Option<(i64, usize)> {
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let ds = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == ds {
        return None;
    }
    let s = std::str::from_utf8(&b[..i]).ok()?;
    let v = s.parse::<i64>().unwrap_or(if s.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    });
    Some((v.clamp(i32::MIN as i64, i32::MAX as i64), i))
}

/// Parse `{1:1.5,3:2}/5` (1-based indices): sorted, zeros dropped.
pub fn parse_sparsevec(lit: &str, typmod: Option<u32>) -> PgResult<SparseVec> {
    let b = lit.as_bytes();
    let err = || syntax("sparsevec", lit);
    let mut i = skip_space(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(err().with_detail("Vector contents must start with \"{\"."));
    }
    i = skip_space(b, i + 1);
    let mut elems: Vec<(i64, f32)> = Vec::new();
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            i = skip_space(b, i);
            let (index, n) = read_long(&b[i..]).ok_or_else(err)?;
            i = skip_space(b, i + n);
            if b.get(i) != Some(&b':') {
                return Err(err());
            }
            i = skip_space(b, i + 1);
            let (v, n, overflow) = read_float(&b[i..]).ok_or_else(err)?;
            // Like float4in, sparsevec_in refuses a literal too small for a
            // float4 (a nonzero mantissa read as 0); vector_in keeps the 0.
            let mantissa = lit[i..i + n].split(['e', 'E']).next().unwrap_or("");
            let underflow = v == 0.0 && mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c));
            if overflow || underflow {
                return Err(PgError::new(
                    code::OUT_OF_RANGE,
                    format!("\"{}\" is out of range for type sparsevec", &lit[i..i + n]),
                ));
            }
            check_element(Kind::SparseVec, v)?;
            if v != 0.0 {
                elems.push((index - 1, v));
                check_nnz(elems.len())?;
            }
            i = skip_space(b, i + n);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(err()),
            }
        }
    }
    i = skip_space(b, i);
    if b.get(i) != Some(&b'/') {
        return Err(err().with_detail("Unexpected end of input."));
    }
    i = skip_space(b, i + 1);
    let (dim, n) = read_long(&b[i..]).ok_or_else(err)?;
    i = skip_space(b, i + n);
    if i != b.len() {
        return Err(err().with_detail("Junk after closing."));
    }
    check_sparse_dim(dim)?;
    check_expected_dim(typmod, dim as usize)?;
    elems.sort_by_key(|e| e.0);
    for (k, (idx, _)) in elems.iter().enumerate() {
        if *idx < 0 || *idx >= dim {
            return Err(data_error("sparsevec index out of bounds"));
        }
        if k > 0 && elems[k - 1].0 == *idx {
            return Err(data_error("sparsevec indices must not contain duplicates"));
        }
    }
    Ok(SparseVec {
        dim: dim as u32,
        indices: elems.iter().map(|e| e.0 as u32).collect(),
        values: elems.iter().map(|e| e.1).collect(),
    })
}

pub fn format_sparsevec(s: &SparseVec) -> String {
    let mut out = String::with_capacity(s.indices.len() * 12 + 8);
    out.push('{');
    for (k, (i, v)) in s.indices.iter().zip(&s.values).enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(&(i + 1).to_string());
        out.push(':');
        push_float(&mut out, *v);
    }
    out.push_str("}/");
    out.push_str(&s.dim.to_string());
    out
}

// ---- bit -------------------------------------------------------------------
