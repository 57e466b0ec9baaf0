//! `Datum`: one SQL value as GrapeDB holds it in rows, keys and parameters,
//! and its conversion to and from Arrow scalars and batches (DataFusion's
//! form of the same values).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, SchemaRef, TimeUnit};
use datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};

use crate::error::{PgError, PgResult, codes, df_internal};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Datum {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Unscaled decimal; the scale comes from the column type.
    Dec(i128),
    Date(i32),
    /// Microseconds.
    Time(i64),
    /// Microseconds since the epoch (UTC for timestamptz).
    Ts(i64),
    Interval(i32, i32, i64),
    List(Vec<Datum>),
    /// A float4 list without NULLs: a `vector` (or a `real[]` without NULLs).
    Vector(Vec<f32>),
    /// A `halfvec`: f16 bit patterns.
    HalfVec(Vec<u16>),
}

impl Datum {
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    pub fn from_scalar(v: &ScalarValue) -> PgResult<Datum> {
        use ScalarValue as S;
        if v.is_null() {
            return Ok(Datum::Null);
        }
        Ok(match v {
            S::Boolean(Some(b)) => Datum::Bool(*b),
            S::Int8(Some(i)) => Datum::I16(*i as i16),
            S::Int16(Some(i)) => Datum::I16(*i),
            S::Int32(Some(i)) => Datum::I32(*i),
            S::Int64(Some(i)) => Datum::I64(*i),
            S::Float32(Some(f)) => Datum::F32(*f),
            S::Float64(Some(f)) => Datum::F64(*f),
            S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => {
                Datum::Text(s.clone())
            }
            S::Binary(Some(b))
            | S::LargeBinary(Some(b))
            | S::BinaryView(Some(b))
            | S::FixedSizeBinary(_, Some(b)) => Datum::Bytes(b.clone()),
            S::Decimal128(Some(d), _, _) => Datum::Dec(*d),
            S::Date32(Some(d)) => Datum::Date(*d),
            S::Time64Microsecond(Some(t)) => Datum::Time(*t),
            S::Time64Nanosecond(Some(t)) => Datum::Time(*t / 1000),
            S::TimestampMicrosecond(Some(t), _) => Datum::Ts(*t),
            S::TimestampNanosecond(Some(t), _) => Datum::Ts(*t / 1000),
            S::TimestampMillisecond(Some(t), _) => Datum::Ts(*t * 1000),
            S::TimestampSecond(Some(t), _) => Datum::Ts(*t * 1_000_000),
            S::IntervalMonthDayNano(Some(i)) => Datum::Interval(i.months, i.days, i.nanoseconds),
            S::List(arr)
                if datafusion::arrow::array::Array::len(arr.as_ref()) == 1
                    && !datafusion::arrow::array::Array::is_null(arr.as_ref(), 0) =>
            {
                use datafusion::arrow::array::{Array, AsArray};
                use datafusion::arrow::datatypes::{Float16Type, Float32Type};
                let values = arr.value(0);
                if values.null_count() == 0 {
                    match values.data_type() {
                        DataType::Float32 => {
                            return Ok(Datum::Vector(
                                values.as_primitive::<Float32Type>().values().to_vec(),
                            ));
                        }
                        DataType::Float16 => {
                            return Ok(Datum::HalfVec(
                                values
                                    .as_primitive::<Float16Type>()
                                    .values()
                                    .iter()
                                    .map(|h| h.to_bits())
                                    .collect(),
                            ));
                        }
                        _ => {}
                    }
                }
                let mut out = Vec::with_capacity(values.len());
                for i in 0..values.len() {
                    out.push(Datum::from_scalar(
                        &ScalarValue::try_from_array(&values, i).map_err(df_internal)?,
                    )?);
                }
                Datum::List(out)
            }
            other => {
                return Err(PgError::new(
                    codes::DATATYPE_MISMATCH,
                    format!("values of type {} cannot be stored", other.data_type()),
                ));
            }
        })
    }

    pub fn to_scalar(&self, dt: &DataType) -> PgResult<ScalarValue> {
        use ScalarValue as S;
        Ok(match (self, dt) {
            (Datum::Null, dt) => S::try_from(dt).map_err(df_internal)?,
            (Datum::Bool(b), _) => S::Boolean(Some(*b)),
            (Datum::I16(i), _) => S::Int16(Some(*i)),
            (Datum::I32(i), _) => S::Int32(Some(*i)),
            (Datum::I64(i), _) => S::Int64(Some(*i)),
            (Datum::F32(f), _) => S::Float32(Some(*f)),
            (Datum::F64(f), _) => S::Float64(Some(*f)),
            (Datum::Text(s), _) => S::Utf8(Some(s.clone())),
            (Datum::Bytes(b), _) => S::Binary(Some(b.clone())),
            (Datum::Dec(d), DataType::Decimal128(p, s)) => S::Decimal128(Some(*d), *p, *s),
            (Datum::Date(d), _) => S::Date32(Some(*d)),
            (Datum::Time(t), _) => S::Time64Microsecond(Some(*t)),
            (Datum::Ts(t), DataType::Timestamp(TimeUnit::Microsecond, tz)) => {
                S::TimestampMicrosecond(Some(*t), tz.clone())
            }
            (Datum::Interval(m, d, n), _) => {
                S::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(*m, *d, *n)))
            }
            (Datum::Vector(v), DataType::List(field)) => one_list(
                field,
                &datafusion::arrow::array::Float32Array::from(v.clone()),
            )?,
            (Datum::HalfVec(v), DataType::List(field)) => {
                let arr: datafusion::arrow::array::Float16Array =
                    v.iter().map(|b| Some(half::f16::from_bits(*b))).collect();
                one_list(field, &arr)?
            }
            (Datum::List(items), DataType::List(field)) => {
                let scalars = items
                    .iter()
                    .map(|d| d.to_scalar(field.data_type()))
                    .collect::<PgResult<Vec<_>>>()?;
                S::List(ScalarValue::new_list(&scalars, field.data_type(), true))
            }
            (d, dt) => {
                return Err(PgError::internal(format!(
                    "stored value {d:?} does not fit type {dt}"
                )));
            }
        })
    }
}

/// A one-row list scalar of `items`, cast to the list's element type.
fn one_list(
    field: &datafusion::arrow::datatypes::FieldRef,
    items: &dyn datafusion::arrow::array::Array,
) -> PgResult<ScalarValue> {
    let arr = datafusion::arrow::compute::cast(items, field.data_type()).map_err(df_internal)?;
    Ok(ScalarValue::List(Arc::new(
        datafusion::arrow::array::ListArray::new(
            field.clone(),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([items.len()]),
            arr,
            None,
        ),
    )))
}

/// Values of row `row` of a batch.
pub fn batch_row(batch: &RecordBatch, row: usize) -> PgResult<Vec<Datum>> {
    batch
        .columns()
        .iter()
        .map(|a| Datum::from_scalar(&ScalarValue::try_from_array(a, row).map_err(df_internal)?))
        .collect()
}

/// Build a batch from rows (each row in `schema` order).
pub fn rows_to_batch(schema: &SchemaRef, rows: &[Vec<Datum>]) -> PgResult<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        let scalars = rows
            .iter()
            .map(|r| r[i].to_scalar(f.data_type()))
            .collect::<PgResult<Vec<_>>>()?;
        let arr = if scalars.is_empty() {
            datafusion::arrow::array::new_empty_array(f.data_type())
        } else {
            ScalarValue::iter_to_array(scalars).map_err(df_internal)?
        };
        let arr = if arr.data_type() != f.data_type() {
            datafusion::arrow::compute::cast(&arr, f.data_type()).map_err(df_internal)?
        } else {
            arr
        };
        columns.push(arr);
    }
    let opts = datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &opts).map_err(df_internal)
}
