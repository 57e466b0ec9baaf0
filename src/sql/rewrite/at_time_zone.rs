//! `ts AT TIME ZONE zone` becomes `grape_at_time_zone(ts, zone)`
//! (`sql::timestamps::AtTimeZone`): PostgreSQL converts between
//! timestamptz and the wall-clock timestamp in `zone`, where DataFusion
//! would only relabel the value's zone.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

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
            let mut call = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&format!("{AT_TIME_ZONE_FN}(NULL, NULL)"))
                .and_then(|mut p| p.parse_expr())
                .expect("AT TIME ZONE template parses");
            if let Expr::Function(f) = &mut call {
                if let FunctionArguments::List(list) = &mut f.args {
                    list.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(ts));
                    list.args[1] = FunctionArg::Unnamed(FunctionArgExpr::Expr(zone));
                }
            }
            *e = call;
        }
        ControlFlow::<()>::Continue(())
    });
}
