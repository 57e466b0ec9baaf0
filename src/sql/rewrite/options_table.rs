//! `pg_options_to_table(options)`, the set of `(option_name,
//! option_value)` pairs of a `name=value` options array (pg_dump reads
//! foreign-data wrappers', servers' and columns' options with it). It
//! becomes the unnest of the options, `unnest(a) AS
//! alias(__grape_option)`, with `option_name` and `option_value` the two
//! sides of the first `=`. Under `ORDER BY option_name` over it alone the
//! array is sorted by name first (`grape_options_sorted`) and the ORDER
//! BY goes, so
//! an `ARRAY(...)` of it over an outer row's column is the map
//! `array_subquery::maps` computes without a join.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, OrderByKind, Query, SetExpr, TableFactor, VisitMut,
    VisitorMut, visit_expressions_mut,
};

use crate::sql::parse::object_parts;

const ELEMENT: &str = "__grape_option";

pub fn rewrite(stmt: &mut datafusion::sql::sqlparser::ast::Statement) {
    let _ = stmt.visit(&mut Options);
}

struct Options;

/// The options array of `FROM pg_options_to_table(a) [alias]`, and the
/// alias its columns may be qualified with.
fn options_call(tf: &TableFactor) -> Option<(Expr, Option<Ident>)> {
    let TableFactor::Table {
        name,
        args: Some(args),
        alias,
        ..
    } = tf
    else {
        return None;
    };
    let parts = object_parts(name);
    let is_it = match parts.as_slice() {
        [f] | [_, f] => f == "pg_options_to_table",
        _ => false,
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(a))] = args.args.as_slice() else {
        return None;
    };
    is_it.then(|| (a.clone(), alias.as_ref().map(|a| a.name.clone())))
}

/// `option_name` / `option_value` (or qualified by `alias`) as the split
/// of the element.
fn column_of(e: &Expr, alias: &Option<Ident>) -> Option<bool> {
    let ident = match e {
        Expr::Identifier(i) => i,
        Expr::CompoundIdentifier(p)
            if p.len() == 2
                && alias
                    .as_ref()
                    .is_some_and(|a| a.value.eq_ignore_ascii_case(&p[0].value)) =>
        {
            &p[1]
        }
        _ => return None,
    };
    match ident.value.to_lowercase().as_str() {
        "option_name" => Some(true),
        "option_value" => Some(false),
        _ => None,
    }
}

fn split(name: bool) -> Expr {
    let sql = if name {
        format!("split_part({ELEMENT}, '=', 1)")
    } else {
        format!(
            "CASE WHEN strpos({ELEMENT}, '=') > 0 THEN substr({ELEMENT}, strpos({ELEMENT}, '=') + 1) END"
        )
    };
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(&sql)
    .and_then(|mut p| p.parse_expr())
    .expect("fixed SQL parses")
}

impl VisitorMut for Options {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(s) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let alone = s.from.len() == 1 && s.from[0].joins.is_empty();
        // Sorted by name, `ORDER BY option_name` of it alone goes (else the
        // options come in the array's order, as in PostgreSQL).
        let sorted = alone
            && options_call(&s.from[0].relation).is_some_and(|(_, alias)| {
                q.order_by.as_ref().is_some_and(|ob| {
                    matches!(&ob.kind, OrderByKind::Expressions(keys)
                        if keys.len() == 1
                            && column_of(&keys[0].expr, &alias) == Some(true)
                            && keys[0].options.asc != Some(false))
                })
            });
        if sorted {
            q.order_by = None;
        }
        let SetExpr::Select(s) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let mut found = None;
        for twj in s.from.iter_mut() {
            for tf in std::iter::once(&mut twj.relation)
                .chain(twj.joins.iter_mut().map(|j| &mut j.relation))
            {
                if let Some((array, alias)) = options_call(tf) {
                    let name = alias
                        .clone()
                        .unwrap_or_else(|| Ident::new("pg_options_to_table"));
                    let array = if sorted {
                        format!("grape_options_sorted({array})")
                    } else {
                        array.to_string()
                    };
                    let sql = format!("SELECT 1 FROM unnest({array}) AS {name}({ELEMENT})");
                    let Ok(Some(datafusion::sql::sqlparser::ast::Statement::Query(parsed))) =
                        crate::sql::parse(&sql).map(|mut v| v.pop())
                    else {
                        continue;
                    };
                    let SetExpr::Select(parsed) = *parsed.body else {
                        continue;
                    };
                    if let Some(first) = parsed.from.into_iter().next() {
                        *tf = first.relation;
                        found = Some(alias);
                    }
                }
            }
        }
        let Some(alias) = found else {
            return ControlFlow::Continue(());
        };
        let replace = |e: &mut Expr| {
            if let Some(name) = column_of(e, &alias) {
                *e = split(name);
            }
        };
        let SetExpr::Select(s) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        // `*` is its two columns.
        if s.projection.len() == 1
            && matches!(
                s.projection[0],
                datafusion::sql::sqlparser::ast::SelectItem::Wildcard(_)
            )
        {
            s.projection = ["option_name", "option_value"]
                .into_iter()
                .map(|c| {
                    datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(Expr::Identifier(
                        Ident::new(c),
                    ))
                })
                .collect();
        }
        for item in s.projection.iter_mut() {
            // A bare column keeps its name.
            if let datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(e) = item
                && let Some(name) = column_of(e, &alias)
            {
                *item = datafusion::sql::sqlparser::ast::SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::new(if name { "option_name" } else { "option_value" }),
                };
            }
            let _ = visit_expressions_mut(item, |e| {
                replace(e);
                ControlFlow::<()>::Continue(())
            });
        }
        if let Some(w) = s.selection.as_mut() {
            let _ = visit_expressions_mut(w, |e| {
                replace(e);
                ControlFlow::<()>::Continue(())
            });
        }
        if let Some(ob) = q.order_by.as_mut() {
            let _ = visit_expressions_mut(ob, |e| {
                replace(e);
                ControlFlow::<()>::Continue(())
            });
        }
        ControlFlow::Continue(())
    }
}
