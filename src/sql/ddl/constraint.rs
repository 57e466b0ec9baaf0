//! CHECK constraints: PostgreSQL's names for them, adding one (old rows
//! checked unless NOT VALID), VALIDATE, DROP and RENAME CONSTRAINT, and
//! keeping their expressions right when a column is renamed.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{Expr, Ident, visit_expressions, visit_expressions_mut};

use super::common::*;
use crate::catalog::{Catalog, Check, Column, ColumnId, Table};
use crate::error::{PgError, PgResult, codes};
use crate::sql::Engine;
use crate::sql::session::Session;
use crate::types::text::quote_ident;

pub(super) use crate::sql::parse::parse_expr;

/// The columns (of `columns`) an expression names, each once, in the
/// order it first names them.
pub(super) fn referenced_columns(columns: &[Column], expr: &Expr) -> Vec<ColumnId> {
    let mut out = Vec::new();
    let _ = visit_expressions(expr, |e| {
        let name = match e {
            Expr::Identifier(i) => Some(ident_name(i)),
            Expr::CompoundIdentifier(parts) => parts.last().map(ident_name),
            _ => None,
        };
        if let Some(c) = name.and_then(|n| columns.iter().find(|c| c.name == n)) {
            if !out.contains(&c.id) {
                out.push(c.id);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// The name PostgreSQL gives an unnamed CHECK: `table_column_check` when
/// the expression reads one column, else `table_check`; a number is
/// appended while the name is taken in the schema (`taken` adds the
/// names chosen earlier in the same statement).
pub(super) fn check_name(
    cat: &Catalog,
    schema: &str,
    table: &str,
    column: Option<&str>,
    taken: &[String],
) -> String {
    let base = match column {
        Some(c) => format!("{table}_{c}"),
        None => table.to_string(),
    };
    let in_use = |n: &str| {
        taken.iter().any(|t| t == n) || cat.tables_in(schema).any(|t| t.has_constraint(n))
    };
    let mut n = 0;
    loop {
        let label = if n == 0 {
            "check".to_string()
        } else {
            format!("check{n}")
        };
        // PostgreSQL shortens the table and column part to fit 63 bytes.
        let mut name = base.clone();
        while name.len() + label.len() + 1 > 63 {
            name.pop();
        }
        let name = format!("{name}_{label}");
        if !in_use(&name) {
            return name;
        }
        n += 1;
    }
}

/// A CHECK constraint for `columns` from its (optional) name and
/// expression text; `taken` are names given earlier in the statement.
pub(super) fn new_check(
    cat: &Catalog,
    schema: &str,
    table: &str,
    columns: &[Column],
    name: Option<String>,
    expr_sql: &str,
    taken: &[String],
) -> PgResult<Check> {
    let expr = parse_expr(expr_sql)?;
    let cols = referenced_columns(columns, &expr);
    let name = match name {
        Some(n) => {
            if taken.contains(&n) {
                return Err(duplicate(&n, table));
            }
            n
        }
        None => {
            let single = match cols.as_slice() {
                [one] => columns
                    .iter()
                    .find(|c| c.id == *one)
                    .map(|c| c.name.as_str()),
                _ => None,
            };
            check_name(cat, schema, table, single, taken)
        }
    };
    Ok(Check {
        name,
        expr: expr.to_string(),
        columns: cols,
        validated: true,
    })
}

fn duplicate(name: &str, table: &str) -> PgError {
    PgError::new(
        codes::DUPLICATE_OBJECT,
        format!("constraint \"{name}\" for relation \"{table}\" already exists"),
    )
}

fn undefined(name: &str, table: &str) -> PgError {
    PgError::new(
        codes::UNDEFINED_OBJECT,
        format!("constraint \"{name}\" of relation \"{table}\" does not exist"),
    )
}

/// Plan the table's CHECKs and generated columns as the write path will:
/// a bad expression (unknown column, not boolean, subquery) fails the DDL.
pub(super) async fn validate_rules(
    engine: &Engine,
    session: &Session,
    table: &Table,
) -> PgResult<()> {
    crate::sql::dml::RowRules::compile(engine, session, table).await?;
    Ok(())
}

/// Whether a stored row makes `expr` false (old rows, as ADD CONSTRAINT
/// and VALIDATE CONSTRAINT check them).
async fn violated(engine: &Engine, session: &Session, table: &Table, expr: &str) -> PgResult<bool> {
    let sql = format!(
        "SELECT 1 FROM {}.{} WHERE ({expr}) IS FALSE LIMIT 1",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    Ok(!crate::sql::dml::run_sql(engine, session, &sql)
        .await?
        .iter()
        .all(|b| b.num_rows() == 0))
}

/// ALTER TABLE ADD [CONSTRAINT name] CHECK (expr) [NOT VALID].
pub(super) async fn add_check(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    name: Option<&Ident>,
    expr: &Expr,
    not_valid: bool,
) -> PgResult<()> {
    let name = name.map(ident_name);
    if let Some(n) = &name {
        if table.has_constraint(n) {
            return Err(duplicate(n, &table.name));
        }
    }
    let cat = session.catalog();
    let mut check = new_check(
        &cat,
        &table.schema,
        &table.name,
        &table.columns,
        name,
        &expr.to_string(),
        &[],
    )?;
    let mut with = (**table).clone();
    with.checks.push(check.clone());
    validate_rules(engine, session, &with).await?;
    if not_valid {
        check.validated = false;
    } else if violated(engine, session, table, &check.expr).await? {
        return Err(violated_error(&check.name, &table.name));
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        if t.has_constraint(&check.name) {
            return Err(duplicate(&check.name, &t.name));
        }
        t.checks.push(check);
        Ok(())
    })
    .await
}

fn violated_error(name: &str, table: &str) -> PgError {
    PgError::new(
        codes::CHECK_VIOLATION,
        format!("check constraint \"{name}\" of relation \"{table}\" is violated by some row"),
    )
}

/// ALTER TABLE VALIDATE CONSTRAINT: check the old rows of a NOT VALID one.
pub(super) async fn validate_check(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    name: &Ident,
) -> PgResult<()> {
    let n = ident_name(name);
    let Some(check) = table.checks.iter().find(|c| c.name == n) else {
        if table.has_constraint(&n) {
            return Ok(()); // PRIMARY KEY and UNIQUE are always valid
        }
        return Err(undefined(&n, &table.name));
    };
    if check.validated {
        return Ok(());
    }
    if violated(engine, session, table, &check.expr).await? {
        return Err(violated_error(&n, &table.name));
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        if let Some(c) = t.checks.iter_mut().find(|c| c.name == n) {
            c.validated = true;
        }
        Ok(())
    })
    .await
}

/// ALTER TABLE DROP CONSTRAINT for a CHECK (`Ok(false)`: not a CHECK).
pub(super) async fn drop_check(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    name: &str,
) -> PgResult<bool> {
    if !table.checks.iter().any(|c| c.name == name) {
        return Ok(false);
    }
    let tid = table.id;
    change(engine, session, |cat| {
        table_mut(cat, tid, &table.name)?
            .checks
            .retain(|c| c.name != name);
        Ok(())
    })
    .await?;
    Ok(true)
}

/// ALTER TABLE RENAME CONSTRAINT (a CHECK, or the index of a PRIMARY KEY
/// or UNIQUE constraint, which takes the new name as PostgreSQL's does).
pub(super) async fn rename_constraint(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    old: &Ident,
    new: &Ident,
) -> PgResult<()> {
    let (old, new) = (ident_name(old), ident_name(new));
    if !table.has_constraint(&old) {
        return Err(undefined(&old, &table.name));
    }
    if table.has_constraint(&new) {
        return Err(duplicate(&new, &table.name));
    }
    let tid = table.id;
    change(engine, session, |cat| {
        let t = table_mut(cat, tid, &table.name)?;
        for c in t.checks.iter_mut().filter(|c| c.name == old) {
            c.name = new.clone();
        }
        for i in t.indexes.iter_mut().filter(|i| i.name == old) {
            i.name = new.clone();
        }
        Ok(())
    })
    .await
}

/// `expr_sql` with column `old` renamed to `new`.
pub(super) fn rename_column_in(expr_sql: &str, old: &str, new: &str) -> PgResult<String> {
    let mut expr = parse_expr(expr_sql)?;
    let _ = visit_expressions_mut(&mut expr, |e| {
        let ident = match e {
            Expr::Identifier(i) => Some(i),
            Expr::CompoundIdentifier(parts) => parts.last_mut(),
            _ => None,
        };
        if let Some(i) = ident {
            if ident_name(i) == old {
                *i = Ident::with_quote('"', new);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(expr.to_string())
}
