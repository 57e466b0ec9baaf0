//! A set-returning function in FROM with a table alias and no column list
//! names its one column after the alias, as PostgreSQL does for functions
//! that return a scalar type: `FROM generate_series(1, 3) n` has a column
//! `n`, `FROM unnest(a) v` a column `v` (DataFusion names them `value`
//! and `UNNEST(...)`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Statement, TableAlias, TableAliasColumnDef, TableFactor, VisitMut, VisitorMut,
};

use crate::sql::parse::object_parts;

/// Functions in FROM that return one column.
const ONE_COLUMN: &[&str] = &["generate_series", "range"];

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

impl VisitorMut for NameColumns {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        match tf {
            TableFactor::Table {
                name,
                args: Some(_),
                alias,
                ..
            } => {
                let parts = object_parts(name);
                let func = parts.last().map(String::as_str).unwrap_or("");
                let schema_ok = parts.len() == 1 || parts[0] == "pg_catalog";
                if schema_ok && ONE_COLUMN.contains(&func) {
                    name_after_alias(alias);
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
