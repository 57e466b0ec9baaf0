//! A correlated scalar subquery that does not aggregate, `(SELECT d.adbin
//! FROM pg_attrdef d WHERE d.adrelid = a.attrelid)`: PostgreSQL runs it
//! and fails only if it finds more than one row; DataFusion plans a
//! correlated one only when it aggregates. It becomes
//! `grape_one((SELECT array_agg(d.adbin) ...))`: the aggregate lets
//! DataFusion decorrelate it, and `grape_one` gives PostgreSQL's answers
//! on the value the outer row gets (NULL for no rows, 21000 for more than
//! one), so inner rows no outer row reaches never raise. Its ORDER BY goes
//! (one row has no order). Two more steps help DataFusion decorrelate:
//! conditions on the outer row alone move out (`CASE WHEN outer.flag THEN
//! (...) END`), and an outer column equated to an inner one stands for it
//! in the other comparisons.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, Statement, TableFactor,
    Value, visit_expressions, visit_expressions_mut,
};

/// Functions that make a query aggregate (or are window functions).
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bit_and",
    "bit_or",
    "bit_xor",
    "mode",
    "percentile_cont",
    "percentile_disc",
    "corr",
    "covar_pop",
    "covar_samp",
    "median",
    "first_value",
    "last_value",
    "nth_value",
    "any_value",
    "grouping",
    "array_union_agg",
];

/// Functions that return a set (a value made of them is not one row).
const SET_RETURNING: &[&str] = &["unnest", "generate_series", "jsonb_array_elements"];

pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        let Expr::Subquery(q) = e else {
            return ControlFlow::<()>::Continue(());
        };
        let Some(outer_only) = single_value(q) else {
            return ControlFlow::Continue(());
        };
        let sub = std::mem::replace(e, Expr::value(Value::Null));
        let one = super::ast::call("grape_one", vec![sub]);
        *e = match outer_only {
            // `(SELECT v ... WHERE corr AND outer.flag)` is `CASE WHEN
            // outer.flag THEN (SELECT v ... WHERE corr) END`: NULL either
            // way when the flag is false, and DataFusion decorrelates only
            // the second.
            Some(condition) => Expr::Case {
                case_token:
                    datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                end_token:
                    datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                operand: None,
                conditions: vec![datafusion::sql::sqlparser::ast::CaseWhen {
                    condition,
                    result: one,
                }],
                else_result: None,
            },
            None => one,
        };
        ControlFlow::Continue(())
    });
}

/// Whether `e` calls one of `names` (or a window function) itself, not in
/// a subquery of its own.
fn function_in(e: &Expr, names: &[&str]) -> bool {
    struct Find<'a> {
        names: &'a [&'a str],
        depth: usize,
    }
    impl datafusion::sql::sqlparser::ast::Visitor for Find<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, x: &Expr) -> ControlFlow<()> {
            match x {
                Expr::Function(f)
                    if self.depth == 0
                        && (f.over.is_some() || {
                            let n = super::ast::function_name(f);
                            // Also every regr_* and approx_* aggregate.
                            self.names.contains(&n.as_str())
                                || (self.names == AGGREGATES
                                    && (n.starts_with("regr_") || n.starts_with("approx_")))
                        }) =>
                {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    datafusion::sql::sqlparser::ast::Visit::visit(e, &mut Find { names, depth: 0 }).is_break()
}

/// Whether `e` calls an aggregate or window function.
pub fn aggregates(e: &Expr) -> bool {
    function_in(e, AGGREGATES)
}

/// The names the SELECT's FROM items are known by; None when one has
/// none this can tell (a nested join, an unaliased subquery).
fn own_names(s: &Select) -> Option<Vec<String>> {
    let mut own: Vec<String> = Vec::new();
    for twj in &s.from {
        for tf in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            match tf {
                TableFactor::Table { alias: Some(a), .. }
                | TableFactor::Derived { alias: Some(a), .. }
                | TableFactor::UNNEST { alias: Some(a), .. }
                | TableFactor::Function { alias: Some(a), .. } => {
                    own.push(a.name.value.to_lowercase())
                }
                TableFactor::Table { name, .. } => {
                    own.push(name.0.last()?.to_string().trim_matches('"').to_lowercase());
                }
                _ => return None,
            }
        }
    }
    Some(own)
}

/// The relation a qualified column names (`t` of `t.c` and of
/// `pg_catalog.t.c`).
fn qualifier(e: &Expr) -> Option<String> {
    match e {
        Expr::CompoundIdentifier(p) if p.len() >= 2 => Some(p[p.len() - 2].value.to_lowercase()),
        _ => None,
    }
}

fn is_outer(e: &Expr, own: &[String]) -> bool {
    qualifier(e).is_some_and(|q| !own.contains(&q))
}

fn is_inner(e: &Expr, own: &[String]) -> bool {
    qualifier(e).is_some_and(|q| own.contains(&q))
}

/// Whether `e` names a column qualified by a name not in `own`.
fn names_outside(e: &Expr, own: &[String]) -> bool {
    visit_expressions(e, |x| {
        if is_outer(x, own) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// Whether every column `e` names is qualified by a name not in `own`
/// (a condition on the outer row alone).
fn only_outside(e: &Expr, own: &[String]) -> bool {
    let inside = visit_expressions(e, |x| match x {
        Expr::Identifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            ControlFlow::Break(())
        }
        Expr::CompoundIdentifier(_) if !is_outer(x, own) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break();
    !inside && names_outside(e, own)
}

/// Rewrite `q` if it is such a subquery: Some(the conditions on the outer
/// row alone it had, taken out of it), None to leave it.
fn single_value(q: &mut Query) -> Option<Option<Expr>> {
    if q.with.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_mut() else {
        return None;
    };
    let plain = s.distinct.is_none()
        && s.having.is_none()
        && matches!(&s.group_by, GroupByExpr::Expressions(g, _) if g.is_empty())
        && s.projection.len() == 1
        && !s.from.is_empty();
    if !plain {
        return None;
    }
    let own = own_names(s)?;
    // Only a correlated one: DataFusion runs an uncorrelated one as it is.
    if !s.selection.as_ref().is_some_and(|w| names_outside(w, &own)) {
        return None;
    }
    let value = match &mut s.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    if aggregates(value) || function_in(value, SET_RETURNING) {
        return None;
    }
    let inner = std::mem::replace(value, Expr::value(Value::Null));
    *value = super::ast::call("array_agg", vec![inner]);
    q.order_by = None;
    let SetExpr::Select(s) = q.body.as_mut() else {
        return None;
    };
    let mut parts = Vec::new();
    super::ast::conjuncts(s.selection.take()?, &mut parts);
    let (outer, mut inner): (Vec<Expr>, Vec<Expr>) =
        parts.into_iter().partition(|c| only_outside(c, &own));
    substitute_outer(&mut inner, &own);
    s.selection = super::ast::and_all(inner);
    Some(super::ast::and_all(outer))
}

/// `c.oid = a.attcollation AND a.attcollation <> t.typcollation`: in the
/// other comparisons an outer column equated to an inner one is that inner
/// column (`c.oid <> t.typcollation`), which DataFusion decorrelates (it
/// cannot an outer column under a non-equality). Rows where they differ
/// fail the equality anyway. Only a comparison's own operands change,
/// never anything inside a nested subquery.
fn substitute_outer(conds: &mut [Expr], own: &[String]) {
    let mut equal: Vec<(Expr, Expr)> = Vec::new();
    for c in conds.iter() {
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = c
        {
            if is_inner(left, own) && is_outer(right, own) {
                equal.push(((**right).clone(), (**left).clone()));
            } else if is_outer(left, own) && is_inner(right, own) {
                equal.push(((**left).clone(), (**right).clone()));
            }
        }
    }
    for c in conds.iter_mut() {
        let Expr::BinaryOp { left, op, right } = c else {
            continue;
        };
        let comparison = matches!(
            op,
            BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
        );
        if !comparison {
            continue;
        }
        for side in [left, right] {
            if let Some((_, inner)) = equal.iter().find(|(o, _)| o == side.as_ref()) {
                **side = inner.clone();
            }
        }
    }
}
