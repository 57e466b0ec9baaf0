//! Vector arguments as the UDFs read them (a column of one kind, or text
//! read as the other argument's kind) and results built back into Arrow.

use std::borrow::Cow;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::ColumnarValue;

use crate::error::PgError;
use crate::types::vector_arrow::{self, Dense};
use crate::vector::{self, Bits, Kind, SparseVec};

pub(super) fn pg(e: PgError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The vector kind of an argument field, if it is one.
pub(super) fn kind_of(f: &Field) -> Option<Kind> {
    vector_arrow::field_kind(f).or(match f.data_type() {
        DataType::List(item) if item.data_type() == &DataType::Float32 => Some(Kind::Vector),
        _ => None,
    })
}

pub(super) fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

pub(super) fn type_names(fields: &[FieldRef]) -> Vec<String> {
    fields
        .iter()
        .map(|f| match kind_of(f) {
            Some(k) => k.name().to_string(),
            None if is_text(f.data_type()) => "unknown".into(),
            None => crate::sql::errors::pg_type_name(&f.data_type().to_string()).to_string(),
        })
        .collect()
}

/// One value of a vector kind.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    Dense(Cow<'a, [f32]>),
    Sparse(SparseVec),
    Bits(Bits),
}

impl Val<'_> {
    pub(super) fn dim(&self) -> usize {
        match self {
            Val::Dense(v) => v.len(),
            Val::Sparse(s) => s.dim as usize,
            Val::Bits(b) => b.len as usize,
        }
    }
}

/// An argument column read as `kind`.
pub(super) enum Values {
    Const(Option<Val<'static>>),
    Array(ArrayRef, Kind),
    Parsed(Vec<Option<Val<'static>>>),
}

pub(super) fn parse_as(kind: Kind, s: &str) -> std::result::Result<Val<'static>, PgError> {
    Ok(match kind {
        Kind::Vector => Val::Dense(Cow::Owned(vector::parse_vector(s, None)?)),
        Kind::HalfVec => Val::Dense(Cow::Owned(vector::parse_halfvec(s, None)?)),
        Kind::SparseVec => Val::Sparse(vector::parse_sparsevec(s, None)?),
        Kind::Bit => Val::Bits(vector::parse_bits(s, None)?),
    })
}

pub(super) fn read_array(a: &ArrayRef, kind: Kind, i: usize) -> Option<Val<'_>> {
    if a.is_null(i) {
        return None;
    }
    match kind {
        Kind::Vector | Kind::HalfVec => Dense::new(a).ok()?.get(i).map(Val::Dense),
        Kind::SparseVec => Some(Val::Sparse(SparseVec::from_bytes(
            a.as_binary::<i32>().value(i),
        ))),
        Kind::Bit => Some(Val::Bits(Bits::from_bytes(a.as_binary::<i32>().value(i)))),
    }
}

impl Values {
    pub(super) fn new(arg: &ColumnarValue, field: &Field, kind: Kind) -> Result<Values> {
        let text = is_text(field.data_type()) && kind_of(field).is_none();
        match arg {
            ColumnarValue::Scalar(s) => {
                if s.is_null() {
                    return Ok(Values::Const(None));
                }
                if text {
                    let st = s.to_string();
                    return Ok(Values::Const(Some(parse_as(kind, &st).map_err(pg)?)));
                }
                let a = s.to_array_of_size(1)?;
                let v = read_array(&a, kind, 0).map(|v| match v {
                    Val::Dense(d) => Val::Dense(Cow::Owned(d.into_owned())),
                    Val::Sparse(s) => Val::Sparse(s),
                    Val::Bits(b) => Val::Bits(b),
                });
                Ok(Values::Const(v))
            }
            ColumnarValue::Array(a) => {
                if text {
                    let strings = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
                    let strings = strings.as_string::<i32>();
                    let mut out = Vec::with_capacity(strings.len());
                    for s in strings.iter() {
                        out.push(match s {
                            Some(s) => Some(parse_as(kind, s).map_err(pg)?),
                            None => None,
                        });
                    }
                    return Ok(Values::Parsed(out));
                }
                Ok(Values::Array(a.clone(), kind))
            }
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<Val<'_>> {
        match self {
            Values::Const(v) => v.as_ref().map(|v| match v {
                Val::Dense(d) => Val::Dense(Cow::Borrowed(d.as_ref())),
                other => other.clone(),
            }),
            Values::Parsed(v) => v[i].as_ref().map(|v| match v {
                Val::Dense(d) => Val::Dense(Cow::Borrowed(d.as_ref())),
                other => other.clone(),
            }),
            Values::Array(a, k) => read_array(a, *k, i),
        }
    }
}

pub(super) fn scalar_i64(arg: &ColumnarValue, i: usize) -> Option<i64> {
    match arg {
        ColumnarValue::Scalar(s) => {
            if s.is_null() {
                None
            } else {
                s.cast_to(&DataType::Int64).ok().and_then(|v| match v {
                    ScalarValue::Int64(x) => x,
                    _ => None,
                })
            }
        }
        ColumnarValue::Array(a) => {
            let c = datafusion::arrow::compute::cast(a, &DataType::Int64).ok()?;
            let c = c.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            if c.is_null(i) { None } else { Some(c.value(i)) }
        }
    }
}

pub(super) fn scalar_string(v: Option<&ScalarValue>) -> Option<String> {
    match v {
        Some(ScalarValue::Utf8(Some(s)))
        | Some(ScalarValue::LargeUtf8(Some(s)))
        | Some(ScalarValue::Utf8View(Some(s))) => Some(s.clone()),
        _ => None,
    }
}

/// Build an output column of `kind` from computed values.
pub(super) fn build(kind: Kind, rows: Vec<Option<Val>>) -> ArrayRef {
    match kind {
        Kind::Vector | Kind::HalfVec => {
            let dense: Vec<Option<Vec<f32>>> = rows
                .into_iter()
                .map(|r| match r {
                    Some(Val::Dense(d)) => Some(d.into_owned()),
                    Some(Val::Sparse(s)) => Some(s.to_dense()),
                    _ => None,
                })
                .collect();
            vector_arrow::dense_array(kind, &dense)
        }
        Kind::SparseVec => {
            let b: Vec<Option<Vec<u8>>> = rows
                .into_iter()
                .map(|r| match r {
                    Some(Val::Sparse(s)) => Some(s.to_bytes()),
                    Some(Val::Dense(d)) => Some(SparseVec::from_dense(&d).to_bytes()),
                    _ => None,
                })
                .collect();
            vector_arrow::bytes_array(&b)
        }
        Kind::Bit => {
            let b: Vec<Option<Vec<u8>>> = rows
                .into_iter()
                .map(|r| match r {
                    Some(Val::Bits(b)) => Some(b.to_bytes()),
                    _ => None,
                })
                .collect();
            vector_arrow::bytes_array(&b)
        }
    }
}
