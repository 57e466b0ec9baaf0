//! Names of the `pg_catalog` relations GrapeDB answers, and `::regtype`.

/// Unqualified `pg_type` (and other `pg_*` catalogs we answer) read
/// `pg_catalog`, first on PostgreSQL's search path; `x::regtype` becomes
/// `grape_regtype(x)`.
pub fn rewrite(stmt: &mut datafusion::sql::sqlparser::ast::Statement) {
    use datafusion::sql::sqlparser::ast::{
        DataType as D, Expr, Ident, visit_expressions_mut, visit_relations_mut,
    };
    use std::ops::ControlFlow;
    let _ = visit_relations_mut(stmt, |name| {
        if name.0.len() == 1 {
            let n = name.to_string().to_lowercase();
            if crate::pg_catalog::TABLES.contains(&n.as_str()) {
                name.0.insert(
                    0,
                    datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(Ident::new(
                        "pg_catalog",
                    )),
                );
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            if let D::Custom(n, _) = data_type {
                if n.to_string().eq_ignore_ascii_case("regtype") {
                    let inner = std::mem::replace(
                        expr.as_mut(),
                        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                    );
                    let call = super::ast::call("grape_regtype", vec![inner]);
                    *e = call;
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}
