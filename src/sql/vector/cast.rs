//! `grape_cast(x, 'kind', typmod)`: what casts to pgvector's types plan to
//! (see `sql::rewrite::vector_casts`): text, arrays and other vector kinds
//! to a vector kind, with the typmod checked in pgvector's words.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

use super::values::*;
use crate::error::PgError;
use crate::types::vector_arrow::field_kind as vector_arrow_kind;
use crate::vector::{self, Kind, SparseVec};

/// `grape_cast(x, 'kind', typmod)`: text, arrays and other vector kinds to a
/// vector kind, with the typmod checked.
pub(super) fn cast(args: &ScalarFunctionArgs) -> Result<ArrayRef> {
    let n = args.number_rows;
    let target = match &args.args[1] {
        ColumnarValue::Scalar(s) => scalar_string(Some(s)),
        _ => None,
    }
    .ok_or_else(|| DataFusionError::Plan("grape_cast needs a type".into()))?;
    let varbit = target == "varbit";
    let target_kind = Kind::from_name(&target).unwrap();
    let typmod = scalar_i64(&args.args[2], 0)
        .filter(|t| *t >= 0)
        .map(|t| t as u32);
    let field = &args.arg_fields[0];
    let input = args.args[0].to_array(n)?;
    // A float4[] that is not a vector (no vector type in its field) is read
    // as an array, with pgvector's checks for NULLs and dimensions.
    let src_kind = match (kind_of(field), vector_arrow_kind(field)) {
        (Some(Kind::Vector), None) => None,
        (k, _) => k,
    };
    let mut rows: Vec<Option<Val>> = Vec::with_capacity(n);
    // A bit string cast to bit(n) or varbit(n) is padded with zeros or
    // cut to length, as PostgreSQL's explicit bit casts do (text input of
    // the wrong length is still an error).
    let from_bits = src_kind == Some(Kind::Bit);
    let check = |v: Val<'static>| -> std::result::Result<Val<'static>, PgError> {
        let v = match (v, typmod) {
            (Val::Bits(b), Some(t)) if from_bits && (b.len > t || (!varbit && b.len < t)) => {
                Val::Bits(crate::vector::Bits::from_bools(
                    (0..t as usize).map(|i| i < b.len as usize && b.get(i)),
                ))
            }
            (v, _) => v,
        };
        match &v {
            Val::Dense(d) => {
                vector::check_dense(target_kind, d, None)?;
                vector::check_expected_dim(typmod, d.len())?;
            }
            Val::Sparse(s) => vector::check_expected_dim(typmod, s.dim as usize)?,
            Val::Bits(b) => match typmod {
                Some(t) if varbit && b.len > t => {
                    return Err(PgError::new(
                        "22001",
                        format!("bit string too long for type bit varying({t})"),
                    ));
                }
                Some(t) if !varbit && b.len != t => {
                    return Err(PgError::new(
                        "22026",
                        format!("bit string length {} does not match type bit({t})", b.len),
                    ));
                }
                _ => {}
            },
        }
        Ok(v)
    };
    match (src_kind, input.data_type()) {
        (None, dt) if is_text(dt) => {
            let s = datafusion::arrow::compute::cast(&input, &DataType::Utf8)?;
            let s: &StringArray = s.as_string::<i32>();
            for t in s.iter() {
                rows.push(match t {
                    None => None,
                    Some(t) => {
                        let v = match target_kind {
                            Kind::Vector => {
                                Val::Dense(Cow::Owned(vector::parse_vector(t, typmod).map_err(pg)?))
                            }
                            Kind::HalfVec => Val::Dense(Cow::Owned(
                                vector::parse_halfvec(t, typmod).map_err(pg)?,
                            )),
                            Kind::SparseVec => {
                                Val::Sparse(vector::parse_sparsevec(t, typmod).map_err(pg)?)
                            }
                            Kind::Bit => Val::Bits(
                                vector::parse_bits(t.trim(), if varbit { None } else { typmod })
                                    .map_err(pg)?,
                            ),
                        };
                        Some(check(v).map_err(pg)?)
                    }
                });
            }
        }
        // int4/int8 to bit(n): the integer's low n bits.
        (None, DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64)
            if target_kind == Kind::Bit && !varbit =>
        {
            let ints = datafusion::arrow::compute::cast(&input, &DataType::Int64)?;
            let ints = ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for v in ints.iter() {
                rows.push(v.map(|v| Val::Bits(vector::Bits::from_int(v, typmod.unwrap_or(1)))));
            }
        }
        (None, DataType::List(_)) | (None, DataType::LargeList(_)) => {
            if target_kind == Kind::Bit {
                return Err(cannot_cast(field, &target));
            }
            if let DataType::List(item) | DataType::LargeList(item) = input.data_type() {
                if matches!(item.data_type(), DataType::List(_) | DataType::LargeList(_)) {
                    return Err(pg(vector::data_error("array must be 1-D")));
                }
            }
            let list = datafusion::arrow::compute::cast(
                &input,
                &DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            )
            .map_err(|_| pg(vector::data_error("unsupported array type")))?;
            let list = list.as_list::<i32>();
            for i in 0..n {
                if list.is_null(i) {
                    rows.push(None);
                    continue;
                }
                let items = list.value(i);
                let items = items.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                let vals: Vec<Option<f64>> = items.iter().collect();
                let v = vector::from_array(target_kind, &vals, typmod).map_err(pg)?;
                rows.push(Some(match target_kind {
                    Kind::SparseVec => Val::Sparse(SparseVec::from_dense(&v)),
                    _ => Val::Dense(Cow::Owned(v)),
                }));
            }
        }
        (Some(src), _) => {
            let ok = match (src, target_kind) {
                (a, b) if a == b => true,
                (Kind::Bit, _) | (_, Kind::Bit) => false,
                _ => true,
            };
            if !ok {
                return Err(cannot_cast(field, &target));
            }
            let vals = Values::new(&ColumnarValue::Array(input.clone()), field, src)?;
            for i in 0..n {
                let v = match vals.get(i) {
                    None => None,
                    Some(v) => {
                        let v: Val<'static> = match (v, target_kind) {
                            (Val::Dense(d), Kind::SparseVec) => {
                                Val::Sparse(SparseVec::from_dense(&d))
                            }
                            (Val::Sparse(s), Kind::Vector) => Val::Dense(Cow::Owned(s.to_dense())),
                            (Val::Sparse(s), Kind::HalfVec) => {
                                Val::Dense(Cow::Owned(vector::to_half(&s.to_dense()).map_err(pg)?))
                            }
                            (Val::Dense(d), Kind::HalfVec) => {
                                Val::Dense(Cow::Owned(vector::to_half(&d).map_err(pg)?))
                            }
                            (Val::Dense(d), _) => Val::Dense(Cow::Owned(d.into_owned())),
                            (Val::Sparse(s), _) => Val::Sparse(s),
                            (Val::Bits(b), _) => Val::Bits(b),
                        };
                        Some(check(v).map_err(pg)?)
                    }
                };
                rows.push(v);
            }
        }
        _ => return Err(cannot_cast(field, &target)),
    }
    Ok(build(target_kind, rows))
}

fn cannot_cast(field: &Field, target: &str) -> DataFusionError {
    let from = type_names(&[Arc::new(field.clone())]).remove(0);
    pg(PgError::new(
        "42846",
        format!("cannot cast type {from} to {target}"),
    ))
}
