//! `ARRAY(SELECT x FROM ... ORDER BY k)`, the array constructor from a
//! subquery (psql's `\du`, `\dp` and `\d` send it), which DataFusion does
//! not plan: an aggregate subquery instead,
//! `grape_array_or_empty((SELECT array_agg(x ORDER BY k) FROM ...))`, so
//! the order is kept, a correlated one decorrelates as any aggregate
//! subquery does, and no rows give `{}` as in PostgreSQL.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, OrderByKind, Query, SelectItem, SetExpr, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

pub fn rewrite(stmt: &mut datafusion::sql::sqlparser::ast::Statement) {
    replace_arrays(stmt, aggregate);
}

/// Every `ARRAY(subquery)` for which `with` has a replacement, replaced.
fn replace_arrays(
    stmt: &mut datafusion::sql::sqlparser::ast::Statement,
    with: fn(&Query) -> Option<Expr>,
) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Function(f) = e
            && f.name.to_string().eq_ignore_ascii_case("array")
            && let FunctionArguments::Subquery(q) = &f.args
            && let Some(new) = with(q)
        {
            *e = new;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `ARRAY(SELECT f(x) FROM unnest(a) [AS] x)`, a map over an array
/// (psql's `\d+` maps a TOAST table's options: `unnest(tc.reloptions)` of
/// the outer row, which DataFusion cannot decorrelate beside a join):
/// `grape_array_or_empty(array_transform(a, x -> f(x)))`, the same
/// elements in the same order; a NULL array gives `{}` as there.
fn map_over_unnest(q: &Query) -> Option<Expr> {
    let list = unnest_map(q)?;
    Some(super::ast::call("grape_array_or_empty", vec![list]))
}

/// `(SELECT f(x) FROM unnest(a) x [WHERE p(x)])`, a scalar subquery of
/// the same shape (pg_dump reads `attoptions` so): the one element left,
/// NULL for none, 21000 for more than one (`grape_one`).
fn one_of_unnest(q: &Query) -> Option<Expr> {
    let list = unnest_map(q)?;
    Some(super::ast::call("grape_one", vec![list]))
}

/// What `SELECT f(x) FROM unnest(a) x [WHERE p(x)]` gives, as a list:
/// `array_transform(array_filter(a, x -> p(x)), x -> f(x))` (no filter
/// without WHERE, no transform when `f(x)` is `x`).
fn unnest_map(q: &Query) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{
        LambdaFunction, LambdaFunctionParameter, LambdaSyntax, OneOrManyWithParens, TableFactor,
    };
    if q.with.is_some() || q.limit_clause.is_some() || q.fetch.is_some() || q.order_by.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let plain = s.distinct.is_none()
        && s.having.is_none()
        && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty())
        && s.projection.len() == 1
        && s.from.len() == 1
        && s.from[0].joins.is_empty();
    if !plain {
        return None;
    }
    // `unnest(a) x` (or `unnest(a) AS u(x)`): the element's name.
    let (array, element) = match &s.from[0].relation {
        TableFactor::UNNEST {
            alias: Some(alias),
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } if array_exprs.len() == 1 => (
            array_exprs[0].clone(),
            alias
                .columns
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_else(|| alias.name.clone()),
        ),
        TableFactor::Table {
            name,
            args: Some(args),
            alias: Some(alias),
            with_ordinality: false,
            ..
        } if crate::sql::parse::object_parts(name)
            .last()
            .is_some_and(|f| f == "unnest")
            && args.args.len() == 1 =>
        {
            let datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(a),
            ) = &args.args[0]
            else {
                return None;
            };
            (
                a.clone(),
                alias
                    .columns
                    .first()
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| alias.name.clone()),
            )
        }
        _ => return None,
    };
    let value = match &s.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
        _ => return None,
    };
    // Only the element and constants in the value and the filter (an
    // outer column there would need the lambda to capture it).
    let only_element = |e: &Expr| {
        !datafusion::sql::sqlparser::ast::visit_expressions(e, |x| match x {
            Expr::Identifier(i) if i.value == element.value => ControlFlow::Continue(()),
            Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::InSubquery { .. } => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .is_break()
    };
    // An aggregate or a set-returning value is not a map.
    let per_element = |e: &Expr| {
        only_element(e)
            && !super::scalar_subquery::aggregates(e)
            && !super::order_subqueries::returns_set(e)
    };
    if !per_element(&value) || !s.selection.as_ref().is_none_or(per_element) {
        return None;
    }
    let lambda = |body: Expr| {
        Expr::Lambda(LambdaFunction {
            params: OneOrManyWithParens::One(LambdaFunctionParameter {
                name: element.clone(),
                data_type: None,
            }),
            body: Box::new(body),
            syntax: LambdaSyntax::Arrow,
        })
    };
    let mut list = array;
    if let Some(w) = &s.selection {
        list = super::ast::call("array_filter", vec![list, lambda(w.clone())]);
    }
    if !matches!(&value, Expr::Identifier(i) if i.value == element.value) {
        list = super::ast::call("array_transform", vec![list, lambda(value)]);
    }
    Some(list)
}

/// Whether the statement has an `ARRAY(...)` or scalar subquery that
/// [`maps`] would rewrite.
pub fn has_maps(stmt: &datafusion::sql::sqlparser::ast::Statement) -> bool {
    datafusion::sql::sqlparser::ast::visit_expressions(stmt, |e| {
        let mapped = match e {
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("array") => {
                matches!(&f.args, FunctionArguments::Subquery(q) if map_over_unnest(q).is_some())
            }
            Expr::Subquery(q) => one_of_unnest(q).is_some(),
            _ => false,
        };
        if mapped {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })
    .is_break()
}

/// Only the maps over `unnest` ([`map_over_unnest`]), for a statement
/// DataFusion could not plan with the ARRAY as an aggregate subquery (an
/// outer column beside a join): run before `table_functions` turns the
/// `unnest` into a lateral subquery. Only then: DataFusion 55's lambdas
/// read the wrong column over some inputs (a derived table's grouped
/// rows), so the aggregate subquery stays the first choice.
pub fn maps(stmt: &mut datafusion::sql::sqlparser::ast::Statement) {
    replace_arrays(stmt, map_over_unnest);
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Subquery(q) = e
            && let Some(new) = one_of_unnest(q)
        {
            *e = new;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The aggregate subquery that gives what `ARRAY(q)` gives.
fn aggregate(q: &Query) -> Option<Expr> {
    let sql = match simple(q) {
        Some(sql) => sql,
        // DISTINCT, GROUP BY, LIMIT, set operations: aggregate what the
        // subquery gives, as it gives it.
        None => format!("(SELECT array_agg(__grape_v) FROM ({q}) AS __grape_a(__grape_v))"),
    };
    let sql = format!("grape_array_or_empty({sql})");
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// `SELECT x FROM f WHERE w ORDER BY k` as `(SELECT array_agg(x ORDER BY
/// k) FROM f WHERE w)`; None for anything else.
fn simple(q: &Query) -> Option<String> {
    if q.with.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let plain = s.distinct.is_none()
        && s.having.is_none()
        && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty())
        && s.projection.len() == 1;
    if !plain {
        return None;
    }
    let (value, alias) = match &s.projection[0] {
        SelectItem::UnnamedExpr(e) => (e.clone(), None),
        SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.value.clone())),
        _ => return None,
    };
    // An aggregate or a set-returning value takes the general path.
    if super::scalar_subquery::aggregates(&value)
        || matches!(&value, Expr::Function(f) if ["unnest", "generate_series"].contains(&f.name.to_string().to_lowercase().as_str()))
    {
        return None;
    }
    let mut order = Vec::new();
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(keys) = &ob.kind else {
            return None;
        };
        for k in keys {
            let mut k = k.clone();
            // `ORDER BY 1` and `ORDER BY <its alias>` are the value.
            let by_alias = matches!(&k.expr, Expr::Identifier(i) if alias.as_deref() == Some(i.value.as_str()));
            if by_alias || matches!(&k.expr, Expr::Value(v) if v.value.to_string() == "1") {
                k.expr = value.clone();
            }
            order.push(k.to_string());
        }
    }
    let mut inner = (**s).clone();
    inner.projection = vec![SelectItem::UnnamedExpr(Expr::Identifier(
        datafusion::sql::sqlparser::ast::Ident::new("__grape_placeholder"),
    ))];
    let order = if order.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order.join(", "))
    };
    Some(inner.to_string().replacen(
        "__grape_placeholder",
        &format!("array_agg({value}{order})"),
        1,
    ))
    .map(|sel| format!("({sel})"))
}
