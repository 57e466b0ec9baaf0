//! `ORDER BY` with a subquery in it (Grafana's table list sorts by
//! `CASE WHEN schema IN (SELECT ...) THEN 0 ELSE 1 END`): DataFusion
//! plans subqueries in a SELECT list or WHERE, not in a sort. The
//! SELECT becomes a subquery that computes the sort keys as hidden
//! columns, and the outer query sorts by them and returns the visible
//! columns only.

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, OrderByKind, Query, SelectItem, SetExpr, Statement, TableFactor, Value,
    visit_expressions,
};
use std::ops::ControlFlow;

fn has_subquery(e: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(e, |x| {
        let array = matches!(x, Expr::Function(f)
            if matches!(f.args, datafusion::sql::sqlparser::ast::FunctionArguments::Subquery(_)));
        if array
            || matches!(
                x,
                Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
            )
        {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// Rewrite the outermost query of `stmt` (see the module doc).
pub fn rewrite(stmt: &mut Statement) {
    if let Statement::Query(q) = stmt {
        rewrite_query(q);
    }
}

fn rewrite_query(q: &mut Query) {
    let Some(order_by) = &mut q.order_by else {
        return;
    };
    let OrderByKind::Expressions(keys) = &mut order_by.kind else {
        return;
    };
    if !keys.iter().any(|k| has_subquery(&k.expr)) {
        return;
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    if select.distinct.is_some() {
        return;
    }
    // The visible columns' names as the inner query gives them (every
    // item named: `columns` named the unnamed ones before this runs; an
    // unquoted name folds to lower case).
    let fold = |i: &Ident| match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    };
    let mut names: Vec<String> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(Expr::Identifier(i)) => names.push(fold(i)),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p)) => match p.last() {
                Some(i) => names.push(fold(i)),
                None => return,
            },
            SelectItem::ExprWithAlias { alias, .. } => names.push(fold(alias)),
            _ => return,
        }
    }
    let mut inner = select.clone();
    for (k, key) in keys.iter_mut().enumerate() {
        let visible = match &key.expr {
            // `ORDER BY 1`: the first visible column.
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| names.get(n)),
                _ => None,
            },
            // An output column's name (else the source's column).
            Expr::Identifier(i) => names.iter().find(|n| **n == fold(i)),
            _ => None,
        };
        let name = match visible {
            Some(n) => Ident::with_quote('"', n.clone()),
            None => {
                // A key over the source rows: computed inside, hidden.
                let alias = Ident::with_quote('"', format!("grape_sort_{k}"));
                inner.projection.push(SelectItem::ExprWithAlias {
                    expr: key.expr.clone(),
                    alias: alias.clone(),
                });
                alias
            }
        };
        key.expr = Expr::CompoundIdentifier(vec![Ident::new("grape_sorted"), name]);
    }
    let columns: Vec<String> = names
        .iter()
        .map(|n| format!("grape_sorted.{}", Ident::with_quote('"', n.clone())))
        .collect();
    let template = format!(
        "SELECT {} FROM (SELECT 1) AS grape_sorted",
        columns.join(", ")
    );
    let Ok(mut parsed) = crate::sql::parse(&template) else {
        return;
    };
    let Some(Statement::Query(outer)) = parsed.pop() else {
        return;
    };
    let mut outer = *outer;
    let SetExpr::Select(outer_select) = outer.body.as_mut() else {
        return;
    };
    let Some(TableFactor::Derived { subquery, .. }) =
        outer_select.from.first_mut().map(|f| &mut f.relation)
    else {
        return;
    };
    subquery.body = Box::new(SetExpr::Select(inner));
    q.body = outer.body;
}

#[cfg(test)]
mod tests {
    #[test]
    fn sort_keys_with_subqueries_move_inside() {
        let mut stmt = crate::sql::parse(
            "SELECT a AS \"t\" FROM x ORDER BY CASE WHEN a IN (SELECT b FROM y) THEN 0 ELSE 1 END, 1 LIMIT 3",
        )
        .unwrap()
        .pop()
        .unwrap();
        super::rewrite(&mut stmt);
        assert_eq!(
            stmt.to_string(),
            "SELECT grape_sorted.\"t\" FROM (SELECT a AS \"t\", CASE WHEN a IN (SELECT b FROM y) \
             THEN 0 ELSE 1 END AS \"grape_sort_0\" FROM x) AS grape_sorted \
             ORDER BY grape_sorted.\"grape_sort_0\", grape_sorted.\"t\" LIMIT 3"
        );
    }
}

/// `x [NOT] IN (subquery)` in a SELECT list or ORDER BY (DataFusion
/// plans IN and EXISTS subqueries in WHERE only) is `grape_in_array(x,
/// ARRAY(subquery))`, or `NOT (...)`: the same three-valued answer;
/// `[NOT] EXISTS (subquery)` there is its count compared with 0. Only
/// the statement's own items: an IN inside a nested subquery's WHERE is
/// left to DataFusion (a semi-join). Runs before [`rewrite`], which moves
/// the sort keys into the SELECT list.
pub fn in_subqueries_as_arrays(stmt: &mut Statement) {
    use datafusion::sql::sqlparser::ast::VisitMut;
    let Statement::Query(q) = stmt else {
        return;
    };
    let mut exprs: Vec<&mut Expr> = Vec::new();
    if let Some(OrderByKind::Expressions(keys)) = q.order_by.as_mut().map(|o| &mut o.kind) {
        exprs.extend(keys.iter_mut().map(|k| &mut k.expr));
    }
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    for item in select.projection.iter_mut() {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            exprs.push(e);
        }
    }
    for e in exprs {
        let _ = e.visit(&mut TopLevelIn { depth: 0 });
    }
}

/// Whether `q` is `SELECT agg(...) FROM ...` with no GROUP BY, HAVING,
/// LIMIT, OFFSET or set-returning item: exactly one row.
fn one_aggregate_row(q: &Query) -> bool {
    if q.with.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return false;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return false;
    };
    let items: Vec<&Expr> = s
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect();
    let windowed = items.iter().any(|e| {
        visit_expressions(*e, |x| match x {
            Expr::Function(f) if f.over.is_some() => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        })
        .is_break()
    });
    items.len() == s.projection.len()
        && !windowed
        && items.iter().any(|e| super::scalar_subquery::aggregates(e))
        && !items.iter().any(|e| returns_set(e))
        && s.having.is_none()
        && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty())
}

/// `SELECT count(*) FROM f WHERE w` for an EXISTS subquery of that plain
/// shape (no grouping, DISTINCT, LIMIT or set operation); None otherwise.
fn counted(q: &Query) -> Option<Query> {
    // `LIMIT n` (n at least 1, no OFFSET) does not change whether a row is
    // there.
    let harmless_limit = match &q.limit_clause {
        None => true,
        Some(datafusion::sql::sqlparser::ast::LimitClause::LimitOffset {
            limit: Some(Expr::Value(v)),
            offset: None,
            limit_by,
        }) if limit_by.is_empty() => {
            matches!(&v.value, Value::Number(n, _) if n.parse::<u64>().is_ok_and(|n| n >= 1))
        }
        Some(_) => false,
    };
    if q.with.is_some() || !harmless_limit || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    // An aggregate without GROUP BY gives one row whatever it reads, so
    // its EXISTS is true: not a count of the rows.
    // A set-returning item may give no rows from rows that are there.
    let aggregated = s.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
            super::scalar_subquery::aggregates(e) || returns_set(e)
        }
        _ => false,
    });
    let plain = s.distinct.is_none()
        && s.having.is_none()
        && !aggregated
        && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty());
    if !plain {
        return None;
    }
    let Ok(Some(Statement::Query(count))) =
        crate::sql::parse("SELECT count(*)").map(|mut v| v.pop())
    else {
        return None;
    };
    let SetExpr::Select(count_select) = count.body.as_ref() else {
        return None;
    };
    let mut out = q.clone();
    out.order_by = None;
    out.limit_clause = None;
    if let SetExpr::Select(select) = out.body.as_mut() {
        select.projection = count_select.projection.clone();
    }
    Some(out)
}

/// Whether `e` calls a set-returning function (`unnest`,
/// `generate_series`, a JSON one) outside nested queries.
pub fn returns_set(e: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(e, |x| {
        if let Expr::Function(f) = x {
            let name = super::ast::function_name(f);
            if [
                "unnest",
                "generate_series",
                "generate_subscripts",
                "regexp_split_to_table",
            ]
            .contains(&name.as_str())
                || crate::sql::json::srf_lists(&name).is_some()
            {
                found = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// Rewrites the IN and EXISTS subqueries it meets outside nested queries.
struct TopLevelIn {
    depth: usize,
}

impl datafusion::sql::sqlparser::ast::VisitorMut for TopLevelIn {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, x: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        // `[NOT] EXISTS (SELECT ... FROM f WHERE w)`: whether the
        // subquery's count is above 0 (a correlated count decorrelates).
        // An aggregate without GROUP BY, HAVING or LIMIT gives one row:
        // EXISTS of it is true.
        if let Expr::Exists { subquery, negated } = x
            && one_aggregate_row(subquery)
        {
            *x = Expr::value(datafusion::sql::sqlparser::ast::Value::Boolean(!*negated));
            return ControlFlow::Continue(());
        }
        if let Expr::Exists { subquery, negated } = x
            && let Some(count) = counted(subquery)
        {
            let op = if *negated { "=" } else { ">" };
            let template = format!("(SELECT 1) {op} 0");
            if let Ok(Expr::BinaryOp { op, right, .. }) =
                datafusion::sql::sqlparser::parser::Parser::new(
                    &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
                )
                .try_with_sql(&template)
                .and_then(|mut p| p.parse_expr())
            {
                *x = Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(Expr::Subquery(Box::new(count))),
                    op,
                    right,
                }));
            }
            return ControlFlow::Continue(());
        }
        if let Expr::InSubquery {
            expr,
            subquery,
            negated,
        } = x
        {
            let array = Expr::Function(datafusion::sql::sqlparser::ast::Function {
                name: datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new("ARRAY")]),
                uses_odbc_syntax: false,
                parameters: datafusion::sql::sqlparser::ast::FunctionArguments::None,
                args: datafusion::sql::sqlparser::ast::FunctionArguments::Subquery(
                    subquery.clone(),
                ),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            });
            let any = super::ast::call("grape_in_array", vec![*expr.clone(), array]);
            *x = if *negated {
                Expr::UnaryOp {
                    op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
                    expr: Box::new(Expr::Nested(Box::new(any))),
                }
            } else {
                any
            };
        }
        ControlFlow::Continue(())
    }
}
