//! The binary (send/recv) forms of the four types, as pgvector's.

use half::f16;

use super::*;
use crate::error::{PgError, PgResult};

pub(super) fn bin_err(msg: &str) -> PgError {
    PgError::new(code::BINARY_FORMAT, msg.to_string())
}

/// vector/halfvec send: int16 dim, int16 unused, then float4 or float2 elements.
pub fn dense_send(kind: Kind, v: &[f32]) -> Vec<u8> {
    let w = if kind == Kind::HalfVec { 2 } else { 4 };
    let mut b = Vec::with_capacity(4 + v.len() * w);
    b.extend_from_slice(&(v.len() as i16).to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    for x in v {
        if kind == Kind::HalfVec {
            b.extend_from_slice(&f16::from_f32(*x).to_bits().to_be_bytes());
        } else {
            b.extend_from_slice(&x.to_be_bytes());
        }
    }
    b
}

pub fn dense_recv(kind: Kind, b: &[u8], typmod: Option<u32>) -> PgResult<Vec<f32>> {
    if b.len() < 4 {
        return Err(bin_err("insufficient data left in message"));
    }
    let dim = i16::from_be_bytes([b[0], b[1]]) as i64;
    let unused = i16::from_be_bytes([b[2], b[3]]);
    if dim < 1 {
        check_dim(kind, 0)?;
    }
    check_dim(kind, dim as usize)?;
    check_expected_dim(typmod, dim as usize)?;
    if unused != 0 {
        return Err(data_error(format!("expected unused to be 0, not {unused}")));
    }
    let w = if kind == Kind::HalfVec { 2 } else { 4 };
    if b.len() != 4 + dim as usize * w {
        return Err(bin_err("insufficient data left in message"));
    }
    let mut out = Vec::with_capacity(dim as usize);
    for k in 0..dim as usize {
        let o = 4 + k * w;
        let x = if kind == Kind::HalfVec {
            f16::from_bits(u16::from_be_bytes([b[o], b[o + 1]])).to_f32()
        } else {
            f32::from_be_bytes(b[o..o + 4].try_into().unwrap())
        };
        check_element(kind, x)?;
        out.push(x);
    }
    Ok(out)
}

/// sparsevec send: int32 dim, int32 nnz, int32 unused, int32 indices (0-based), float4 values.
pub fn sparse_send(s: &SparseVec) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + s.indices.len() * 8);
    b.extend_from_slice(&(s.dim as i32).to_be_bytes());
    b.extend_from_slice(&(s.indices.len() as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    for i in &s.indices {
        b.extend_from_slice(&(*i as i32).to_be_bytes());
    }
    for v in &s.values {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b
}

pub fn sparse_recv(b: &[u8], typmod: Option<u32>) -> PgResult<SparseVec> {
    let i32_at = |o: usize| -> PgResult<i32> {
        b.get(o..o + 4)
            .map(|s| i32::from_be_bytes(s.try_into().unwrap()))
            .ok_or_else(|| bin_err("insufficient data left in message"))
    };
    let dim = i32_at(0)?;
    let nnz = i32_at(4)?;
    let unused = i32_at(8)?;
    check_sparse_dim(dim as i64)?;
    check_expected_dim(typmod, dim as usize)?;
    if nnz < 0 {
        return Err(data_error(
            "sparsevec cannot have negative number of elements",
        ));
    }
    check_nnz(nnz as usize)?;
    if nnz > dim {
        return Err(data_error(
            "sparsevec cannot have more elements than dimensions",
        ));
    }
    if unused != 0 {
        return Err(data_error(format!("expected unused to be 0, not {unused}")));
    }
    let n = nnz as usize;
    let mut indices = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for k in 0..n {
        let idx = i32_at(12 + 4 * k)?;
        if idx < 0 || idx >= dim {
            return Err(data_error("sparsevec index out of bounds"));
        }
        if k > 0 {
            let prev = indices[k - 1] as i32;
            if idx < prev {
                return Err(data_error("sparsevec indices must be in ascending order"));
            }
            if idx == prev {
                return Err(data_error("sparsevec indices must not contain duplicates"));
            }
        }
        indices.push(idx as u32);
    }
    for k in 0..n {
        let v = f32::from_bits(i32_at(12 + 4 * n + 4 * k)? as u32);
        check_element(Kind::SparseVec, v)?;
        if v == 0.0 {
            return Err(data_error(
                "binary representation of sparsevec cannot contain zero values",
            ));
        }
        values.push(v);
    }
    Ok(SparseVec {
        dim: dim as u32,
        indices,
        values,
    })
}

/// bit/varbit send: int32 bit length, then the bytes.
pub fn bits_send(b: &Bits) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + b.data.len());
    out.extend_from_slice(&(b.len as i32).to_be_bytes());
    out.extend_from_slice(&b.data);
    out
}

pub fn bits_recv(b: &[u8], typmod: Option<u32>) -> PgResult<Bits> {
    if b.len() < 4 {
        return Err(bin_err("insufficient data left in message"));
    }
    let len = i32::from_be_bytes(b[0..4].try_into().unwrap());
    if len < 0 || b.len() != 4 + (len as usize).div_ceil(8) {
        return Err(bin_err("invalid length in external bit string"));
    }
    if let Some(n) = typmod {
        if len as u32 != n {
            return Err(PgError::new(
                code::STRING_LENGTH,
                format!("bit string length {len} does not match type bit({n})"),
            ));
        }
    }
    let mut data = b[4..].to_vec();
    // Pad bits past the end must be zero.
    if len % 8 != 0 {
        if let Some(last) = data.last_mut() {
            *last &= 0xffu8 << (8 - len % 8);
        }
    }
    Ok(Bits {
        len: len as u32,
        data,
    })
}
