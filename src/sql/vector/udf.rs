//! pgvector's functions and operators as DataFusion scalar UDFs.
//!
//! One implementation ([`VecFn`]) serves every function; the argument fields'
//! metadata says which vector kind each argument is. A text argument (an
//! unknown-typed literal or parameter) is read as the other argument's kind,
//! as PostgreSQL resolves `embedding <-> '[1,2,3]'`.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BinaryArray, Float64Array, Int32Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::values::*;
use crate::error::PgError;
use crate::types::vector_arrow::{self};
use crate::vector::distance::{self, Metric};
use crate::vector::{self, Kind};
/// What a [`VecFn`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A distance operator or function; `negate` turns `<#>` into inner_product.
    Distance {
        metric: Metric,
        negate: bool,
    },
    L2Squared,
    Dims,
    Norm,
    Normalize,
    BinaryQuantize,
    Subvector,
    Add,
    Sub,
    Mul,
    Concat,
    /// `grape_cast(x, 'kind', typmod)`: a cast to a vector kind.
    Cast,
    /// `vector_cmp`, `halfvec_cmp`, `sparsevec_cmp`: btree order, -1/0/1.
    Cmp(Kind),
    /// `grape_sparsevec_order(x)`: bytes that sort as pgvector orders
    /// sparse vectors (what ORDER BY a sparsevec sorts by).
    OrderKey,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct VecFn {
    name: &'static str,
    op: Op,
    signature: Signature,
}

/// The sort key ORDER BY a sparsevec sorts by (`super::order_sparsevecs`).
pub const SPARSE_ORDER_FN: &str = "grape_sparsevec_order";

/// Name of the cast function the SQL rewrite calls for `x::vector(3)`.
pub const CAST_FN: &str = "grape_cast";

pub fn all() -> Vec<ScalarUDF> {
    use Metric::*;
    let d = |name, metric, negate| (name, Op::Distance { metric, negate });
    let list = [
        d("l2_distance", L2, false),
        d("vector_l2_distance", L2, false),
        d("inner_product", NegInnerProduct, true),
        d("vector_negative_inner_product", NegInnerProduct, false),
        d("cosine_distance", Cosine, false),
        d("l1_distance", L1, false),
        d("hamming_distance", Hamming, false),
        d("jaccard_distance", Jaccard, false),
        ("vector_l2_squared_distance", Op::L2Squared),
        ("vector_dims", Op::Dims),
        ("vector_norm", Op::Norm),
        ("l2_norm", Op::Norm),
        ("l2_normalize", Op::Normalize),
        ("binary_quantize", Op::BinaryQuantize),
        ("subvector", Op::Subvector),
        ("vector_add", Op::Add),
        ("vector_sub", Op::Sub),
        ("vector_mul", Op::Mul),
        ("vector_concat", Op::Concat),
        (CAST_FN, Op::Cast),
        ("vector_cmp", Op::Cmp(Kind::Vector)),
        ("halfvec_cmp", Op::Cmp(Kind::HalfVec)),
        ("sparsevec_cmp", Op::Cmp(Kind::SparseVec)),
        (SPARSE_ORDER_FN, Op::OrderKey),
    ];
    list.into_iter()
        .map(|(name, op)| {
            ScalarUDF::new_from_impl(VecFn {
                name,
                op,
                signature: Signature::variadic_any(Volatility::Immutable),
            })
        })
        .collect()
}

/// The UDF computing `metric` as its operator does.
pub fn distance_fn_name(metric: Metric) -> &'static str {
    match metric {
        Metric::L2 => "l2_distance",
        Metric::NegInnerProduct => "vector_negative_inner_product",
        Metric::Cosine => "cosine_distance",
        Metric::L1 => "l1_distance",
        Metric::Hamming => "hamming_distance",
        Metric::Jaccard => "jaccard_distance",
    }
}

/// The metric a distance UDF name computes (`<#>` for the negative inner product).
pub fn metric_of_fn(name: &str) -> Option<Metric> {
    Some(match name {
        "l2_distance" | "vector_l2_distance" => Metric::L2,
        "vector_negative_inner_product" => Metric::NegInnerProduct,
        "cosine_distance" => Metric::Cosine,
        "l1_distance" => Metric::L1,
        "hamming_distance" => Metric::Hamming,
        "jaccard_distance" => Metric::Jaccard,
        _ => return None,
    })
}

pub(super) fn undefined(name: &str, kinds: &[String]) -> DataFusionError {
    pg(PgError::new(
        "42883",
        format!("function {name}({}) does not exist", kinds.join(", ")),
    )
    .with_hint(
        "No function matches the given name and argument types. You might need to add explicit type casts.",
    ))
}

/// The kind the operands of a vector function share.
fn common_kind(name: &str, fields: &[FieldRef]) -> Result<Kind> {
    common_kind_or(name, fields, Kind::Vector)
}

/// [`common_kind`], with the kind untyped literals alone are read as (the
/// one the function is defined for: `hamming_distance('101', '001')` is
/// over bit, as PostgreSQL resolves it to its only candidate).
fn common_kind_or(name: &str, fields: &[FieldRef], untyped: Kind) -> Result<Kind> {
    let kinds: Vec<Option<Kind>> = fields.iter().map(|f| kind_of(f)).collect();
    let first = kinds.iter().flatten().next().copied();
    match first {
        Some(k) => {
            for (f, kk) in fields.iter().zip(&kinds) {
                match kk {
                    Some(other) if *other != k => {
                        return Err(undefined(name, &type_names(fields)));
                    }
                    None if !is_text(f.data_type()) => {
                        return Err(undefined(name, &type_names(fields)));
                    }
                    _ => {}
                }
            }
            Ok(k)
        }
        None => {
            if fields.iter().all(|f| is_text(f.data_type())) {
                Ok(untyped)
            } else {
                Err(undefined(name, &type_names(fields)))
            }
        }
    }
}

/// What untyped literals alone are read as by a distance function.
fn untyped_kind(metric: Metric) -> Kind {
    if matches!(metric, Metric::Hamming | Metric::Jaccard) {
        Kind::Bit
    } else {
        Kind::Vector
    }
}

/// pgvector's btree order: element by element over the shorter length
/// (a sparse vector as its dense expansion), then the shorter first.
fn compare(a: &Val, b: &Val) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    let by_value = |x: f32, y: f32| x.partial_cmp(&y).unwrap_or(Equal);
    let first = match (a, b) {
        (Val::Dense(x), Val::Dense(y)) => x
            .iter()
            .zip(y.iter())
            .map(|(p, q)| by_value(*p, *q))
            .find(|o| *o != Equal),
        (Val::Sparse(x), Val::Sparse(y)) => {
            // The positions where either is non-zero, in order, below the
            // smaller dimension.
            let limit = x.dim.min(y.dim);
            let (mut i, mut j) = (0, 0);
            let mut found = None;
            loop {
                let xi = x.indices.get(i).copied().filter(|&k| k < limit);
                let yj = y.indices.get(j).copied().filter(|&k| k < limit);
                let (p, q) = match (xi, yj) {
                    (None, None) => break,
                    (Some(k), Some(l)) if k == l => {
                        i += 1;
                        j += 1;
                        (x.values[i - 1], y.values[j - 1])
                    }
                    (Some(k), l) if l.is_none_or(|l| k < l) => {
                        i += 1;
                        (x.values[i - 1], 0.0)
                    }
                    _ => {
                        j += 1;
                        (0.0, y.values[j - 1])
                    }
                };
                let o = by_value(p, q);
                if o != Equal {
                    found = Some(o);
                    break;
                }
            }
            found
        }
        _ => None,
    };
    first.unwrap_or_else(|| a.dim().cmp(&b.dim()))
}

fn check_same_dims(kind: Kind, a: &Val, b: &Val) -> Result<()> {
    if a.dim() != b.dim() {
        return Err(pg(vector::dims_mismatch(kind, a.dim(), b.dim())));
    }
    Ok(())
}

/// The distance between two values of `kind` under `metric`.
pub fn distance_of(metric: Metric, a: &Val, b: &Val) -> f64 {
    match (a, b) {
        (Val::Dense(x), Val::Dense(y)) => distance::dense(metric, x, y),
        (Val::Sparse(x), Val::Sparse(y)) => distance::sparse(metric, x, y),
        (Val::Bits(x), Val::Bits(y)) => distance::bits(metric, x, y),
        _ => f64::NAN,
    }
}

impl VecFn {
    /// The result field of this function for argument fields (and constant args).
    fn result(&self, fields: &[FieldRef], scalars: &[Option<&ScalarValue>]) -> Result<Field> {
        let name = self.name;
        let need = |n: usize| -> Result<()> {
            if fields.len() != n {
                Err(undefined(name, &type_names(fields)))
            } else {
                Ok(())
            }
        };
        Ok(match self.op {
            Op::Distance { metric, .. } => {
                need(2)?;
                let k = common_kind_or(name, fields, untyped_kind(metric))?;
                let bit_metric = matches!(metric, Metric::Hamming | Metric::Jaccard);
                if bit_metric != (k == Kind::Bit) {
                    return Err(undefined(name, &type_names(fields)));
                }
                Field::new(name, DataType::Float64, true)
            }
            Op::L2Squared => {
                need(2)?;
                common_kind(name, fields)?;
                Field::new(name, DataType::Float64, true)
            }
            Op::OrderKey => {
                need(1)?;
                if common_kind(name, fields)? != Kind::SparseVec {
                    return Err(undefined(name, &type_names(fields)));
                }
                Field::new(name, DataType::Binary, true)
            }
            Op::Dims => {
                need(1)?;
                common_kind(name, fields)?;
                Field::new(name, DataType::Int32, true)
            }
            Op::Norm => {
                need(1)?;
                common_kind(name, fields)?;
                Field::new(name, DataType::Float64, true)
            }
            Op::Normalize | Op::Add | Op::Sub | Op::Mul | Op::Concat => {
                let k = common_kind(name, fields)?;
                vector_arrow::field(k, name)
            }
            Op::Subvector => {
                need(3)?;
                let k = common_kind(name, &fields[..1])?;
                vector_arrow::field(k, name)
            }
            Op::BinaryQuantize => {
                need(1)?;
                common_kind(name, fields)?;
                vector_arrow::field(Kind::Bit, name)
            }
            Op::Cmp(kind) => {
                need(2)?;
                if common_kind_or(name, fields, kind)? != kind {
                    return Err(undefined(name, &type_names(fields)));
                }
                Field::new(name, DataType::Int32, true)
            }
            Op::Cast => {
                let target = scalar_string(scalars.get(1).copied().flatten())
                    .and_then(|s| Kind::from_name(&s))
                    .ok_or_else(|| DataFusionError::Plan("grape_cast needs a type".into()))?;
                vector_arrow::field(target, name)
            }
        })
    }
}

impl ScalarUDFImpl for VecFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(
            "use return_field_from_args".into(),
        ))
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(
            self.result(args.arg_fields, args.scalar_arguments)?,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let fields = &args.arg_fields;
        let name = self.name;
        let out: ArrayRef = match self.op {
            Op::Distance { metric, negate } => {
                let k = common_kind_or(name, fields, untyped_kind(metric))?;
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let b = Values::new(&args.args[1], &fields[1], k)?;
                let mut res = Vec::with_capacity(n);
                for i in 0..n {
                    res.push(match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => {
                            check_same_dims(k, &x, &y)?;
                            let d = distance_of(metric, &x, &y);
                            Some(if negate { -d } else { d })
                        }
                        _ => None,
                    });
                }
                Arc::new(Float64Array::from(res))
            }
            Op::L2Squared => {
                let k = common_kind(name, fields)?;
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let b = Values::new(&args.args[1], &fields[1], k)?;
                let mut res = Vec::with_capacity(n);
                for i in 0..n {
                    res.push(match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => {
                            check_same_dims(k, &x, &y)?;
                            let d = distance_of(Metric::L2, &x, &y);
                            Some(d * d)
                        }
                        _ => None,
                    });
                }
                Arc::new(Float64Array::from(res))
            }
            Op::Cmp(kind) => {
                let a = Values::new(&args.args[0], &fields[0], kind)?;
                let b = Values::new(&args.args[1], &fields[1], kind)?;
                let res: Vec<Option<i32>> = (0..n)
                    .map(|i| match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => Some(compare(&x, &y) as i32),
                        _ => None,
                    })
                    .collect();
                Arc::new(Int32Array::from(res))
            }
            Op::OrderKey => {
                let a = Values::new(&args.args[0], &fields[0], Kind::SparseVec)?;
                let keys: Vec<Option<Vec<u8>>> = (0..n)
                    .map(|i| match a.get(i) {
                        Some(Val::Sparse(s)) => Some(s.order_key()),
                        _ => None,
                    })
                    .collect();
                Arc::new(BinaryArray::from_iter(keys))
            }
            Op::Dims => {
                let k = common_kind(name, fields)?;
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let res: Vec<Option<i32>> =
                    (0..n).map(|i| a.get(i).map(|v| v.dim() as i32)).collect();
                Arc::new(Int32Array::from(res))
            }
            Op::Norm => {
                let k = common_kind(name, fields)?;
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let res: Vec<Option<f64>> = (0..n)
                    .map(|i| {
                        a.get(i).map(|v| match v {
                            Val::Dense(d) => distance::norm(&d),
                            Val::Sparse(s) => distance::sparse_norm(&s),
                            Val::Bits(_) => f64::NAN,
                        })
                    })
                    .collect();
                Arc::new(Float64Array::from(res))
            }
            Op::Normalize => {
                let k = common_kind(name, fields)?;
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let mut rows = Vec::with_capacity(n);
                for i in 0..n {
                    rows.push(match a.get(i) {
                        Some(Val::Dense(d)) => {
                            let norm = distance::norm(&d);
                            let v: Vec<f32> = if norm > 0.0 {
                                d.iter().map(|x| (*x as f64 / norm) as f32).collect()
                            } else {
                                d.to_vec()
                            };
                            let v = if k == Kind::HalfVec {
                                vector::to_half(&v).map_err(pg)?
                            } else {
                                v
                            };
                            Some(Val::Dense(Cow::Owned(v)))
                        }
                        Some(Val::Sparse(mut s)) => {
                            let norm = distance::sparse_norm(&s);
                            if norm > 0.0 {
                                for x in s.values.iter_mut() {
                                    *x = (*x as f64 / norm) as f32;
                                }
                                // Entries that became zero are dropped.
                                let (idx, vals): (Vec<u32>, Vec<f32>) = s
                                    .indices
                                    .iter()
                                    .zip(&s.values)
                                    .filter(|(_, v)| **v != 0.0)
                                    .map(|(i, v)| (*i, *v))
                                    .unzip();
                                s.indices = idx;
                                s.values = vals;
                            }
                            Some(Val::Sparse(s))
                        }
                        other => other.map(|v| match v {
                            Val::Bits(b) => Val::Bits(b),
                            _ => unreachable!(),
                        }),
                    });
                }
                build(k, rows)
            }
            Op::BinaryQuantize => {
                let k = common_kind(name, fields)?;
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let rows: Vec<Option<Val>> = (0..n)
                    .map(|i| {
                        a.get(i).map(|v| match v {
                            Val::Dense(d) => Val::Bits(vector::binary_quantize(&d)),
                            Val::Sparse(s) => Val::Bits(vector::binary_quantize(&s.to_dense())),
                            Val::Bits(b) => Val::Bits(b),
                        })
                    })
                    .collect();
                build(Kind::Bit, rows)
            }
            Op::Subvector => {
                let k = common_kind(name, &fields[..1])?;
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let mut rows = Vec::with_capacity(n);
                for i in 0..n {
                    let (Some(v), Some(start), Some(count)) = (
                        a.get(i),
                        scalar_i64(&args.args[1], i),
                        scalar_i64(&args.args[2], i),
                    ) else {
                        rows.push(None);
                        continue;
                    };
                    let Val::Dense(d) = v else {
                        return Err(undefined(name, &type_names(fields)));
                    };
                    let end = start.saturating_add(count);
                    let s = start.max(1);
                    let e = end.min(d.len() as i64 + 1);
                    if count < 1 || e <= s {
                        return Err(pg(vector::data_error(format!(
                            "{} must have at least 1 dimension",
                            k.name()
                        ))));
                    }
                    rows.push(Some(Val::Dense(Cow::Owned(
                        d[(s - 1) as usize..(e - 1) as usize].to_vec(),
                    ))));
                }
                build(k, rows)
            }
            Op::Add | Op::Sub | Op::Mul | Op::Concat => {
                let k = common_kind(name, fields)?;
                if !matches!(k, Kind::Vector | Kind::HalfVec) {
                    return Err(undefined(name, &type_names(fields)));
                }
                let a = Values::new(&args.args[0], &fields[0], k)?;
                let b = Values::new(&args.args[1], &fields[1], k)?;
                let mut rows = Vec::with_capacity(n);
                for i in 0..n {
                    let (Some(Val::Dense(x)), Some(Val::Dense(y))) = (a.get(i), b.get(i)) else {
                        rows.push(None);
                        continue;
                    };
                    let v: Vec<f32> = match self.op {
                        Op::Concat => {
                            let mut v = x.to_vec();
                            v.extend_from_slice(&y);
                            if v.len() > vector::VECTOR_MAX_DIM {
                                return Err(pg(PgError::new(
                                    "54000",
                                    format!(
                                        "{} cannot have more than {} dimensions",
                                        k.name(),
                                        vector::VECTOR_MAX_DIM
                                    ),
                                )));
                            }
                            v
                        }
                        op => {
                            if x.len() != y.len() {
                                return Err(pg(vector::dims_mismatch(k, x.len(), y.len())));
                            }
                            let f = |p: f32, q: f32| match op {
                                Op::Add => p + q,
                                Op::Sub => p - q,
                                _ => p * q,
                            };
                            let v: Vec<f32> =
                                x.iter().zip(y.iter()).map(|(p, q)| f(*p, *q)).collect();
                            for (r, (p, q)) in v.iter().zip(x.iter().zip(y.iter())) {
                                if r.is_infinite() {
                                    return Err(pg(PgError::new(
                                        "22003",
                                        "value out of range: overflow",
                                    )));
                                }
                                if op == Op::Mul && *r == 0.0 && *p != 0.0 && *q != 0.0 {
                                    return Err(pg(PgError::new(
                                        "22003",
                                        "value out of range: underflow",
                                    )));
                                }
                            }
                            if k == Kind::HalfVec {
                                // pgvector checks the half-precision result.
                                for (r, (p, q)) in v.iter().zip(x.iter().zip(y.iter())) {
                                    let h = half::f16::from_f32(*r);
                                    if h.is_infinite() {
                                        return Err(pg(PgError::new(
                                            "22003",
                                            "value out of range: overflow",
                                        )));
                                    }
                                    if op == Op::Mul && h.to_f32() == 0.0 && *p != 0.0 && *q != 0.0
                                    {
                                        return Err(pg(PgError::new(
                                            "22003",
                                            "value out of range: underflow",
                                        )));
                                    }
                                }
                                vector::to_half(&v).map_err(pg)?
                            } else {
                                v
                            }
                        }
                    };
                    rows.push(Some(Val::Dense(Cow::Owned(v))));
                }
                build(k, rows)
            }
            Op::Cast => super::cast::cast(&args)?,
        };
        Ok(ColumnarValue::Array(out))
    }
}
