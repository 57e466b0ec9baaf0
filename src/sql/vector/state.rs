//! pgvector's aggregate support functions, callable as it defines them:
//! `vector_accum(double precision[], vector)`, `vector_combine(double
//! precision[], double precision[])`, `vector_avg(double precision[])`
//! and their `halfvec_` twins. The state is `{n, sum_1, ..., sum_d}`.
//! (The `avg`/`sum` aggregates themselves are [`super::aggregate`].)

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, ListBuilder, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::values::{Val, Values, pg};
use crate::error::{PgError, codes};
use crate::types::array_text::{self, Elem};
use crate::types::vector_arrow;
use crate::vector::{self, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Accum,
    Combine,
    Avg,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct StateFn {
    name: &'static str,
    step: Step,
    kind: Kind,
    signature: Signature,
}

pub fn all() -> Vec<ScalarUDF> {
    [
        ("vector_accum", Step::Accum, Kind::Vector),
        ("vector_combine", Step::Combine, Kind::Vector),
        ("vector_avg", Step::Avg, Kind::Vector),
        ("halfvec_accum", Step::Accum, Kind::HalfVec),
        ("halfvec_combine", Step::Combine, Kind::HalfVec),
        ("halfvec_avg", Step::Avg, Kind::HalfVec),
    ]
    .into_iter()
    .map(|(name, step, kind)| {
        ScalarUDF::new_from_impl(StateFn {
            name,
            step,
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    })
    .collect()
}

fn state_list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
}

/// A state argument, one row at a time: NULL, or its numbers; a value
/// that is not a one-dimensional array of numbers without NULLs is
/// pgvector's "expected state array".
struct States {
    text: Option<StringArray>,
    list: Option<ArrayRef>,
}

impl States {
    fn new(arg: &ColumnarValue, n: usize) -> Result<States> {
        let arr = arg.to_array(n)?;
        Ok(match arr.data_type() {
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => States {
                text: Some(cast(&arr, &DataType::Utf8)?.as_string::<i32>().clone()),
                list: None,
            },
            _ => States {
                text: None,
                list: Some(arr),
            },
        })
    }

    fn get(&self, i: usize, name: &str) -> Result<Option<Vec<f64>>> {
        let bad = || pg(vector::data_error(format!("{name}: expected state array")));
        if let Some(t) = &self.text {
            if t.is_null(i) {
                return Ok(None);
            }
            let elems = array_text::parse(t.value(i)).map_err(pg)?;
            if elems.is_empty() {
                return Err(bad());
            }
            let mut out = Vec::with_capacity(elems.len());
            for e in elems {
                match e {
                    Elem::Text(s) => out.push(s.trim().parse::<f64>().map_err(|_| {
                        pg(PgError::new(
                            codes::INVALID_TEXT_REPRESENTATION,
                            format!("invalid input syntax for type double precision: \"{s}\""),
                        ))
                    })?),
                    Elem::Null | Elem::Nested(_) => return Err(bad()),
                }
            }
            return Ok(Some(out));
        }
        let Some(arr) = &self.list else {
            return Ok(None);
        };
        if arr.is_null(i) {
            return Ok(None);
        }
        let values = match arr.data_type() {
            DataType::List(_) => arr.as_list::<i32>().value(i),
            DataType::LargeList(_) => arr.as_list::<i64>().value(i),
            _ => return Err(bad()),
        };
        if values.is_empty() || values.null_count() > 0 {
            return Err(bad());
        }
        let f = cast(&values, &DataType::Float64).map_err(|_| bad())?;
        let f = f.as_any().downcast_ref::<Float64Array>().ok_or_else(bad)?;
        Ok(Some(f.values().to_vec()))
    }
}

/// The dimensions a state holds, checked as a vector's are.
fn state_dims(kind: Kind, state: &[f64]) -> Result<usize> {
    let d = state.len() - 1;
    vector::check_dim(kind, d).map_err(pg)?;
    Ok(d)
}

fn accum(mut state: Vec<f64>, v: &[f32]) -> Result<Vec<f64>> {
    if state.len() > 1 && state.len() - 1 != v.len() {
        return Err(pg(vector::data_error(format!(
            "expected {} dimensions, not {}",
            state.len() - 1,
            v.len()
        ))));
    }
    if state.len() == 1 {
        state.extend(std::iter::repeat_n(0.0, v.len()));
    }
    state[0] += 1.0;
    for (s, x) in state[1..].iter_mut().zip(v) {
        *s += *x as f64;
    }
    Ok(state)
}

fn combine(kind: Kind, a: Vec<f64>, b: Vec<f64>) -> Result<Vec<f64>> {
    let out = if a[0] == 0.0 {
        b
    } else if b[0] == 0.0 {
        a
    } else {
        if a.len() != b.len() {
            return Err(pg(vector::data_error(format!(
                "expected {} dimensions, not {}",
                a.len() - 1,
                b.len() - 1
            ))));
        }
        a.iter().zip(&b).map(|(x, y)| x + y).collect()
    };
    state_dims(kind, &out)?;
    Ok(out)
}

fn average(kind: Kind, state: &[f64]) -> Result<Option<Vec<f32>>> {
    if state[0] == 0.0 {
        return Ok(None);
    }
    state_dims(kind, state)?;
    let n = state[0];
    let mut out = Vec::with_capacity(state.len() - 1);
    for s in &state[1..] {
        let x = (s / n) as f32;
        vector::check_element(kind, x).map_err(pg)?;
        out.push(if kind == Kind::HalfVec {
            half::f16::from_f32(x).to_f32()
        } else {
            x
        });
    }
    Ok(Some(out))
}

impl ScalarUDFImpl for StateFn {
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
        let want = if self.step == Step::Avg { 1 } else { 2 };
        if args.arg_fields.len() != want {
            return Err(pg(PgError::new(
                codes::UNDEFINED_FUNCTION,
                format!("function {} does not exist", self.name),
            )));
        }
        Ok(Arc::new(match self.step {
            Step::Avg => vector_arrow::field(self.kind, self.name),
            _ => Field::new(self.name, state_list_type(), true),
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let name = self.name;
        let kind = self.kind;
        let first = States::new(&args.args[0], n)?;
        let out: ArrayRef = match self.step {
            Step::Avg => {
                let mut rows = Vec::with_capacity(n);
                for i in 0..n {
                    rows.push(match first.get(i, name)? {
                        Some(s) => average(kind, &s)?,
                        None => None,
                    });
                }
                vector_arrow::dense_array(kind, &rows)
            }
            Step::Accum | Step::Combine => {
                let mut b = ListBuilder::new(Float64Builder::new());
                let (vecs, states) = if self.step == Step::Accum {
                    let v = Values::new(&args.args[1], &args.arg_fields[1], kind)?;
                    (Some(v), None)
                } else {
                    (None, Some(States::new(&args.args[1], n)?))
                };
                for i in 0..n {
                    let Some(a) = first.get(i, name)? else {
                        b.append_null();
                        continue;
                    };
                    let r = match (&vecs, &states) {
                        (Some(v), _) => match v.get(i) {
                            Some(Val::Dense(x)) => Some(accum(a, &x)?),
                            _ => None,
                        },
                        (_, Some(s)) => match s.get(i, name)? {
                            Some(other) => Some(combine(kind, a, other)?),
                            None => None,
                        },
                        _ => None,
                    };
                    match r {
                        Some(r) => b.append_value(r.into_iter().map(Some)),
                        None => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
