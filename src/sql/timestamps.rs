//! Timestamps as PostgreSQL has them where DataFusion's differ:
//! `to_timestamp(seconds)` is a timestamptz, with an error (22008) for
//! seconds that do not fit rather than a timestamp clamped to the year
//! 2262; text cast to date, timestamp and timestamptz is read with
//! PostgreSQL's input rules ([`DatetimeIn`]: no seconds, `T`, zones, the
//! session's time zone for a timestamptz without one).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::error::PgError;

/// Seconds from the epoch a timestamp can hold here (nanoseconds in an
/// i64: 1677-09-21 to 2262-04-11).
const MAX_SECONDS: f64 = 9_223_372_036.0;

/// `to_timestamp` with PostgreSQL's error for seconds out of range.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToTimestamp {
    inner: Arc<ScalarUDF>,
}

pub fn to_timestamp(config: &ConfigOptions) -> ScalarUDF {
    ScalarUDF::new_from_impl(ToTimestamp {
        inner: datafusion::functions::datetime::to_timestamp(config),
    })
}

/// A float8 as PostgreSQL prints it in this message (`1e+18`).
fn pg_float(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e15 || v.abs() < 1e-4) {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{v}")
    }
}

fn check_seconds(arg: &ColumnarValue) -> Result<()> {
    let array = arg.to_array(1)?;
    if !array.data_type().is_numeric() {
        return Ok(());
    }
    let secs = cast(&array, &DataType::Float64)?;
    let secs = secs
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| DataFusionError::Internal("seconds as float8".into()))?;
    for v in secs.iter().flatten() {
        if !v.is_finite() || v.abs() >= MAX_SECONDS {
            return Err(DataFusionError::External(Box::new(PgError::new(
                "22008",
                format!("timestamp out of range: \"{}\"", pg_float(v)),
            ))));
        }
    }
    Ok(())
}

impl ScalarUDFImpl for ToTimestamp {
    /// The time zone setting changed: wrap the updated original.
    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let inner = self.inner.inner().with_updated_config(config)?;
        Some(ScalarUDF::new_from_impl(ToTimestamp {
            inner: Arc::new(inner),
        }))
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        // to_timestamp(seconds) is a timestamptz in PostgreSQL.
        if let [f] = args.arg_fields {
            if f.data_type().is_numeric() {
                return Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
                    self.name(),
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                    true,
                )));
            }
        }
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [secs] = args.args.as_slice() {
            if secs.data_type().is_numeric() {
                check_seconds(secs)?;
                let n = args.number_rows.max(1);
                let f = cast(&secs.to_array(n)?, &DataType::Float64)?;
                let f = f
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| DataFusionError::Internal("seconds as float8".into()))?;
                let us: datafusion::arrow::array::TimestampMicrosecondArray = f
                    .iter()
                    .map(|v| v.map(|v| (v * 1e6).round() as i64))
                    .collect();
                return shaped_like(&[secs], Arc::new(us.with_timezone("+00:00")));
            }
        }
        self.inner.invoke_with_args(args)
    }
}

/// A function's result as its arguments came: one value when they were
/// all scalars (constant folding), else the column.
pub(super) fn shaped_like(args: &[&ColumnarValue], out: ArrayRef) -> Result<ColumnarValue> {
    Ok(
        if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        },
    )
}

/// Text read as a date, timestamp or timestamptz (what casts from text to
/// those types become, `super::text_casts`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DatetimeIn {
    to: DataType,
    /// The session's time zone: a timestamptz written without a zone is
    /// in it (whatever zone the target type carries).
    session_zone: Option<Arc<str>>,
    signature: Signature,
}

impl DatetimeIn {
    /// `x::to` for a text `x`, when `to` is a date or timestamp type.
    pub fn call(
        to: &DataType,
        session_zone: Option<Arc<str>>,
        arg: datafusion::logical_expr::Expr,
    ) -> Option<datafusion::logical_expr::Expr> {
        use datafusion::logical_expr::expr::ScalarFunction;
        let to = match to {
            DataType::Date32 => DataType::Date32,
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            _ => return None,
        };
        let udf = ScalarUDF::new_from_impl(DatetimeIn {
            to,
            session_zone,
            signature: Signature::any(1, datafusion::logical_expr::Volatility::Immutable),
        });
        Some(datafusion::logical_expr::Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::new(udf), vec![arg]),
        ))
    }
}

impl ScalarUDFImpl for DatetimeIn {
    fn name(&self) -> &str {
        "grape_datetime_in"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.to.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use crate::types::datetime_text::parse;
        use datafusion::arrow::array::{Date32Array, StringArray, TimestampMicrosecondArray};
        let value = &args.args[0];
        let array = cast(&value.to_array(args.number_rows.max(1))?, &DataType::Utf8)?;
        let texts = array
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DataFusionError::Internal("text as utf8".into()))?;
        let pg = |e: PgError| DataFusionError::External(Box::new(e));
        let out: Arc<dyn Array> = match &self.to {
            DataType::Date32 => Arc::new(
                texts
                    .iter()
                    .map(|t| t.map(|t| parse("date", t).map(|p| p.days())).transpose())
                    .collect::<std::result::Result<Date32Array, _>>()
                    .map_err(pg)?,
            ),
            DataType::Timestamp(_, None) => Arc::new(
                texts
                    .iter()
                    .map(|t| {
                        t.map(|t| parse("timestamp", t).map(|p| p.local_micros()))
                            .transpose()
                    })
                    .collect::<std::result::Result<TimestampMicrosecondArray, _>>()
                    .map_err(pg)?,
            ),
            DataType::Timestamp(_, Some(tz)) => {
                let zone = crate::format::Zone::parse(self.session_zone.as_deref().unwrap_or(tz));
                Arc::new(
                    texts
                        .iter()
                        .map(|t| {
                            t.map(|t| {
                                parse("timestamp with time zone", t).map(|p| p.utc_micros(&zone))
                            })
                            .transpose()
                        })
                        .collect::<std::result::Result<TimestampMicrosecondArray, _>>()
                        .map_err(pg)?
                        .with_timezone(tz.clone()),
                )
            }
            other => {
                return Err(DataFusionError::Internal(format!(
                    "datetime input as {other}"
                )));
            }
        };
        shaped_like(&[value], out)
    }
}

/// `ts AT TIME ZONE zone` (`sql::rewrite::at_time_zone`): a timestamptz
/// becomes the wall-clock timestamp in `zone`; a timestamp is read as a
/// wall-clock time in `zone` and becomes a timestamptz. A numeric zone
/// (`'+02'`) is POSIX-style, as PostgreSQL reads it: hours west of UTC.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AtTimeZone {
    signature: Signature,
}

pub fn at_time_zone() -> ScalarUDF {
    ScalarUDF::new_from_impl(AtTimeZone {
        signature: Signature::any(2, datafusion::logical_expr::Volatility::Immutable),
    })
}

fn zone_of(text: &str) -> std::result::Result<crate::format::Zone, PgError> {
    use crate::types::datetime_text::{ZoneSpec, zone_spec};
    match zone_spec(text) {
        Some(ZoneSpec::Fixed(s)) => Ok(crate::format::Zone::Fixed(-s)),
        Some(ZoneSpec::Named(z)) => Ok(crate::format::Zone::Named(z)),
        None => Err(PgError::new(
            crate::error::codes::INVALID_PARAMETER_VALUE,
            format!("time zone \"{text}\" not recognized"),
        )),
    }
}

impl ScalarUDFImpl for AtTimeZone {
    fn name(&self) -> &str {
        crate::sql::rewrite::at_time_zone::AT_TIME_ZONE_FN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::Timestamp(_, Some(_)) => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
            DataType::Timestamp(_, None) => Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("+00:00".into()),
            )),
            other => Err(DataFusionError::External(Box::new(PgError::new(
                crate::error::codes::UNDEFINED_FUNCTION,
                format!(
                    "function timezone(unknown, {}) does not exist",
                    crate::sql::errors::pg_type_name(&other.to_string())
                ),
            )))),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{StringArray, TimestampMicrosecondArray};
        let n = args.number_rows.max(1);
        let ts = args.args[0].to_array(n)?;
        let (to_tz, tz) = match ts.data_type() {
            DataType::Timestamp(_, tz) => (tz.is_none(), tz.clone()),
            _ => (false, None),
        };
        // Microseconds, the zone kept: a cast to no zone would shift the
        // values to the zone's wall-clock time.
        let ts = cast(&ts, &DataType::Timestamp(TimeUnit::Microsecond, tz))?;
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| DataFusionError::Internal("timestamp in microseconds".into()))?;
        let zones = cast(&args.args[1].to_array(n)?, &DataType::Utf8)?;
        let zones = zones
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DataFusionError::Internal("zone as text".into()))?;
        let mut last: Option<(String, crate::format::Zone)> = None;
        let mut out = Vec::with_capacity(ts.len());
        for i in 0..ts.len() {
            if ts.is_null(i) || zones.is_null(i) {
                out.push(None);
                continue;
            }
            let name = zones.value(i);
            let zone = match &last {
                Some((n, z)) if n == name => *z,
                _ => {
                    let z = zone_of(name).map_err(|e| DataFusionError::External(Box::new(e)))?;
                    last = Some((name.to_string(), z));
                    z
                }
            };
            let v = ts.value(i);
            out.push(Some(if to_tz {
                v - zone.offset_of_local(v) as i64 * 1_000_000
            } else {
                v + zone.offset_at(v) as i64 * 1_000_000
            }));
        }
        let mut arr = TimestampMicrosecondArray::from(out);
        if to_tz {
            arr = arr.with_timezone("+00:00");
        }
        let arr: Arc<dyn Array> = Arc::new(arr);
        shaped_like(&[&args.args[0], &args.args[1]], arr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_postgresql_prints_them_here() {
        assert_eq!(pg_float(1e18), "1e+18");
        assert_eq!(pg_float(-1e15), "-1e+15");
        assert_eq!(pg_float(9300000000.0), "9300000000");
    }
}
