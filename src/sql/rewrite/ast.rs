//! Building blocks of the rewrites' output: calls and constants.

/// The AST of the call `name(args...)` (what the rewrites turn operators,
/// casts and syntax DataFusion does not plan into).
pub fn call(
    name: &str,
    args: Vec<datafusion::sql::sqlparser::ast::Expr>,
) -> datafusion::sql::sqlparser::ast::Expr {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};
    let template = format!("{name}({})", vec!["NULL"; args.len()].join(", "));
    let mut call = datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(&template)
    .and_then(|mut p| p.parse_expr())
    .expect("call template parses");
    if let Expr::Function(f) = &mut call {
        if let FunctionArguments::List(list) = &mut f.args {
            for (slot, a) in list.args.iter_mut().zip(args) {
                *slot = FunctionArg::Unnamed(FunctionArgExpr::Expr(a));
            }
        }
    }
    call
}

/// A string constant's AST.
pub fn text_literal(s: &str) -> datafusion::sql::sqlparser::ast::Expr {
    datafusion::sql::sqlparser::ast::Expr::value(
        datafusion::sql::sqlparser::ast::Value::SingleQuotedString(s.to_string()),
    )
}

/// A call's function name without its schema, lowercased
/// (`pg_catalog.Pg_Sleep` is `pg_sleep`).
pub fn function_name(f: &datafusion::sql::sqlparser::ast::Function) -> String {
    f.name
        .0
        .last()
        .map(|p| p.to_string().to_lowercase())
        .unwrap_or_default()
}

/// `a AND b AND (c AND d)` as its conjuncts, in order.
pub fn conjuncts(
    e: datafusion::sql::sqlparser::ast::Expr,
    out: &mut Vec<datafusion::sql::sqlparser::ast::Expr>,
) {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr};
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner, out)
        }
        other => out.push(other),
    }
}

/// The conjunction of `es` (None for none).
pub fn and_all(
    es: Vec<datafusion::sql::sqlparser::ast::Expr>,
) -> Option<datafusion::sql::sqlparser::ast::Expr> {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr};
    es.into_iter().reduce(|l, r| Expr::BinaryOp {
        left: Box::new(l),
        op: BinaryOperator::And,
        right: Box::new(r),
    })
}
