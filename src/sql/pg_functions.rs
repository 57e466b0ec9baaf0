//! PostgreSQL functions whose meaning DataFusion's differ from or lack:
//! casts to integer types (`grape_to_int`, what `x::int` becomes: numeric
//! rounds half away from zero, float rounds half to even, text is read
//! as PostgreSQL reads it, and out-of-range values are errors, not
//! wrapped), `format()`, and the functions that answer from the session
//! (`current_setting`, `pg_backend_pid`), and `pg_typeof`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int16Array, Int32Array, Int64Array, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::prelude::SessionContext;
use parking_lot::Mutex;

use crate::error::{PgError, codes};

/// The name of the integer cast function the cast rewrite calls.
pub const TO_INT_FN: &str = "grape_to_int";

fn df(e: PgError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    ToInt,
    Format,
    CurrentSetting,
    BackendPid,
    TypeOf,
}

/// What the session functions read, refreshed before each statement.
#[derive(Default)]
pub struct SessionFacts {
    pub settings: BTreeMap<String, String>,
    pub pid: i32,
}

pub type SharedFacts = Arc<Mutex<SessionFacts>>;

struct PgFn {
    name: &'static str,
    op: Op,
    signature: Signature,
    facts: Option<SharedFacts>,
}

impl std::fmt::Debug for PgFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)
    }
}
impl PartialEq for PgFn {
    fn eq(&self, o: &Self) -> bool {
        self.op == o.op
            && match (&self.facts, &o.facts) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}
impl Eq for PgFn {}
impl std::hash::Hash for PgFn {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.op.hash(h);
    }
}

/// (PostgreSQL's name, bounds) of an integer cast target.
fn int_target(t: &str) -> (&'static str, i64, i64) {
    match t {
        "int2" => ("smallint", i16::MIN as i64, i16::MAX as i64),
        "int4" => ("integer", i32::MIN as i64, i32::MAX as i64),
        _ => ("bigint", i64::MIN, i64::MAX),
    }
}

fn out_of_range(name: &str) -> DataFusionError {
    df(PgError::new(
        codes::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{name} out of range"),
    ))
}

/// Round half to even (PostgreSQL's rint for float8 → int).
fn rint(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// One value cast to an integer type as PostgreSQL casts it.
fn to_int(a: &ArrayRef, row: usize, target: &str) -> Result<Option<i64>> {
    if a.data_type() == &DataType::Null || a.is_null(row) {
        return Ok(None);
    }
    let (name, lo, hi) = int_target(target);
    let check = |v: i128| -> Result<i64> {
        if v < lo as i128 || v > hi as i128 {
            Err(out_of_range(name))
        } else {
            Ok(v as i64)
        }
    };
    let v = match a.data_type() {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let f = datafusion::arrow::compute::cast(&a.slice(row, 1), &DataType::Float64)?;
            let x = f
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(0);
            if !x.is_finite() || x.abs() > 9.3e18 {
                return Err(out_of_range(name));
            }
            check(rint(x) as i128)?
        }
        DataType::Decimal128(_, s) => {
            let d = a
                .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
                .value(row);
            let p = 10i128.pow(*s as u32);
            // Half away from zero, as numeric rounds.
            let q = if *s == 0 {
                d
            } else {
                let half = p / 2;
                if d >= 0 {
                    (d + half) / p
                } else {
                    (d - half) / p
                }
            };
            check(q)?
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = datafusion::arrow::compute::cast(&a.slice(row, 1), &DataType::Utf8)?;
            let text = s.as_string::<i32>().value(0).to_string();
            let t = text.trim();
            let parsed: Option<i128> = t.parse::<i128>().ok().filter(|_| {
                !t.is_empty()
                    && t.trim_start_matches(['+', '-'])
                        .chars()
                        .all(|c| c.is_ascii_digit())
            });
            match parsed {
                Some(v) if v >= lo as i128 && v <= hi as i128 => v as i64,
                Some(_) => {
                    return Err(df(PgError::new(
                        codes::NUMERIC_VALUE_OUT_OF_RANGE,
                        format!("value \"{text}\" is out of range for type {name}"),
                    )));
                }
                None => {
                    return Err(df(PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        format!("invalid input syntax for type {name}: \"{text}\""),
                    )));
                }
            }
        }
        _ => {
            let c = datafusion::arrow::compute::cast(&a.slice(row, 1), &DataType::Int64).map_err(
                |_| {
                    df(PgError::new(
                        codes::CANNOT_COERCE,
                        format!("cannot cast type {} to {name}", a.data_type()),
                    ))
                },
            )?;
            let c = c.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            if c.is_null(0) {
                return Ok(None);
            }
            check(c.value(0) as i128)?
        }
    };
    Ok(Some(v))
}

/// `format(fmt, args...)`: `%s` (NULL is empty), `%I` (an identifier),
/// `%L` (a literal; NULL is NULL), `%%`.
fn format_row(arrays: &[ArrayRef], row: usize) -> Result<Option<String>> {
    if arrays[0].is_null(row) {
        return Ok(None);
    }
    let fmt = datafusion::arrow::util::display::array_value_to_string(&arrays[0], row)?;
    let arg = |i: usize| -> Result<Option<String>> {
        let a = arrays.get(i).ok_or_else(|| {
            df(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                "too few arguments for format()",
            ))
        })?;
        if a.data_type() == &DataType::Null || a.is_null(row) {
            return Ok(None);
        }
        Ok(Some(
            datafusion::arrow::util::display::array_value_to_string(a, row)?,
        ))
    };
    let mut out = String::new();
    let mut next = 1;
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => {
                out.push_str(&arg(next)?.unwrap_or_default());
                next += 1;
            }
            Some('I') => {
                let v = arg(next)?.ok_or_else(|| {
                    df(PgError::new(
                        "22004",
                        "null values cannot be formatted as an SQL identifier",
                    ))
                })?;
                out.push_str(&crate::types::text::quote_ident_if_needed(&v));
                next += 1;
            }
            Some('L') => {
                match arg(next)? {
                    Some(v) => out.push_str(&crate::types::text::quote_literal(&v)),
                    None => out.push_str("NULL"),
                }
                next += 1;
            }
            other => {
                return Err(df(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!(
                        "unrecognized format() type specifier \"{}\"",
                        other.map(String::from).unwrap_or_default()
                    ),
                )
                .with_hint("For a single \"%\" use \"%%\".")));
            }
        }
    }
    Ok(Some(out))
}

impl ScalarUDFImpl for PgFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(
            "use return_field_from_args".into(),
        ))
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let ty = match self.op {
            Op::ToInt => match args.scalar_arguments.get(1).copied().flatten() {
                Some(ScalarValue::Utf8(Some(t))) if t == "int2" => DataType::Int16,
                Some(ScalarValue::Utf8(Some(t))) if t == "int4" => DataType::Int32,
                _ => DataType::Int64,
            },
            Op::Format | Op::CurrentSetting | Op::TypeOf => DataType::Utf8,
            Op::BackendPid => DataType::Int32,
        };
        Ok(Arc::new(Field::new(self.name, ty, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n.max(1)))
            .collect::<Result<_>>()?;
        let out: ArrayRef = match self.op {
            Op::ToInt => {
                let target = match arrays.get(1) {
                    Some(t) => datafusion::arrow::util::display::array_value_to_string(t, 0)?,
                    None => "int8".into(),
                };
                let is_bits = crate::types::vector_arrow::field_kind(&args.arg_fields[0])
                    == Some(crate::vector::Kind::Bit);
                let vals: Vec<Option<i64>> = if is_bits {
                    // A bit string's bits as an integer (`B'0101'::int` is 5).
                    use datafusion::arrow::array::AsArray;
                    let bin = arrays[0].as_binary::<i32>();
                    let width = if target == "int8" { 64 } else { 32 };
                    (0..n)
                        .map(|r| {
                            if bin.is_null(r) {
                                return Ok(None);
                            }
                            crate::vector::Bits::from_bytes(bin.value(r))
                                .to_int(width)
                                .map(Some)
                                .map_err(df)
                        })
                        .collect::<Result<_>>()?
                } else {
                    (0..n)
                        .map(|r| to_int(&arrays[0], r, &target))
                        .collect::<Result<_>>()?
                };
                match target.as_str() {
                    "int2" => Arc::new(Int16Array::from(
                        vals.iter().map(|v| v.map(|x| x as i16)).collect::<Vec<_>>(),
                    )),
                    "int4" => Arc::new(Int32Array::from(
                        vals.iter().map(|v| v.map(|x| x as i32)).collect::<Vec<_>>(),
                    )),
                    _ => Arc::new(Int64Array::from(vals)),
                }
            }
            Op::Format => {
                let vals: Vec<Option<String>> = (0..n)
                    .map(|r| format_row(&arrays, r))
                    .collect::<Result<_>>()?;
                Arc::new(StringArray::from(vals))
            }
            Op::CurrentSetting => {
                let facts = self.facts.as_ref().expect("session function").lock();
                let mut vals = Vec::with_capacity(n);
                for r in 0..n {
                    if arrays[0].is_null(r) {
                        vals.push(None);
                        continue;
                    }
                    let name =
                        datafusion::arrow::util::display::array_value_to_string(&arrays[0], r)?
                            .to_lowercase();
                    let missing_ok = arrays.get(1).is_some_and(|m| {
                        datafusion::arrow::util::display::array_value_to_string(m, r)
                            .is_ok_and(|s| s == "true")
                    });
                    match facts.settings.get(&name) {
                        Some(v) => vals.push(Some(v.clone())),
                        None if missing_ok => vals.push(None),
                        None => {
                            return Err(df(PgError::new(
                                codes::UNDEFINED_OBJECT,
                                format!("unrecognized configuration parameter \"{name}\""),
                            )));
                        }
                    }
                }
                Arc::new(StringArray::from(vals))
            }
            Op::TypeOf => {
                // The SQL type of the argument's expression, by name.
                let f = &args.arg_fields[0];
                let name = match f.data_type() {
                    DataType::Null => "unknown".to_string(),
                    _ => crate::types::SqlType::from_field(f)
                        .map(|t| t.pg_name())
                        .unwrap_or_else(|| f.data_type().to_string()),
                };
                Arc::new(StringArray::from(vec![Some(name); n.max(1)]))
            }
            Op::BackendPid => {
                let pid = self.facts.as_ref().expect("session function").lock().pid;
                Arc::new(Int32Array::from(vec![pid; n.max(1)]))
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// Register the functions; the session ones read `facts`.
pub fn register(ctx: &SessionContext, facts: SharedFacts) {
    use datafusion::logical_expr::TypeSignature::{Any, Nullary, VariadicAny};
    let fns: Vec<(&'static str, Op, Signature, Option<SharedFacts>)> = vec![
        (
            TO_INT_FN,
            Op::ToInt,
            Signature::any(2, Volatility::Immutable),
            None,
        ),
        (
            "format",
            Op::Format,
            Signature::one_of(vec![VariadicAny], Volatility::Stable),
            None,
        ),
        (
            "current_setting",
            Op::CurrentSetting,
            Signature::one_of(vec![Any(1), Any(2)], Volatility::Stable),
            Some(facts.clone()),
        ),
        (
            "pg_typeof",
            Op::TypeOf,
            Signature::any(1, Volatility::Immutable),
            None,
        ),
        (
            "pg_backend_pid",
            Op::BackendPid,
            Signature::one_of(vec![Nullary], Volatility::Stable),
            Some(facts),
        ),
    ];
    for (name, op, signature, facts) in fns {
        ctx.register_udf(ScalarUDF::new_from_impl(PgFn {
            name,
            op,
            signature,
            facts,
        }));
    }
    // `set_config` whose setting or value comes from the rows (pg_dump's
    // `SELECT set_config(name, ..) FROM pg_settings WHERE name = '...'`):
    // settings change before the query runs here, so such a call is
    // refused, but only when a row reaches it (no row: nothing to set).
    ctx.register_udf(datafusion::logical_expr::create_udf(
        PER_ROW_SET_CONFIG,
        vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(|args: &[ColumnarValue]| {
            let rows = args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Array(a) => a.len(),
                    ColumnarValue::Scalar(_) => 1,
                })
                .max()
                .unwrap_or(0);
            if rows > 0 {
                return Err(DataFusionError::External(Box::new(
                    crate::error::PgError::unsupported(
                        "set_config with arguments that are not constants",
                    ),
                )));
            }
            Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&DataType::Utf8),
            ))
        }),
    ));
}

/// The name `set_config` takes when its arguments are not constants.
pub const PER_ROW_SET_CONFIG: &str = "grape_set_config_per_row";
