//! pgvector's value types: vector, halfvec, sparsevec and bit — their text
//! and binary forms (byte-for-byte pgvector's), typmod checks and the errors
//! pgvector raises, in its words and SQLSTATEs.
//!
//! This is the lowest layer of vector support: it knows nothing of Arrow or
//! DataFusion, so the row codec, the HNSW index and the wire encoder can all
//! use it.

//!
//! Files: [`text`] (vector/halfvec text forms), [`sparse`], [`bits`],
//! [`binary`] (send/recv), [`distance`] (kernels).

pub mod binary;
pub mod bits;
pub mod distance;
pub mod sparse;
pub mod text;

pub use binary::*;
pub use bits::*;
pub use sparse::*;
pub use text::*;

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

pub(super) fn syntax(kind: &str, lit: &str) -> PgError {
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

pub fn check_dim(kind: Kind, dim: usize) -> PgResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_order_keys_sort_as_dense_vectors() {
        // Same dimension: dense order element by element.
        let dense: [&[f32]; 8] = [
            &[-3.0, 0.0, 0.0],
            &[-1.0, 5.0, 0.0],
            &[0.0, -2.0, 0.0],
            &[0.0, 0.0, -1.0],
            &[0.0, 0.0, 0.0],
            &[0.0, 0.0, 4.0],
            &[1.0, 1.0, 1.0],
            &[1.0, 2.0, 3.0],
        ];
        let keys: Vec<_> = dense
            .iter()
            .map(|d| SparseVec::from_dense(d).order_key())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        // Equal elements: the smaller dimension first.
        assert!(
            SparseVec::from_dense(&[1.0, 0.0]).order_key()
                < SparseVec::from_dense(&[1.0, 0.0, 0.0]).order_key()
        );
    }

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
