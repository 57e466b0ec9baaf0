//! PostgreSQL's range check around DataFusion's `to_timestamp`: seconds
//! that do not fit a timestamp are an error (22008), not a timestamp
//! silently clamped to the year 2262.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef};
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
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [secs] = args.args.as_slice() {
            check_seconds(secs)?;
        }
        self.inner.invoke_with_args(args)
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
