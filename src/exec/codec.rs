//! Row and key encodings.
//!
//! A row key is `[table id u32][order-preserving encoding of the primary key]`
//! (or of the hidden row id), so a table's rows are contiguous in every shard
//! and a key range scan returns them in primary-key order. A row value is the
//! list of its non-null `(column id, value)` pairs, so adding or dropping a
//! column does not rewrite rows.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, SchemaRef, TimeUnit};
use datafusion::common::ScalarValue;
use serde::{Deserialize, Serialize};

use crate::catalog::{ColumnId, Table, TableId};
use crate::error::{PgError, PgResult, codes};

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

    /// Append the order-preserving key encoding of a primary-key value.
    pub fn encode_key(&self, out: &mut Vec<u8>) -> PgResult<()> {
        match self {
            Datum::Null => return Err(PgError::internal("NULL in a key")),
            Datum::Bool(b) => out.push(*b as u8),
            Datum::I16(i) => out.extend_from_slice(&((*i as u16) ^ 0x8000).to_be_bytes()),
            Datum::I32(i) | Datum::Date(i) => {
                out.extend_from_slice(&((*i as u32) ^ 0x8000_0000).to_be_bytes())
            }
            Datum::I64(i) | Datum::Time(i) | Datum::Ts(i) => {
                out.extend_from_slice(&((*i as u64) ^ 0x8000_0000_0000_0000).to_be_bytes())
            }
            Datum::Dec(d) => out.extend_from_slice(&((*d as u128) ^ (1u128 << 127)).to_be_bytes()),
            Datum::F32(f) => out.extend_from_slice(&order_f64(*f as f64).to_be_bytes()),
            Datum::F64(f) => out.extend_from_slice(&order_f64(*f).to_be_bytes()),
            Datum::Text(s) => escape_bytes(s.as_bytes(), out),
            Datum::Bytes(b) => escape_bytes(b, out),
            Datum::Interval(m, d, n) => {
                // Order as PostgreSQL compares intervals: by total duration (30-day months).
                let total = (*m as i128 * 30 + *d as i128) * 86_400_000_000_000 + *n as i128;
                out.extend_from_slice(&((total as u128) ^ (1u128 << 127)).to_be_bytes());
            }
            Datum::List(_) | Datum::Vector(_) | Datum::HalfVec(_) => {
                return Err(PgError::unsupported("an array or vector column in a key"));
            }
        }
        Ok(())
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

fn order_f64(f: f64) -> u64 {
    let f = if f == 0.0 {
        0.0
    } else if f.is_nan() {
        f64::NAN
    } else {
        f
    };
    let bits = f.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Strings and bytes: 0x00 is escaped as 0x00 0xff, and the value ends with 0x00 0x01,
/// so that a prefix sorts before its extensions and composite keys stay ordered.
fn escape_bytes(b: &[u8], out: &mut Vec<u8>) {
    for &c in b {
        out.push(c);
        if c == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

pub fn df_internal(e: impl std::fmt::Display) -> PgError {
    PgError::internal(e.to_string())
}

/// `[table id]` prefix of all keys of a table.
pub fn table_prefix(table: TableId) -> Vec<u8> {
    table.to_be_bytes().to_vec()
}

pub fn encode_key(table: TableId, values: &[Datum]) -> PgResult<Vec<u8>> {
    let mut k = table_prefix(table);
    for v in values {
        v.encode_key(&mut k)?;
    }
    Ok(k)
}

pub fn encode_row(table: &Table, values: &[Datum]) -> PgResult<Vec<u8>> {
    let pairs: Vec<(ColumnId, &Datum)> = table
        .columns
        .iter()
        .zip(values)
        .filter(|(_, v)| !v.is_null())
        .map(|(c, v)| (c.id, v))
        .collect();
    bincode::serialize(&pairs).map_err(df_internal)
}

/// Decode a stored row into values in the table's column order.
pub fn decode_row(table: &Table, bytes: &[u8]) -> PgResult<Vec<Datum>> {
    let pairs: Vec<(ColumnId, Datum)> = bincode::deserialize(bytes).map_err(df_internal)?;
    let mut out = vec![Datum::Null; table.columns.len()];
    for (id, d) in pairs {
        if let Some(pos) = table.columns.iter().position(|c| c.id == id) {
            out[pos] = d;
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(vals: &[Datum]) -> Vec<u8> {
        encode_key(7, vals).unwrap()
    }

    #[test]
    fn keys_sort_like_values() {
        let ints = [i64::MIN, -5, -1, 0, 1, 42, i64::MAX];
        let ks: Vec<_> = ints.iter().map(|i| key(&[Datum::I64(*i)])).collect();
        assert!(ks.windows(2).all(|w| w[0] < w[1]));
        let floats = [
            f64::NEG_INFINITY,
            -2.5,
            -0.0,
            0.0,
            1e-300,
            3.0,
            f64::INFINITY,
        ];
        let ks: Vec<_> = floats.iter().map(|f| key(&[Datum::F64(*f)])).collect();
        assert!(ks.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(key(&[Datum::F64(-0.0)]), key(&[Datum::F64(0.0)]));
        let texts = ["", "a", "a\0", "a\0b", "ab", "b"];
        let ks: Vec<_> = texts
            .iter()
            .map(|t| key(&[Datum::Text(t.to_string())]))
            .collect();
        assert!(ks.windows(2).all(|w| w[0] < w[1]), "{ks:?}");
        // Composite keys: the first column decides, a string prefix sorts first.
        assert!(
            key(&[Datum::Text("a".into()), Datum::I32(9)])
                < key(&[Datum::Text("ab".into()), Datum::I32(1)])
        );
    }

    #[test]
    fn rows_round_trip_and_ignore_dropped_columns() {
        use crate::catalog::{Column, SqlType, Table};
        let col = |id, name: &str, ty| Column {
            id,
            name: name.into(),
            ty,
            not_null: false,
            default: None,
            sequence: None,
            identity_always: false,
        };
        let mut t = Table {
            id: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: vec![
                col(1, "a", SqlType::Int8),
                col(2, "b", SqlType::Text),
                col(3, "c", SqlType::Float8),
            ],
            primary_key: vec![1],
            indexes: vec![],
            next_column_id: 4,
        };
        let row = vec![Datum::I64(5), Datum::Null, Datum::F64(1.5)];
        let bytes = encode_row(&t, &row).unwrap();
        assert_eq!(decode_row(&t, &bytes).unwrap(), row);
        t.columns.remove(1);
        t.columns.push(col(4, "d", SqlType::Bool));
        assert_eq!(
            decode_row(&t, &bytes).unwrap(),
            vec![Datum::I64(5), Datum::F64(1.5), Datum::Null]
        );
    }
}
