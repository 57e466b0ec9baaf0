//! A scalar subquery that does not aggregate, `(SELECT d.adbin FROM
//! pg_attrdef d WHERE d.adrelid = a.attrelid)`: PostgreSQL runs it and
//! fails only if it finds more than one row; DataFusion plans a
//! correlated one only when it aggregates. Its value becomes
//! `grape_single(value)`, an aggregate with PostgreSQL's answers (NULL for
//! no rows, 21000 for more than one), and its ORDER BY goes (one row has
//! no order).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Query, SelectItem, SetExpr, Statement, visit_expressions,
    visit_expressions_mut,
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
    "grape_single",
];

pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Subquery(q) = e
            && let Some(outer_only) = single_value(q)
        {
            // `(SELECT v ... WHERE corr AND outer.flag)` is `CASE WHEN
            // outer.flag THEN (SELECT v ... WHERE corr) END`: NULL either
            // way when the flag is false, and DataFusion decorrelates only
            // the second.
            let sub =
                std::mem::replace(e, Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
            *e = Expr::Case {
                case_token:
                    datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                end_token:
                    datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                operand: None,
                conditions: vec![datafusion::sql::sqlparser::ast::CaseWhen {
                    condition: outer_only,
                    result: sub,
                }],
                else_result: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

fn aggregates(e: &Expr) -> bool {
    visit_expressions(e, |x| match x {
        Expr::Function(f)
            if f.over.is_some()
                || AGGREGATES.contains(
                    &f.name
                        .0
                        .last()
                        .map(|p| p.to_string().to_lowercase())
                        .unwrap_or_default()
                        .as_str(),
                ) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether the SELECT names a column of a relation outside it
/// (`a.attrelid` with no `a` in its FROM): only such a subquery needs the
/// rewrite, DataFusion runs an uncorrelated one as it is.
fn correlated(s: &datafusion::sql::sqlparser::ast::Select) -> bool {
    let own = own_names(s);
    s.selection.as_ref().is_some_and(|w| names_outside(w, &own))
}

/// The names the SELECT's FROM items are known by.
fn own_names(s: &datafusion::sql::sqlparser::ast::Select) -> Vec<String> {
    use datafusion::sql::sqlparser::ast::TableFactor;
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
                    if let Some(p) = name.0.last() {
                        own.push(p.to_string().trim_matches('"').to_lowercase());
                    }
                }
                _ => {}
            }
        }
    }
    own
}

/// Whether `e` names a column qualified by a name not in `own`.
fn names_outside(e: &Expr, own: &[String]) -> bool {
    visit_expressions(e, |x| match x {
        Expr::CompoundIdentifier(parts)
            if parts.len() == 2 && !own.contains(&parts[0].value.to_lowercase()) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether every column `e` names is qualified by a name not in `own`
/// (a condition on the outer row alone).
fn only_outside(e: &Expr, own: &[String]) -> bool {
    let inside = visit_expressions(e, |x| match x {
        Expr::Identifier(_) | Expr::Subquery(_) | Expr::Exists { .. } => ControlFlow::Break(()),
        Expr::CompoundIdentifier(parts)
            if parts.len() != 2 || own.contains(&parts[0].value.to_lowercase()) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break();
    !inside && names_outside(e, own)
}

/// `a AND b AND c` as its conjuncts.
fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        Expr::Nested(inner) if matches!(*inner, Expr::BinaryOp { .. }) => {
            let is_and = matches!(
                &*inner,
                Expr::BinaryOp {
                    op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
                    ..
                }
            );
            if is_and {
                conjuncts(*inner, out)
            } else {
                out.push(Expr::Nested(inner))
            }
        }
        other => out.push(other),
    }
}

fn and_all(mut es: Vec<Expr>) -> Option<Expr> {
    let first = if es.is_empty() {
        return None;
    } else {
        es.remove(0)
    };
    Some(es.into_iter().fold(first, |l, r| Expr::BinaryOp {
        left: Box::new(l),
        op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
        right: Box::new(r),
    }))
}

/// Rewrite `q` if it is such a subquery; the conditions on the outer row
/// alone it had, taken out of it.
fn single_value(q: &mut Query) -> Option<Expr> {
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
    let is_correlated = correlated(s);
    let value = match &mut s.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    if aggregates(value) || !is_correlated {
        return None;
    }
    let inner = std::mem::replace(
        value,
        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
    );
    *value = super::ast::call("grape_single", vec![inner]);
    q.order_by = None;
    let SetExpr::Select(s) = q.body.as_mut() else {
        return None;
    };
    let own = own_names(s);
    let mut parts = Vec::new();
    conjuncts(s.selection.take()?, &mut parts);
    let (outer, mut inner): (Vec<Expr>, Vec<Expr>) =
        parts.into_iter().partition(|c| only_outside(c, &own));
    substitute_outer(&mut inner, &own);
    s.selection = and_all(inner);
    and_all(outer)
}

/// `c.oid = a.attcollation AND a.attcollation <> t.typcollation`: in the
/// other conditions an outer column equated to an inner one is that inner
/// column (`c.oid <> t.typcollation`), which DataFusion decorrelates (it
/// cannot an outer column under a non-equality). Rows where they differ
/// fail the equality anyway, so the answer is the same.
fn substitute_outer(conds: &mut [Expr], own: &[String]) {
    use datafusion::sql::sqlparser::ast::BinaryOperator;
    let qualifier_is_own = |e: &Expr| match e {
        Expr::CompoundIdentifier(p) if p.len() == 2 => {
            Some(own.contains(&p[0].value.to_lowercase()))
        }
        _ => None,
    };
    let mut equal: Vec<(Expr, Expr)> = Vec::new();
    for c in conds.iter() {
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = c
        {
            match (qualifier_is_own(left), qualifier_is_own(right)) {
                (Some(true), Some(false)) => equal.push(((**right).clone(), (**left).clone())),
                (Some(false), Some(true)) => equal.push(((**left).clone(), (**right).clone())),
                _ => {}
            }
        }
    }
    for c in conds.iter_mut() {
        let is_link = matches!(c, Expr::BinaryOp { left, op: BinaryOperator::Eq, right }
            if equal.iter().any(|(o, i)| (**left == *o && **right == *i) || (**left == *i && **right == *o)));
        if is_link {
            continue;
        }
        let _ = visit_expressions_mut(c, |x| {
            if let Some((_, inner)) = equal.iter().find(|(o, _)| o == x) {
                *x = inner.clone();
            }
            ControlFlow::<()>::Continue(())
        });
    }
}
