//! `ts AT TIME ZONE zone` becomes `grape_at_time_zone(ts, zone)`
//! (`sql::timestamps::AtTimeZone`): PostgreSQL converts between
//! timestamptz and the wall-clock timestamp in `zone`, where DataFusion
//! would only relabel the value's zone.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, visit_expressions_mut};

/// The function `AT TIME ZONE` becomes.
pub const AT_TIME_ZONE_FN: &str = "grape_at_time_zone";

pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::AtTimeZone {
            timestamp,
            time_zone,
        } = e
        {
            let ts = std::mem::replace(timestamp.as_mut(), Expr::value(Value::Null));
            let zone = std::mem::replace(time_zone.as_mut(), Expr::value(Value::Null));
            let call = super::ast::call(AT_TIME_ZONE_FN, vec![ts, zone]);
            *e = call;
        }
        ControlFlow::<()>::Continue(())
    });
}
