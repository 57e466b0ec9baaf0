//! Rows that cannot exist: a SELECT that inner-joins a catalog GrapeDB
//! always leaves empty (`pg_policy`, `pg_trigger`, `pg_publication_rel`,
//! ...; see `pg_catalog::is_always_empty`) yields no rows, so the
//! subqueries in its select list never run. psql's `\d` and `\dp` put
//! subqueries there that DataFusion cannot plan (a table function over the
//! outer row, a correlation under a non-equality); they become NULL, and
//! an `ARRAY(...)`, scalar or EXISTS subquery over such a SELECT becomes
//! its value over no rows (`{}`, NULL, false), as PostgreSQL would
//! compute it.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, JoinOperator, Query, Select, SelectItem, SetExpr, Statement,
    TableFactor, Value, VisitMut, VisitorMut,
};

use crate::sql::parse::object_parts;

/// Whether `s` yields no rows: one of its FROM items, reached by inner
/// joins only, is an always-empty catalog, and it does not aggregate
/// (an aggregate over no rows is still a row).
fn yields_nothing(s: &Select) -> bool {
    let empty = |tf: &TableFactor| match tf {
        TableFactor::Table {
            name, args: None, ..
        } => {
            let parts = object_parts(name);
            parts.len() == 2
                && parts[0] == "pg_catalog"
                && crate::pg_catalog::is_always_empty(&parts[1])
        }
        _ => false,
    };
    let plain = s.having.is_none()
        && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty())
        && !s.projection.iter().any(|p| match p {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                super::scalar_subquery::aggregates(e)
            }
            _ => false,
        });
    // An inner join with an empty relation is empty; a RIGHT or FULL join
    // after it could bring rows back, so such a FROM item is not judged.
    plain
        && s.from.iter().any(|twj| {
            let outer_after = twj.joins.iter().any(|j| {
                !matches!(
                    j.join_operator,
                    JoinOperator::Join(_)
                        | JoinOperator::Inner(_)
                        | JoinOperator::CrossJoin(_)
                        | JoinOperator::Left(_)
                        | JoinOperator::LeftOuter(_)
                )
            });
            !outer_after
                && (empty(&twj.relation)
                    || twj.joins.iter().any(|j| {
                        matches!(
                            j.join_operator,
                            JoinOperator::Join(_)
                                | JoinOperator::Inner(_)
                                | JoinOperator::CrossJoin(_)
                        ) && empty(&j.relation)
                    }))
        })
}

/// A subquery in any form (scalar, EXISTS, IN, `ARRAY(...)`).
fn is_subquery(x: &Expr) -> bool {
    match x {
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => true,
        Expr::Function(f) => matches!(f.args, FunctionArguments::Subquery(_)),
        _ => false,
    }
}

fn null() -> Expr {
    Expr::value(Value::Null)
}

/// The plain SELECT of `q`, if it is one.
fn select_of(q: &Query) -> Option<&Select> {
    match q.body.as_ref() {
        SetExpr::Select(s) if q.with.is_none() => Some(s),
        _ => None,
    }
}

struct Empty;

impl VisitorMut for Empty {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let mut branches: Vec<&mut SetExpr> = vec![q.body.as_mut()];
        while let Some(b) = branches.pop() {
            match b {
                SetExpr::SetOperation { left, right, .. } => {
                    branches.push(left.as_mut());
                    branches.push(right.as_mut());
                }
                SetExpr::Select(s) if yields_nothing(s) => {
                    for item in &mut s.projection {
                        if let SelectItem::UnnamedExpr(e)
                        | SelectItem::ExprWithAlias { expr: e, .. } = item
                        {
                            let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(
                                e,
                                |x| {
                                    if is_subquery(x) {
                                        // An ARRAY(...) is `{}` over no
                                        // rows, and stays an array for the
                                        // functions around it (pg_dump's
                                        // array_to_string).
                                        let array = matches!(x, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("array"));
                                        *x = if array {
                                            crate::sql::parse::parse_expr("CAST('{}' AS text[])")
                                                .unwrap_or_else(|_| null())
                                        } else {
                                            null()
                                        };
                                    }
                                    ControlFlow::<()>::Continue(())
                                },
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let replacement = match e {
            // `x = ANY (no rows)` is false, `x <> ALL (no rows)` true.
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } if matches!(right.as_ref(), Expr::Subquery(q) if select_of(q).is_some_and(yields_nothing)) => {
                Some(Expr::value(Value::Boolean(matches!(e, Expr::AllOp { .. }))))
            }
            Expr::InSubquery {
                subquery, negated, ..
            } if select_of(subquery).is_some_and(yields_nothing) => {
                Some(Expr::value(Value::Boolean(*negated)))
            }
            Expr::Subquery(q) if select_of(q).is_some_and(yields_nothing) => Some(null()),
            Expr::Exists { subquery, negated }
                if select_of(subquery).is_some_and(yields_nothing) =>
            {
                Some(Expr::value(Value::Boolean(*negated)))
            }
            Expr::Function(f)
                if f.name.to_string().eq_ignore_ascii_case("array")
                    && matches!(&f.args, FunctionArguments::Subquery(q) if select_of(q).is_some_and(yields_nothing)) =>
            {
                Some(super::ast::call("grape_array_or_empty", vec![null()]))
            }
            _ => None,
        };
        if let Some(r) = replacement {
            *e = r;
        }
        ControlFlow::Continue(())
    }
}

pub fn rewrite(stmt: &mut Statement) {
    let _ = stmt.visit(&mut Empty);
}
