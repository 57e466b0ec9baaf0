//! pgvector's value types: vector, halfvec, sparsevec and bit — their text
//! and binary forms (byte-for-byte pgvector's), typmod checks and the errors
//! pgvector raises, in its words and SQLSTATEs.
//!
//! This is the lowest layer of vector support: it knows nothing of Arrow or
//! DataFusion, so the row codec, the HNSW index and the wire encoder can all
//! use it.

pub mod distance;

use half::f16;

use crate::error::{PgError, PgResult};

pub const VECTOR_MAX_DIM: usize = 16_000;
pub const HALFVEC_MAX_DIM: usize = 16_000;
pub const SPARSEVEC_MAX_DIM: i64 = 1_000_000_000;
pub const SPARSEVEC_MAX_NNZ: usize = 16_000;
/// Most non-zero elements of a sparsevec in an HNSW index (pgvector's).
pub const SPARSEVEC_HNSW_MAX_NNZ: usize = 1_000;

/// pgvector's error for a sparsevec an HNSW index cannot hold.
pub fn sparsevec_hnsw_nnz_error() -> crate::error::PgError {
    crate::error::PgError::new(
        "54000",
        format!(
            "sparsevec cannot have more than {SPARSEVEC_HNSW_MAX_NNZ} non-zero elements for hnsw index"
        ),
    )
}

/// The number of non-zero elements of a sparsevec in its stored form.
pub fn sparsevec_nnz(b: &[u8]) -> usize {
    b.get(4..8)
        .map_or(0, |n| u32::from_le_bytes(n.try_into().unwrap()) as usize)
}

/// The four vector-like types, as named in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Vector,
    HalfVec,
    SparseVec,
    Bit,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Vector => "vector",
            Kind::HalfVec => "halfvec",
            Kind::SparseVec => "sparsevec",
            Kind::Bit => "bit",
        }
    }
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "vector" => Kind::Vector,
            "halfvec" => Kind::HalfVec,
            "sparsevec" => Kind::SparseVec,
            "bit" | "varbit" => Kind::Bit,
            _ => return None,
        })
    }
}

mod code {
    pub const DATA_EXCEPTION: &str = "22000";
    pub const INVALID_TEXT: &str = "22P02";
    pub const OUT_OF_RANGE: &str = "22003";
    pub const PROGRAM_LIMIT: &str = "54000";
    pub const INVALID_PARAMETER: &str = "22023";
    pub const NULL_NOT_ALLOWED: &str = "22004";
    pub const BINARY_FORMAT: &str = "22P03";
    pub const STRING_LENGTH: &str = "22026";
}

pub fn data_error(msg: impl Into<String>) -> PgError {
    PgError::new(code::DATA_EXCEPTION, msg)
}

fn syntax(kind: &str, lit: &str) -> PgError {
    PgError::new(
        code::INVALID_TEXT,
        format!("invalid input syntax for type {kind}: \"{lit}\""),
    )
}

/// "different vector dimensions 3 and 2" (22000).
pub fn dims_mismatch(kind: Kind, a: usize, b: usize) -> PgError {
    if kind == Kind::Bit {
        data_error(format!("different bit lengths {a} and {b}"))
    } else {
        data_error(format!("different {} dimensions {a} and {b}", kind.name()))
    }
}

/// Check a typmod (`vector(n)`) as pgvector's typmod_in does.
pub fn check_typmod(kind: Kind, n: i64) -> PgResult<u32> {
    let max = match kind {
        Kind::Vector => VECTOR_MAX_DIM as i64,
        Kind::HalfVec => HALFVEC_MAX_DIM as i64,
        Kind::SparseVec => SPARSEVEC_MAX_DIM,
        Kind::Bit => 83_886_080,
    };
    if kind == Kind::Bit {
        if n < 1 {
            return Err(PgError::new(
                code::INVALID_PARAMETER,
                "length for type bit must be at least 1",
            ));
        }
        if n > max {
            return Err(PgError::new(
                code::INVALID_PARAMETER,
                format!("length for type bit cannot exceed {max}"),
            ));
        }
        return Ok(n as u32);
    }
    if n < 1 {
        return Err(PgError::new(
            code::INVALID_PARAMETER,
            format!("dimensions for type {} must be at least 1", kind.name()),
        ));
    }
    if n > max {
        return Err(PgError::new(
            code::INVALID_PARAMETER,
            format!("dimensions for type {} cannot exceed {max}", kind.name()),
        ));
    }
    Ok(n as u32)
}

/// "expected 3 dimensions, not 2" when a value does not fit its column's typmod.
pub fn check_expected_dim(typmod: Option<u32>, dim: usize) -> PgResult<()> {
    match typmod {
        Some(t) if t as usize != dim => {
            Err(data_error(format!("expected {t} dimensions, not {dim}")))
        }
        _ => Ok(()),
    }
}

fn check_dim(kind: Kind, dim: usize) -> PgResult<()> {
    if dim < 1 {
        return Err(data_error(format!(
            "{} must have at least 1 dimension",
            kind.name()
        )));
    }
    let max = if kind == Kind::HalfVec {
        HALFVEC_MAX_DIM
    } else {
        VECTOR_MAX_DIM
    };
    if dim > max {
        return Err(PgError::new(
            code::PROGRAM_LIMIT,
            format!("{} cannot have more than {max} dimensions", kind.name()),
        ));
    }
    Ok(())
}

/// NaN and infinities are not vector elements.
pub fn check_element(kind: Kind, v: f32) -> PgResult<()> {
    if v.is_nan() {
        return Err(data_error(format!("NaN not allowed in {}", kind.name())));
    }
    if v.is_infinite() {
        return Err(data_error(format!(
            "infinite value not allowed in {}",
            kind.name()
        )));
    }
    Ok(())
}

/// pgvector's whitespace: space, \t, \n, \r, \v, \f.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    i
}

/// Length of the number `strtof` would read at the start of `b` (0 if none).
fn float_token_len(b: &[u8]) -> usize {
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
fn read_float(b: &[u8]) -> Option<(f32, usize, bool)> {
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
fn parse_dense(kind: Kind, lit: &str, typmod: Option<u32>) -> PgResult<Vec<f32>> {
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
        check_dense(Kind::Vector, &v, typmod)?;
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

fn check_sparse_dim(dim: i64) -> PgResult<()> {
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

fn check_nnz(nnz: usize) -> PgResult<()> {
    if nnz > SPARSEVEC_MAX_NNZ {
        return Err(PgError::new(
            code::PROGRAM_LIMIT,
            format!("sparsevec cannot have more than {SPARSEVEC_MAX_NNZ} non-zero elements"),
        ));
    }
    Ok(())
}

fn read_long(b: &[u8]) -> Option<(i64, usize)> {
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
            if overflow {
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

/// A bit string: its length and bytes, most significant bit first (PostgreSQL's layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Bits {
    pub len: u32,
    pub data: Vec<u8>,
}

impl Bits {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + self.data.len());
        b.extend_from_slice(&self.len.to_le_bytes());
        b.extend_from_slice(&self.data);
        b
    }
    pub fn from_bytes(b: &[u8]) -> Bits {
        Bits {
            len: u32::from_le_bytes(b[0..4].try_into().unwrap()),
            data: b[4..].to_vec(),
        }
    }
    pub fn from_bools(bits: impl IntoIterator<Item = bool>) -> Bits {
        let mut data = Vec::new();
        let mut len = 0u32;
        for (i, b) in bits.into_iter().enumerate() {
            if i % 8 == 0 {
                data.push(0);
            }
            if b {
                *data.last_mut().unwrap() |= 0x80 >> (i % 8);
            }
            len += 1;
        }
        Bits { len, data }
    }
    pub fn get(&self, i: usize) -> bool {
        self.data[i / 8] & (0x80 >> (i % 8)) != 0
    }
}

/// PostgreSQL's bit_in: `0101`, `B0101` or `X1F`; a bit(n) typmod requires exactly n bits.
pub fn parse_bits(lit: &str, typmod: Option<u32>) -> PgResult<Bits> {
    let (hex, body) = match lit.as_bytes().first() {
        Some(b'b' | b'B') => (false, &lit[1..]),
        Some(b'x' | b'X') => (true, &lit[1..]),
        _ => (false, lit),
    };
    let mut bools = Vec::with_capacity(body.len() * if hex { 4 } else { 1 });
    for c in body.chars() {
        if hex {
            let d = c.to_digit(16).ok_or_else(|| {
                PgError::new(
                    code::INVALID_TEXT,
                    format!("\"{c}\" is not a valid hexadecimal digit"),
                )
            })?;
            for s in (0..4).rev() {
                bools.push(d >> s & 1 == 1);
            }
        } else {
            match c {
                '0' => bools.push(false),
                '1' => bools.push(true),
                _ => {
                    return Err(PgError::new(
                        code::INVALID_TEXT,
                        format!("\"{c}\" is not a valid binary digit"),
                    ));
                }
            }
        }
    }
    if let Some(n) = typmod {
        if bools.len() != n as usize {
            return Err(PgError::new(
                code::STRING_LENGTH,
                format!(
                    "bit string length {} does not match type bit({n})",
                    bools.len()
                ),
            ));
        }
    }
    Ok(Bits::from_bools(bools))
}

pub fn format_bits(b: &Bits) -> String {
    (0..b.len as usize)
        .map(|i| if b.get(i) { '1' } else { '0' })
        .collect()
}

// ---- binary (wire) forms, big-endian as pgvector's send/recv ----------------

fn bin_err(msg: &str) -> PgError {
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

/// binary_quantize: 1 for each element > 0.
pub fn binary_quantize(v: &[f32]) -> Bits {
    Bits::from_bools(v.iter().map(|x| *x > 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_text_round_trips_as_pgvector() {
        let v = parse_vector(" [ 1, 2.5 ,-3e-3, 1.] ", None).unwrap();
        assert_eq!(format_dense(&v), "[1,2.5,-0.003,1]");
        assert_eq!(
            format_dense(&parse_vector("[0.9903416,1e6,-0]", None).unwrap()),
            "[0.9903416,1e+06,-0]"
        );
        let e = parse_vector("[1,2", None).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22P02", "invalid input syntax for type vector: \"[1,2\"")
        );
        let e = parse_vector("1,2]", None).unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("Vector contents must start with \"[\".")
        );
        let e = parse_vector("[1,2] x", None).unwrap_err();
        assert_eq!(e.detail.as_deref(), Some("Junk after closing right brace."));
        assert_eq!(
            parse_vector("[]", None).unwrap_err().message,
            "vector must have at least 1 dimension"
        );
        assert_eq!(
            parse_vector("[4e38]", None).unwrap_err().message,
            "\"4e38\" is out of range for type vector"
        );
        assert_eq!(
            parse_vector("[NaN]", None).unwrap_err().message,
            "NaN not allowed in vector"
        );
        assert_eq!(
            parse_vector("[-inf]", None).unwrap_err().message,
            "infinite value not allowed in vector"
        );
        assert_eq!(
            parse_vector("[1,2]", Some(3)).unwrap_err().message,
            "expected 3 dimensions, not 2"
        );
        assert_eq!(
            parse_halfvec("[65520]", None).unwrap_err().message,
            "\"65520\" is out of range for type halfvec"
        );
    }

    #[test]
    fn sparsevec_text_is_one_based_sorted_without_zeros() {
        let s = parse_sparsevec("{3:2,1:1.5,2:0}/5", None).unwrap();
        assert_eq!(s.indices, vec![0, 2]);
        assert_eq!(format_sparsevec(&s), "{1:1.5,3:2}/5");
        assert_eq!(
            format_sparsevec(&parse_sparsevec("{}/5", None).unwrap()),
            "{}/5"
        );
        assert_eq!(
            parse_sparsevec("{1:1,1:2}/2", None).unwrap_err().message,
            "sparsevec indices must not contain duplicates"
        );
        assert_eq!(
            parse_sparsevec("{3:1}/2", None).unwrap_err().message,
            "sparsevec index out of bounds"
        );
        assert_eq!(
            parse_sparsevec("{1:1}", None)
                .unwrap_err()
                .detail
                .as_deref(),
            Some("Unexpected end of input.")
        );
        let r = sparse_recv(&sparse_send(&s), None).unwrap();
        assert_eq!(r, s);
    }

    #[test]
    fn binary_forms_match_pgvector_layout() {
        let b = dense_send(Kind::Vector, &[1.0, 2.0]);
        assert_eq!(b, vec![0, 2, 0, 0, 63, 128, 0, 0, 64, 0, 0, 0]);
        assert_eq!(dense_recv(Kind::Vector, &b, None).unwrap(), vec![1.0, 2.0]);
        let h = dense_send(Kind::HalfVec, &[1.0]);
        assert_eq!(h, vec![0, 1, 0, 0, 0x3c, 0]);
        let bits = parse_bits("101", Some(3)).unwrap();
        assert_eq!(bits_send(&bits), vec![0, 0, 0, 3, 0b1010_0000]);
        assert_eq!(format_bits(&bits), "101");
        assert_eq!(
            format_bits(&binary_quantize(&[1.0, -1.0, 0.0, 2.0])),
            "1001"
        );
    }
}
