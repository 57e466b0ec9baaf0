//! The text forms of vector and halfvec (`[1,2.5,-3e-05]`), parsed and
//! printed byte for byte as pgvector does.

use half::f16;

use super::*;
use crate::error::{PgError, PgResult};

/// pgvector's whitespace: space, \t, \n, \r, \v, \f.
pub(super) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

pub(super) fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    i
}

/// Length of the number `strtof` would read at the start of `b` (0 if none).
pub(super) fn float_token_len(b: &[u8]) -> usize {
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let rest = &b[i..];
    for word in ["infinity", "inf", "nan"] {
        if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes()) {
            return i + word.len();
        }
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - start;
    if i < b.len() && b[i] == b'.' {
        let dot = i;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - dot - 1;
    }
    if digits == 0 {
        return 0;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let ds = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > ds {
            i = j;
        }
    }
    i
}

/// Read a float as `strtof` does. Returns the value, the token length and
/// whether it overflowed to infinity from a finite literal.
pub(super) fn read_float(b: &[u8]) -> Option<(f32, usize, bool)> {
    let n = float_token_len(b);
    if n == 0 {
        return None;
    }
    let tok = std::str::from_utf8(&b[..n]).ok()?;
    let lower = tok.to_ascii_lowercase();
    let t = lower.trim_start_matches(['+', '-']);
    let neg = lower.starts_with('-');
    let v = match t {
        "inf" | "infinity" => {
            if neg {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            }
        }
        "nan" => f32::NAN,
        _ => {
            let v: f32 = tok.parse().ok()?;
            return Some((v, n, v.is_infinite()));
        }
    };
    Some((v, n, false))
}

/// Parse `[1,2,3]` into elements, with pgvector's checks for `kind`
/// (vector or halfvec).
pub(super) fn parse_dense(kind: Kind, lit: &str, typmod: Option<u32>) -> PgResult<Vec<f32>> {
    let name = kind.name();
    let b = lit.as_bytes();
    let mut i = skip_space(b, 0);
    if i >= b.len() || b[i] != b'[' {
        return Err(syntax(name, lit).with_detail("Vector contents must start with \"[\"."));
    }
    i = skip_space(b, i + 1);
    if i < b.len() && b[i] == b']' {
        return Err(data_error(format!("{name} must have at least 1 dimension")));
    }
    let mut out = Vec::new();
    loop {
        if out.len() == VECTOR_MAX_DIM {
            return Err(PgError::new(
                code::PROGRAM_LIMIT,
                format!("{name} cannot have more than {VECTOR_MAX_DIM} dimensions"),
            ));
        }
        i = skip_space(b, i);
        let Some((mut v, n, overflow)) = read_float(&b[i..]) else {
            return Err(syntax(name, lit));
        };
        let token = &lit[i..i + n];
        if kind == Kind::HalfVec && !overflow {
            let h = f16::from_f32(v);
            if h.is_infinite() && !v.is_infinite() {
                return Err(PgError::new(
                    code::OUT_OF_RANGE,
                    format!("\"{token}\" is out of range for type halfvec"),
                ));
            }
            v = h.to_f32();
        }
        if overflow {
            return Err(PgError::new(
                code::OUT_OF_RANGE,
                format!("\"{token}\" is out of range for type {name}"),
            ));
        }
        check_element(kind, v)?;
        out.push(v);
        i = skip_space(b, i + n);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b']') => {
                i += 1;
                break;
            }
            _ => return Err(syntax(name, lit)),
        }
    }
    i = skip_space(b, i);
    if i != b.len() {
        return Err(syntax(name, lit).with_detail("Junk after closing right brace."));
    }
    check_dim(kind, out.len())?;
    check_expected_dim(typmod, out.len())?;
    Ok(out)
}

pub fn parse_vector(lit: &str, typmod: Option<u32>) -> PgResult<Vec<f32>> {
    parse_dense(Kind::Vector, lit, typmod)
}

/// halfvec elements come back as the f32 values of their f16 roundings.
pub fn parse_halfvec(lit: &str, typmod: Option<u32>) -> PgResult<Vec<f32>> {
    parse_dense(Kind::HalfVec, lit, typmod)
}

/// Append PostgreSQL's shortest round-trip text of a float4.
pub fn push_float(out: &mut String, v: f32) {
    crate::format::push_pg_float(out, v as f64, true);
}

pub fn format_dense(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_float(&mut s, *x);
    }
    s.push(']');
    s
}

/// Check a dense vector built by a cast or function (dims, elements, typmod).
pub fn check_dense(kind: Kind, v: &[f32], typmod: Option<u32>) -> PgResult<()> {
    check_dim(kind, v.len())?;
    check_expected_dim(typmod, v.len())?;
    for x in v {
        check_element(kind, *x)?;
    }
    Ok(())
}

/// A value of a float array cast to vector/halfvec ("array must be 1-D" ...).
pub fn from_array(kind: Kind, items: &[Option<f64>], typmod: Option<u32>) -> PgResult<Vec<f32>> {
    if items.iter().any(|i| i.is_none()) {
        return Err(PgError::new(
            code::NULL_NOT_ALLOWED,
            "array must not contain nulls",
        ));
    }
    let mut v: Vec<f32> = items.iter().map(|x| x.unwrap() as f32).collect();
    if kind == Kind::HalfVec {
        for x in v.iter_mut() {
            let h = f16::from_f32(*x);
            if h.is_infinite() && !x.is_infinite() {
                return Err(PgError::new(
                    code::OUT_OF_RANGE,
                    format!("\"{x}\" is out of range for type halfvec"),
                ));
            }
            *x = h.to_f32();
        }
    }
    if kind == Kind::SparseVec {
        // pgvector's array_to_sparsevec: dimensions, then the typmod, then
        // the count of non-zero elements, then each element.
        if v.is_empty() {
            return Err(data_error("sparsevec must have at least 1 dimension"));
        }
        check_expected_dim(typmod, v.len())?;
        let nnz = v.iter().filter(|x| **x != 0.0).count();
        if nnz > super::SPARSEVEC_MAX_NNZ {
            return Err(PgError::new(
                code::PROGRAM_LIMIT,
                format!(
                    "sparsevec cannot have more than {} non-zero elements",
                    super::SPARSEVEC_MAX_NNZ
                ),
            ));
        }
        for x in &v {
            check_element(kind, *x)?;
        }
    } else {
        check_dense(kind, &v, typmod)?;
    }
    Ok(v)
}

/// Round a vector's elements to halfvec, with the range check.
pub fn to_half(v: &[f32]) -> PgResult<Vec<f32>> {
    v.iter()
        .map(|x| {
            let h = f16::from_f32(*x);
            if h.is_infinite() && !x.is_infinite() {
                Err(PgError::new(
                    code::OUT_OF_RANGE,
                    format!(
                        "\"{}\" is out of range for type halfvec",
                        crate::format::pg_float_text(*x as f64, true)
                    ),
                ))
            } else {
                Ok(h.to_f32())
            }
        })
        .collect()
}

// ---- sparsevec -------------------------------------------------------------
