//! PostgreSQL functions that clients call to learn about the server and
//! session (`version()`, `current_database()`, ...).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

/// What `version()` and `server_version` say: PostgreSQL 15, as GrapeDB
/// speaks it.
pub const SERVER_VERSION: &str = concat!("15.0 (GrapeDB ", env!("CARGO_PKG_VERSION"), ")");

fn constant(ctx: &SessionContext, name: &str, value: String) {
    let v = ScalarValue::Utf8(Some(value));
    let f = create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(v.clone()))),
    );
    ctx.register_udf(f);
}

/// Register the session functions; `database`, `user` and `schema` are the
/// session's.
pub fn register(ctx: &SessionContext, database: &str, user: &str, schema: &str) {
    constant(
        ctx,
        "version",
        format!(
            "PostgreSQL {SERVER_VERSION} on {}-linux, compiled by rustc",
            std::env::consts::ARCH
        ),
    );
    constant(ctx, "current_database", database.to_string());
    constant(ctx, "current_schema", schema.to_string());
    constant(ctx, "current_user", user.to_string());
    constant(ctx, "session_user", user.to_string());
}

/// `to_regtype(name)` and the `::regtype` cast (as `grape_regtype(oid)`),
/// which drivers use to look types up by name (psycopg's TypeInfo.fetch).
pub fn register_regtype(ctx: &SessionContext) {
    use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
    let to_oid = create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int64,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = args[0].to_array(1)?;
            let s = a.as_string::<i32>();
            let out: Int64Array = s
                .iter()
                .map(|v| v.and_then(crate::types::regtype_oid))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    ctx.register_udf(to_oid);
    let name = create_udf(
        "grape_regtype",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = args[0].to_array(1)?;
            let a = datafusion::arrow::compute::cast(&a, &DataType::Int64)?;
            let ints = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let out: StringArray = (0..ints.len())
                .map(|i| {
                    if ints.is_null(i) {
                        None
                    } else {
                        crate::types::regtype_name(ints.value(i))
                            .or_else(|| Some(ints.value(i).to_string()))
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    ctx.register_udf(name);
}
