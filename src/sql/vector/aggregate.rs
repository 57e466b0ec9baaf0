//! `avg` and `sum` over vector and halfvec, as pgvector's aggregates.
//!
//! DataFusion resolves an aggregate by name, so these wrap its built-in
//! `avg` and `sum`: a vector or halfvec argument is aggregated here,
//! anything else goes to the built-in unchanged.
//!
//! As pgvector: `avg` accumulates in float8 and rounds once at the end;
//! `sum` adds in float4 (its `vector_add`), erroring on overflow; both skip
//! NULLs, return NULL over no rows, and reject mixed dimensions with
//! "expected N dimensions, not M".

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use crate::error::PgError;
use crate::types::vector_arrow::{self, Dense};
use crate::vector::{self, Kind};

/// The built-in `avg`/`sum`, taught vectors.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct VectorAware {
    inner: Arc<AggregateUDF>,
    avg: bool,
    signature: Signature,
}

/// `avg` and `sum` to register over DataFusion's.
pub fn all() -> Vec<AggregateUDF> {
    use datafusion::functions_aggregate::{average::avg_udaf, sum::sum_udaf};
    [(avg_udaf(), true), (sum_udaf(), false)]
        .into_iter()
        .map(|(inner, avg)| {
            AggregateUDF::new_from_impl(VectorAware {
                inner,
                avg,
                signature: Signature::user_defined(Volatility::Immutable),
            })
        })
        .collect()
}

/// The vector kind of a dense-vector argument type.
fn dense_kind(t: &DataType) -> Option<Kind> {
    match t {
        DataType::List(item) if item.data_type() == &DataType::Float32 => Some(Kind::Vector),
        DataType::List(item) if item.data_type() == &DataType::Float16 => Some(Kind::HalfVec),
        _ => None,
    }
}

fn field_dense_kind(f: &Field) -> Option<Kind> {
    match vector_arrow::field_kind(f) {
        Some(k @ (Kind::Vector | Kind::HalfVec)) => Some(k),
        Some(_) => None,
        None => dense_kind(f.data_type()),
    }
}

fn pg(e: PgError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

impl AggregateUDFImpl for VectorAware {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if let [t] = arg_types {
            if dense_kind(t).is_some() {
                return Ok(arg_types.to_vec());
            }
        }
        let fields: Vec<FieldRef> = arg_types
            .iter()
            .map(|t| Arc::new(Field::new("", t.clone(), true)))
            .collect();
        Ok(fields_with_udf(&fields, self.inner.as_ref())?
            .iter()
            .map(|f| f.data_type().clone())
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] if dense_kind(t).is_some() => Ok(t.clone()),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        match arg_fields {
            [f] if field_dense_kind(f).is_some() => {
                let kind = field_dense_kind(f).unwrap();
                Ok(Arc::new(vector_arrow::field(kind, self.name())))
            }
            _ => self.inner.return_field(arg_fields),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match args.expr_fields {
            [f] if field_dense_kind(f).is_some() && args.is_distinct => Err(pg(
                PgError::unsupported(format!("{}(DISTINCT) over vectors", self.name())),
            )),
            [f] if field_dense_kind(f).is_some() => Ok(Box::new(VecAccumulator {
                kind: field_dense_kind(f).unwrap(),
                avg: self.avg,
                sum: Vec::new(),
                count: 0,
            })),
            _ => self.inner.accumulator(args),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        match args.input_fields {
            [f] if field_dense_kind(f).is_some() => Ok(vec![
                Arc::new(Field::new(
                    format!("{}[sum]", args.name),
                    DataType::new_list(DataType::Float64, true),
                    true,
                )),
                Arc::new(Field::new(
                    format!("{}[count]", args.name),
                    DataType::Int64,
                    false,
                )),
            ]),
            _ => self.inner.state_fields(args),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        match args.expr_fields {
            [f] if field_dense_kind(f).is_some() => false,
            _ => self.inner.groups_accumulator_supported(args),
        }
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match args.expr_fields {
            [f] if field_dense_kind(f).is_some() => self.accumulator(args),
            _ => self.inner.create_sliding_accumulator(args),
        }
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        match dense_kind(data_type) {
            Some(_) => ScalarValue::try_from(data_type),
            None => self.inner.default_value(data_type),
        }
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }
}

/// Running sum (float8 for avg, float4 steps for sum, kept as f64) and count.
#[derive(Debug)]
struct VecAccumulator {
    kind: Kind,
    avg: bool,
    sum: Vec<f64>,
    count: i64,
}

impl VecAccumulator {
    /// Add (`sign` 1) or take back (`sign` -1, moving windows) one vector.
    fn add(&mut self, v: &[f64], sign: f64) -> Result<()> {
        if self.count == 0 {
            self.sum = vec![0.0; v.len()];
        } else if v.len() != self.sum.len() {
            // avg is vector_accum's check, sum is vector_add's.
            let msg = if self.avg {
                format!("expected {} dimensions, not {}", self.sum.len(), v.len())
            } else {
                format!(
                    "different {} dimensions {} and {}",
                    self.kind.name(),
                    self.sum.len(),
                    v.len()
                )
            };
            return Err(pg(PgError::new("22000", msg)));
        }
        let half = self.kind == Kind::HalfVec;
        for (s, x) in self.sum.iter_mut().zip(v) {
            *s = if self.avg {
                *s + sign * x
            } else {
                // vector_add/halfvec_add: float4 (or half) per step,
                // overflow is an error.
                let mut r = *s as f32 + (sign * x) as f32;
                if half {
                    r = half::f16::from_f32(r).to_f32();
                }
                if r.is_infinite() {
                    return Err(pg(PgError::new("22003", "value out of range: overflow")));
                }
                r as f64
            };
        }
        Ok(())
    }

    fn each(values: &[ArrayRef], mut f: impl FnMut(&[f64]) -> Result<()>) -> Result<()> {
        let dense = Dense::new(&values[0]).map_err(pg)?;
        for i in 0..dense.len() {
            if let Some(v) = dense.get(i) {
                let v: Vec<f64> = v.iter().map(|x| *x as f64).collect();
                f(&v)?;
            }
        }
        Ok(())
    }
}

impl Accumulator for VecAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        Self::each(values, |v| {
            self.add(v, 1.0)?;
            self.count += 1;
            Ok(())
        })
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        Self::each(values, |v| {
            self.add(v, -1.0)?;
            self.count -= 1;
            Ok(())
        })
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let sums: &ListArray = states[0].as_list::<i32>();
        let counts: &Int64Array = states[1].as_primitive::<Int64Type>();
        for i in 0..sums.len() {
            let n = counts.value(i);
            if n == 0 || sums.is_null(i) {
                continue;
            }
            let part = sums.value(i);
            let part: Vec<f64> = part.as_primitive::<Float64Type>().values().to_vec();
            self.add(&part, 1.0)?;
            self.count += n;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let sum = if self.count == 0 {
            ScalarValue::List(Arc::new(ListArray::new_null(
                Arc::new(Field::new_list_field(DataType::Float64, true)),
                1,
            )))
        } else {
            ScalarValue::List(ScalarValue::new_list_nullable(
                &self
                    .sum
                    .iter()
                    .map(|x| ScalarValue::Float64(Some(*x)))
                    .collect::<Vec<_>>(),
                &DataType::Float64,
            ))
        };
        Ok(vec![sum, ScalarValue::Int64(Some(self.count))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let row = if self.count == 0 {
            None
        } else {
            let n = self.count as f64;
            let mut v = Vec::with_capacity(self.sum.len());
            for s in &self.sum {
                let x = if self.avg { (s / n) as f32 } else { *s as f32 };
                if x.is_infinite() {
                    return Err(pg(PgError::new("22003", "value out of range: overflow")));
                }
                v.push(x);
            }
            if self.kind == Kind::HalfVec {
                v = vector::to_half(&v).map_err(pg)?;
            }
            Some(v)
        };
        ScalarValue::try_from_array(&vector_arrow::dense_array(self.kind, &[row]), 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.sum.capacity() * 8
    }
}
