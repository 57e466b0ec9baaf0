//! A correlated scalar subquery that does not aggregate, `(SELECT d.adbin
//! FROM pg_attrdef d WHERE d.adrelid = a.attrelid)`: PostgreSQL runs it
//! and fails only if it finds more than one row; DataFusion plans a
//! correlated one only when it aggregates. It becomes
//! `grape_one((SELECT array_agg(d.adbin) ...))`: the aggregate lets
//! DataFusion decorrelate it, and `grape_one` gives PostgreSQL's answers
//! on the value the outer row gets (NULL for no rows, 21000 for more than
//! one), so inner rows no outer row reaches never raise. Its ORDER BY goes
//! (one row has no order). Two more steps help DataFusion decorrelate:
//! conditions on the outer row alone move out (`grape_one((...),
//! outer.flag)`), and an outer column equated to an inner one stands for
//! it in the other comparisons. A value that reads the outer row is
//! computed outside the subquery (`split_outer`).

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
        let Some((guard, outer_value)) = single_value(q) else {
            return ControlFlow::Continue(());
        };
        let Expr::Subquery(q) = std::mem::replace(e, Expr::value(Value::Null)) else {
            unreachable!("matched above")
        };
        // `(SELECT v ... WHERE corr AND outer.flag)` is `grape_one((SELECT
        // array_agg(v) ... WHERE corr), outer.flag)`: NULL when the flag
        // is not true (the rows' count not checked then, as PostgreSQL
        // does not run it), and DataFusion decorrelates only the second.
        *e = match outer_value {
            Some((value, own)) => split_outer(*q, guard, value, &own),
            None => one(*q, &guard),
        };
        ControlFlow::Continue(())
    });
}

/// `grape_one((q), guard)`: the one value of subquery `q` (its value
/// aggregated), NULL where `guard` is given and not true.
fn one(q: Query, guard: &Option<Expr>) -> Expr {
    let mut args = vec![Expr::Subquery(Box::new(q))];
    args.extend(guard.clone());
    super::ast::call("grape_one", args)
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

/// A subquery's value that reads the outer row, and the names its own
/// FROM items go by.
type OuterValue = (Expr, Vec<String>);

/// Rewrite `q` if it is such a subquery (its value aggregated): Some(the
/// conditions on the outer row alone it had, taken out of it, and its
/// value if that reads the outer row too), None to leave it.
fn single_value(q: &mut Query) -> Option<(Option<Expr>, Option<OuterValue>)> {
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
    // Over catalogs, an unqualified name may be the outer row's too
    // (pg_dump's `(SELECT relkind FROM pg_class WHERE oid = typrelid)`
    // over pg_type): DataFusion resolves it, but plans it only aggregated.
    let correlated = s
        .selection
        .as_ref()
        .is_some_and(|w| names_outside(w, &own) || (reads_only_catalogs(s) && has_unqualified(w)));
    if !correlated {
        return None;
    }
    let value = match &mut s.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    if aggregates(value) || function_in(value, SET_RETURNING) {
        return None;
    }
    let reads_outer = names_outside(value, &own);
    if reads_outer && !only_qualified(value) {
        return None;
    }
    let inner = std::mem::replace(value, Expr::value(Value::Null));
    let kept = reads_outer.then(|| inner.clone());
    *value = super::ast::call("array_agg", vec![inner]);
    q.order_by = None;
    let SetExpr::Select(s) = q.body.as_mut() else {
        return None;
    };
    let mut parts = Vec::new();
    super::ast::conjuncts(s.selection.take()?, &mut parts);
    let (outer, mut conds): (Vec<Expr>, Vec<Expr>) =
        parts.into_iter().partition(|c| only_outside(c, &own));
    substitute_outer(&mut conds, &own);
    s.selection = super::ast::and_all(conds);
    Some((super::ast::and_all(outer), kept.map(|v| (v, own))))
}

/// Whether every FROM item of `s` is a `pg_catalog` relation.
fn reads_only_catalogs(s: &Select) -> bool {
    s.from.iter().all(|twj| {
        std::iter::once(&twj.relation)
            .chain(twj.joins.iter().map(|j| &j.relation))
            .all(|tf| match tf {
                TableFactor::Table {
                    name, args: None, ..
                } => match crate::sql::parse::object_parts(name).as_slice() {
                    [t] => crate::pg_catalog::is_table(t),
                    [s, t] => s == "pg_catalog" && crate::pg_catalog::is_table(t),
                    _ => false,
                },
                _ => false,
            })
    })
}

/// Whether `e` names an unqualified column.
fn has_unqualified(e: &Expr) -> bool {
    visit_expressions(e, |x| match x {
        Expr::Identifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether every column `e` names is qualified and it holds no subquery
/// (so which row each column is of can be told).
fn only_qualified(e: &Expr) -> bool {
    !visit_expressions(e, |x| match x {
        Expr::Identifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// A value that reads the outer row (`(SELECT json_build_object('always',
/// a.attidentity = 'a', 'start', s.seqstart) FROM pg_sequence s WHERE
/// ...)`, SQLAlchemy's identity columns): DataFusion cannot aggregate an
/// outer column, so the value is computed outside, each inner column in
/// it a subquery of its own, where the subquery has a row:
/// `grape_when(grape_one((SELECT array_agg(true) ...)),
/// json_build_object('always', a.attidentity = 'a', 'start',
/// grape_one((SELECT array_agg(s.seqstart) ...))))`. `q` is the rewritten
/// subquery, `guard` its outer-row conditions, `own` its FROM items' names.
fn split_outer(q: Query, guard: Option<Expr>, mut value: Expr, own: &[String]) -> Expr {
    let with_value = |v: Expr| {
        let mut q = q.clone();
        if let SetExpr::Select(s) = q.body.as_mut()
            && let Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) =
                s.projection.first_mut()
        {
            *e = super::ast::call("array_agg", vec![v]);
        }
        one(q, &guard)
    };
    let _ = visit_expressions_mut(&mut value, |x| {
        if is_inner(x, own) {
            let column = std::mem::replace(x, Expr::value(Value::Null));
            *x = with_value(column);
        }
        ControlFlow::<()>::Continue(())
    });
    let present = with_value(Expr::value(Value::Boolean(true)));
    super::ast::call("grape_when", vec![present, value])
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
