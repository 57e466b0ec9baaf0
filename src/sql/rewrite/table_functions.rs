//! A set-returning function in FROM with a table alias and no column list
//! names its one column after the alias, as PostgreSQL does for functions
//! that return a scalar type: `FROM generate_series(1, 3) n` has a column
//! `n`, `FROM unnest(a) v` a column `v` (DataFusion names them `value`
//! and `UNNEST(...)`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Ident, Statement, TableAlias, TableAliasColumnDef,
    TableFactor, VisitMut, VisitorMut,
};

use crate::sql::parse::object_parts;

/// Functions in FROM that return one column.
const ONE_COLUMN: &[&str] = &["generate_series", "range"];

/// Scalar functions tools call in FROM, where PostgreSQL makes them a
/// one-row relation whose column is named after the alias (Grafana's
/// `string_to_array(current_setting('search_path'), ',') s`).
const SCALAR_IN_FROM: &[&str] = &[
    "string_to_array",
    "current_setting",
    "current_schemas",
    "current_schema",
    "parse_ident",
    "regexp_split_to_array",
];

/// `FROM f(args) [AS] a` of a scalar `f`: `(SELECT f(args) AS a) AS a`
/// (its column `a`, or the alias's column name; unaliased, `f`).
fn scalar_subquery(func: &str, call: &Expr, alias: Option<TableAlias>) -> Option<TableFactor> {
    let alias = alias.unwrap_or_else(|| bare_alias(func));
    let column = alias
        .columns
        .first()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| alias.name.clone());
    let sql = format!("SELECT {call} AS {column}");
    derived(&sql, alias, false)
}

struct NameColumns;

/// `alias` gets the column list `(alias)` when it has none.
fn name_after_alias(alias: &mut Option<TableAlias>) {
    if let Some(a) = alias {
        if a.columns.is_empty() {
            a.columns = vec![TableAliasColumnDef {
                name: a.name.clone(),
                data_type: None,
            }];
        }
    }
}

/// The name a FROM item's columns are qualified with (its alias or its
/// table name).
fn qualifier(tf: &TableFactor) -> Option<Ident> {
    match tf {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            Some(a.name.clone())
        }
        TableFactor::Table {
            name, args: None, ..
        } => name.0.last().and_then(|p| p.as_ident()).cloned(),
        _ => None,
    }
}

/// `FROM pg_catalog.f(...)` (psql writes every function so) is `FROM
/// f(...)`; `pg_catalog.unnest(a)` the UNNEST DataFusion plans.
fn unqualify_function(tf: &mut TableFactor) {
    let TableFactor::Table {
        name,
        args: Some(args),
        alias,
        with_ordinality,
        ..
    } = tf
    else {
        return;
    };
    let parts = object_parts(name);
    if parts.len() != 2 || parts[0] != "pg_catalog" {
        return;
    }
    name.0.remove(0);
    if parts[1] == "unnest" {
        let array_exprs = args
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect();
        *tf = TableFactor::UNNEST {
            alias: alias.take(),
            array_exprs,
            with_offset: false,
            with_offset_alias: None,
            with_ordinality: *with_ordinality,
        };
    }
}

/// `FROM t, unnest(a)`: bare column names in the unnest are `t`'s (the one
/// table before it), qualified so the lateral subquery it becomes can
/// refer to them.
fn qualify_unnest_args(q: &mut datafusion::sql::sqlparser::ast::Query) {
    let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    let Some(first) = select.from.first() else {
        return;
    };
    let Some(outer) = qualifier(&first.relation) else {
        return;
    };
    let first_joins = first.joins.len();
    let mut items: Vec<&mut TableFactor> = Vec::new();
    if select.from.len() == 2 && first_joins == 0 {
        items.push(&mut select.from[1].relation);
    } else if select.from.len() == 1 && first_joins == 1 {
        items.push(&mut select.from[0].joins[0].relation);
    }
    let qualify = |e: &mut Expr| {
        let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(e, |x| {
            if let Expr::Identifier(id) = x {
                *x = Expr::CompoundIdentifier(vec![outer.clone(), id.clone()]);
            }
            ControlFlow::<()>::Continue(())
        });
    };
    for tf in items {
        match tf {
            TableFactor::UNNEST { array_exprs, .. } => array_exprs.iter_mut().for_each(qualify),
            TableFactor::Table {
                name,
                args: Some(args),
                ..
            } if object_parts(name)
                .last()
                .is_some_and(|f| crate::sql::json::srf_lists(f).is_some()) =>
            {
                for a in args.args.iter_mut() {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = a {
                        qualify(e);
                    }
                }
            }
            _ => {}
        }
    }
}

impl VisitorMut for NameColumns {
    type Break = ();

    fn pre_visit_query(
        &mut self,
        q: &mut datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<()> {
        qualify_unnest_args(q);
        json_srf_in_select(q);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        unqualify_function(tf);
        match tf {
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                with_ordinality,
                ..
            } => {
                let ordinality = *with_ordinality;
                let parts = object_parts(name);
                let func = parts.last().map(String::as_str).unwrap_or("");
                let schema_ok = parts.len() == 1 || parts[0] == "pg_catalog";
                // `generate_series(1, array_upper(a, 1))`: DataFusion's
                // table function takes constants only (it folds constant
                // arithmetic itself); with a column, a function call or a
                // subquery in the arguments, the array they make is
                // unnested instead (a lateral subquery when they read
                // earlier tables).
                if schema_ok && func == "generate_series" && !all_constant(&args.args) {
                    let with_ordinality = matches!(
                        tf,
                        TableFactor::Table {
                            with_ordinality: true,
                            ..
                        }
                    );
                    let TableFactor::Table {
                        args: Some(args),
                        alias,
                        ..
                    } = tf
                    else {
                        return ControlFlow::Continue(());
                    };
                    let call =
                        crate::sql::rewrite::ast::call("generate_series", positional(&args.args));
                    // Unaliased, its column is `generate_series`, as in
                    // PostgreSQL.
                    let mut alias = alias.take().or_else(|| {
                        Some(TableAlias {
                            explicit: true,
                            name: Ident::new("generate_series"),
                            columns: Vec::new(),
                            at: None,
                        })
                    });
                    name_after_alias(&mut alias);
                    *tf = TableFactor::UNNEST {
                        alias,
                        array_exprs: vec![call],
                        with_offset: false,
                        with_offset_alias: None,
                        with_ordinality,
                    };
                    return self.pre_visit_table_factor(tf);
                }
                if schema_ok && ONE_COLUMN.contains(&func) {
                    name_after_alias(alias);
                }
                if schema_ok
                    && !ordinality
                    && SCALAR_IN_FROM.contains(&func)
                    && !names_columns_in(&args.args)
                {
                    let call = crate::sql::rewrite::ast::call(func, positional(&args.args));
                    let func = func.to_string();
                    if let Some(derived) = scalar_subquery(&func, &call, alias.take()) {
                        *tf = derived;
                    }
                    return ControlFlow::Continue(());
                }
                // jsonb_object_keys(x), jsonb_array_elements(x), jsonb_each(x)...
                if let (true, Some(lists), [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))]) = (
                    schema_ok,
                    crate::sql::json::srf_lists(func),
                    args.args.as_slice(),
                ) {
                    let default_alias = func.to_string();
                    if let Some(derived) =
                        json_srf_subquery(arg, lists, alias.take(), &default_alias)
                    {
                        *tf = derived;
                    }
                }
            }
            // `unnest(t.a)` after `t`, or WITH ORDINALITY: a subquery
            // (lateral when it names columns: DataFusion's unnest cannot
            // read the row before it).
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality,
                ..
            } if array_exprs.len() == 1 && (*with_ordinality || names_columns(&array_exprs[0])) => {
                if let Some(derived) = as_subquery(&array_exprs[0], alias.take(), *with_ordinality)
                {
                    *tf = derived;
                }
            }
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } if array_exprs.len() == 1 => name_after_alias(alias),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether the arguments are constants DataFusion folds itself: no
/// column, function call or subquery in them.
fn all_constant(args: &[FunctionArg]) -> bool {
    args.iter().all(|a| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
            let mut constant = true;
            let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |x| {
                if matches!(
                    x,
                    Expr::Identifier(_)
                        | Expr::CompoundIdentifier(_)
                        | Expr::Function(_)
                        | Expr::Subquery(_)
                ) {
                    constant = false;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            constant
        }
        _ => false,
    })
}

/// A call's positional arguments (the call rebuilt elsewhere).
fn positional(args: &[FunctionArg]) -> Vec<Expr> {
    args.iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// Whether any argument refers to columns (a lateral call, left as it is).
fn names_columns_in(args: &[FunctionArg]) -> bool {
    args.iter().any(|a| match a {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => names_columns(e),
        _ => true,
    })
}

/// Whether an expression refers to columns (of the tables before it).
fn names_columns(e: &Expr) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |e| {
        if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// `unnest(a) [WITH ORDINALITY] AS t(x[, n])` as a subquery: the elements
/// (beside their positions, `a` and `generate_series(1, cardinality(a))`
/// unnested side by side), lateral when `a` names columns.
fn as_subquery(array: &Expr, alias: Option<TableAlias>, ordinality: bool) -> Option<TableFactor> {
    let alias = alias.unwrap_or_else(|| bare_alias("unnest"));
    let name = |i: usize, default: &str| {
        alias
            .columns
            .get(i)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| Ident::new(default))
    };
    let value = name(0, &alias.name.value.clone());
    let mut sql = format!("SELECT unnest({array}) AS {value}");
    if ordinality {
        let n = name(1, "ordinality");
        sql.push_str(&format!(
            ", unnest(generate_series(1, cardinality({array}))) AS {n}"
        ));
    }
    derived(&sql, alias, names_columns(array))
}

fn bare_alias(name: &str) -> TableAlias {
    TableAlias {
        explicit: false,
        name: Ident::new(name),
        columns: vec![],
        at: None,
    }
}

/// The subquery `sql` as a FROM item named `alias` (its column list is
/// the subquery's names now).
fn derived(sql: &str, mut alias: TableAlias, lateral: bool) -> Option<TableFactor> {
    let Statement::Query(subquery) = crate::sql::parse(sql).ok()?.pop()? else {
        return None;
    };
    alias.columns.clear();
    Some(TableFactor::Derived {
        lateral,
        subquery,
        alias: Some(alias),
        sample: None,
    })
}

/// A set-returning JSON function in FROM as a subquery unnesting the
/// lists of its columns side by side (lateral when its argument names
/// columns); its columns are named by the alias's list, else as
/// PostgreSQL names them (`key`, `value`; a one-column function after
/// the alias).
fn json_srf_subquery(
    arg: &Expr,
    lists: &[(&str, &str)],
    alias: Option<TableAlias>,
    default_alias: &str,
) -> Option<TableFactor> {
    let alias = alias.unwrap_or_else(|| bare_alias(default_alias));
    let items: Vec<String> = lists
        .iter()
        .enumerate()
        .map(|(i, (f, col))| {
            let name = match alias.columns.get(i) {
                Some(c) => c.name.clone(),
                None if col.is_empty() => alias.name.clone(),
                None => Ident::new(*col),
            };
            format!("unnest({f}({arg})) AS {name}")
        })
        .collect();
    derived(
        &format!("SELECT {}", items.join(", ")),
        alias,
        names_columns(arg),
    )
}

/// `SELECT jsonb_object_keys(x)` (a one-column set-returning JSON
/// function in the select list): `unnest` of its list, named after it.
fn json_srf_in_select(q: &mut datafusion::sql::sqlparser::ast::Query) {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    let SetExpr::Select(select) = q.body.as_mut() else {
        return;
    };
    for item in select.projection.iter_mut() {
        let (e, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => continue,
        };
        let Expr::Function(f) = &*e else { continue };
        let name = f.name.to_string().to_ascii_lowercase();
        let Some([(list_fn, _)]) = crate::sql::json::srf_lists(&name) else {
            continue;
        };
        let datafusion::sql::sqlparser::ast::FunctionArguments::List(args) = &f.args else {
            continue;
        };
        let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = args.args.as_slice() else {
            continue;
        };
        let Ok(call) = crate::sql::parse::parse_expr(&format!("unnest({list_fn}({arg}))")) else {
            continue;
        };
        *item = SelectItem::ExprWithAlias {
            expr: call,
            alias: alias.unwrap_or_else(|| Ident::new(name)),
        };
    }
}

pub fn rewrite(stmt: &mut Statement) {
    let _ = stmt.visit(&mut NameColumns);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt = crate::sql::parse(sql).unwrap().pop().unwrap();
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn an_alias_names_the_one_column() {
        assert_eq!(
            rewritten("SELECT n FROM generate_series(1, 3) n"),
            "SELECT n FROM generate_series(1, 3) n (n)"
        );
        assert_eq!(
            rewritten("SELECT v FROM unnest(ARRAY[1, 2]) v"),
            "SELECT v FROM UNNEST(ARRAY[1, 2]) v (v)"
        );
        // Already named, or not a one-column function: left alone.
        assert_eq!(
            rewritten("SELECT x FROM generate_series(1, 3) AS g(x)"),
            "SELECT x FROM generate_series(1, 3) AS g (x)"
        );
        assert_eq!(rewritten("SELECT * FROM t a"), "SELECT * FROM t a");
    }
}
