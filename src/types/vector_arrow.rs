//! Vector values in Arrow arrays and stored rows.
//!
//! vector is `List<Float32>`, halfvec `List<Float16>`, sparsevec and bit are
//! `Binary` (their storage bytes, see [`crate::vector`]); the field metadata
//! key [`PG_TYPE_KEY`] names the SQL type so the wire and the planner can
//! tell a vector from a `real[]` or a sparsevec from a `bytea`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Float16Array, Float32Array, ListArray, StringArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float16Type, Float32Type};
use half::f16;

use crate::error::{PgError, PgResult};
use crate::types::Datum;
use crate::types::{PG_TYPE_KEY, SqlType};
use crate::vector::{self, Bits, Kind, SparseVec};

/// The SQL name a field's metadata gives it (`vector`, `bit`, ...), if a vector kind.
pub fn field_kind(f: &Field) -> Option<Kind> {
    match f.metadata().get(PG_TYPE_KEY) {
        Some(t) => Kind::from_name(t),
        None => match f.data_type() {
            DataType::List(item) if item.data_type() == &DataType::Float16 => Some(Kind::HalfVec),
            _ => None,
        },
    }
}

pub fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Vector => SqlType::Vector(None).arrow_type(),
        Kind::HalfVec => SqlType::HalfVec(None).arrow_type(),
        Kind::SparseVec | Kind::Bit => DataType::Binary,
    }
}

pub fn metadata(kind: Kind) -> HashMap<String, String> {
    [(PG_TYPE_KEY.to_string(), kind.name().to_string())]
        .into_iter()
        .collect()
}

/// A nullable field of a vector kind, with its metadata.
pub fn field(kind: Kind, name: &str) -> Field {
    Field::new(name, arrow_type(kind), true).with_metadata(metadata(kind))
}

/// Read access to a column of dense vectors (vector or halfvec) row by row.
pub struct Dense<'a> {
    list: &'a ListArray,
    f32s: Option<&'a Float32Array>,
    f16s: Option<&'a Float16Array>,
}

impl<'a> Dense<'a> {
    pub fn new(a: &'a ArrayRef) -> PgResult<Dense<'a>> {
        let list = a.as_list_opt::<i32>().ok_or_else(|| {
            PgError::internal(format!("expected a vector, got {}", a.data_type()))
        })?;
        let values = list.values();
        Ok(Dense {
            list,
            f32s: values.as_primitive_opt::<Float32Type>(),
            f16s: values.as_primitive_opt::<Float16Type>(),
        })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn is_half(&self) -> bool {
        self.f16s.is_some()
    }

    /// Row `i` as f32 elements (borrowed for vector, converted for halfvec).
    pub fn get(&self, i: usize) -> Option<Cow<'a, [f32]>> {
        if self.list.is_null(i) {
            return None;
        }
        let offs = self.list.value_offsets();
        let (s, e) = (offs[i] as usize, offs[i + 1] as usize);
        if let Some(f) = self.f32s {
            return Some(Cow::Borrowed(&f.values()[s..e]));
        }
        if let Some(h) = self.f16s {
            return Some(Cow::Owned(
                h.values()[s..e].iter().map(|x| x.to_f32()).collect(),
            ));
        }
        None
    }
}

/// Build a vector (or halfvec) column from rows.
pub fn dense_array(kind: Kind, rows: &[Option<Vec<f32>>]) -> ArrayRef {
    let lengths = rows.iter().map(|r| r.as_ref().map_or(0, |v| v.len()));
    let offsets = OffsetBuffer::from_lengths(lengths);
    let nulls: Vec<bool> = rows.iter().map(|r| r.is_some()).collect();
    let flat = rows.iter().flatten().flat_map(|v| v.iter().copied());
    let (values, item): (ArrayRef, DataType) = if kind == Kind::HalfVec {
        (
            Arc::new(Float16Array::from_iter_values(flat.map(f16::from_f32))),
            DataType::Float16,
        )
    } else {
        (
            Arc::new(Float32Array::from_iter_values(flat)),
            DataType::Float32,
        )
    };
    Arc::new(ListArray::new(
        Arc::new(Field::new("item", item, true)),
        offsets,
        values,
        Some(nulls.into()),
    ))
}

/// Build a sparsevec or bit column from storage bytes.
pub fn bytes_array(rows: &[Option<Vec<u8>>]) -> ArrayRef {
    Arc::new(BinaryArray::from_iter(rows.iter().map(|r| r.as_deref())))
}

/// A stored value of a vector-typed column, from its text form.
pub fn parse_text(ty: &SqlType, s: &str) -> PgResult<Datum> {
    Ok(match ty {
        SqlType::Vector(n) => Datum::Vector(vector::parse_vector(s, *n)?),
        SqlType::HalfVec(n) => Datum::HalfVec(half_bits(&vector::parse_halfvec(s, *n)?)),
        SqlType::SparseVec(n) => Datum::Bytes(vector::parse_sparsevec(s, *n)?.to_bytes()),
        SqlType::Bit(n) => Datum::Bytes(vector::parse_bits(s.trim(), *n)?.to_bytes()),
        SqlType::VarBit(n) => {
            let b = vector::parse_bits(s.trim(), None)?;
            check_varbit(&b, *n)?;
            Datum::Bytes(b.to_bytes())
        }
        other => {
            return Err(PgError::internal(format!(
                "{} is not a vector type",
                other.pg_name()
            )));
        }
    })
}

/// A stored value of a vector-typed column, from its binary wire form.
pub fn recv(ty: &SqlType, raw: &[u8]) -> PgResult<Datum> {
    Ok(match ty {
        SqlType::Vector(n) => Datum::Vector(vector::dense_recv(Kind::Vector, raw, *n)?),
        SqlType::HalfVec(n) => {
            Datum::HalfVec(half_bits(&vector::dense_recv(Kind::HalfVec, raw, *n)?))
        }
        SqlType::SparseVec(n) => Datum::Bytes(vector::sparse_recv(raw, *n)?.to_bytes()),
        SqlType::Bit(n) => Datum::Bytes(vector::bits_recv(raw, *n)?.to_bytes()),
        SqlType::VarBit(n) => {
            let b = vector::bits_recv(raw, None)?;
            check_varbit(&b, *n)?;
            Datum::Bytes(b.to_bytes())
        }
        other => {
            return Err(PgError::internal(format!(
                "{} is not a vector type",
                other.pg_name()
            )));
        }
    })
}

fn check_varbit(b: &Bits, n: Option<u32>) -> PgResult<()> {
    match n {
        Some(n) if b.len > n => Err(PgError::new(
            "22001",
            format!("bit string too long for type bit varying({n})"),
        )),
        _ => Ok(()),
    }
}

/// The text form of a stored vector-kind value.
pub fn datum_text(ty: &SqlType, d: &Datum) -> String {
    match d {
        Datum::Vector(v) => vector::format_dense(v),
        Datum::HalfVec(h) => vector::format_dense(
            &h.iter()
                .map(|b| f16::from_bits(*b).to_f32())
                .collect::<Vec<_>>(),
        ),
        Datum::Bytes(b) if matches!(ty, SqlType::SparseVec(_)) => {
            vector::format_sparsevec(&SparseVec::from_bytes(b))
        }
        Datum::Bytes(b) => vector::format_bits(&Bits::from_bytes(b)),
        _ => String::new(),
    }
}

pub fn half_bits(v: &[f32]) -> Vec<u16> {
    v.iter().map(|x| f16::from_f32(*x).to_bits()).collect()
}

/// A binary-backed kind's array (sparsevec, bit), or an error for a
/// column that only claims the kind.
fn binary(a: &ArrayRef) -> PgResult<&datafusion::arrow::array::BinaryArray> {
    a.as_binary_opt::<i32>().ok_or_else(|| {
        crate::error::PgError::internal(format!("expected a binary array, got {}", a.data_type()))
    })
}

/// The text forms of a vector-kind column, as pgvector prints them.
pub fn text_array(kind: Kind, a: &ArrayRef) -> PgResult<StringArray> {
    Ok(match kind {
        Kind::Vector | Kind::HalfVec => {
            let d = Dense::new(a)?;
            (0..d.len())
                .map(|i| d.get(i).map(|v| vector::format_dense(&v)))
                .collect()
        }
        Kind::SparseVec => binary(a)?
            .iter()
            .map(|b| b.map(|b| vector::format_sparsevec(&SparseVec::from_bytes(b))))
            .collect(),
        Kind::Bit => binary(a)?
            .iter()
            .map(|b| b.map(|b| vector::format_bits(&Bits::from_bytes(b))))
            .collect(),
    })
}

/// The binary wire forms of a vector-kind column (pgvector's send functions).
pub fn send_array(kind: Kind, a: &ArrayRef) -> PgResult<BinaryArray> {
    Ok(match kind {
        Kind::Vector | Kind::HalfVec => {
            let d = Dense::new(a)?;
            (0..d.len())
                .map(|i| d.get(i).map(|v| vector::dense_send(kind, &v)))
                .collect()
        }
        Kind::SparseVec => binary(a)?
            .iter()
            .map(|b| b.map(|b| vector::sparse_send(&SparseVec::from_bytes(b))))
            .collect(),
        Kind::Bit => binary(a)?
            .iter()
            .map(|b| b.map(|b| vector::bits_send(&Bits::from_bytes(b))))
            .collect(),
    })
}
