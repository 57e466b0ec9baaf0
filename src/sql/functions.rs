//! PostgreSQL functions that clients call to learn about the server and
//! session (`version()`, `current_database()`, ...).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::session::SERVER_VERSION;

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
