//! SQL-level `PREPARE name [(types)] AS statement` and `EXECUTE name
//! [(values)]` (pg_dump prepares its per-object queries so): the
//! statement is kept in the session, and EXECUTE runs it with each `$n`
//! replaced by its value, cast to the declared type. `DEALLOCATE` forgets
//! it (`frontend::prepared`), as does `DISCARD ALL`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, Ident, Statement, Value, visit_expressions, visit_expressions_mut,
};

use super::engine::Engine;
use super::output::Output;
use super::parse::folded;
use super::session::{Session, SqlPrepared};
use crate::error::{PgError, PgResult, codes};

/// The highest `$n` the statement names.
fn parameter_count(stmt: &Statement) -> usize {
    let mut n = 0;
    let _ = visit_expressions(stmt, |e| {
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
            && let Some(i) = p.strip_prefix('$').and_then(|d| d.parse::<usize>().ok())
        {
            n = n.max(i);
        }
        ControlFlow::<()>::Continue(())
    });
    n
}

pub fn prepare(
    session: &mut Session,
    name: &Ident,
    types: Vec<DataType>,
    statement: Statement,
) -> PgResult<Output> {
    // As PostgreSQL: a query or a row write only (no PREPARE ... AS
    // EXECUTE, which could run itself).
    if !matches!(
        statement,
        Statement::Query(_) | Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
    ) {
        let word = statement.to_string();
        let word = word.split_whitespace().next().unwrap_or("").to_string();
        return Err(PgError::new(
            codes::SYNTAX_ERROR,
            format!("syntax error at or near \"{word}\""),
        ));
    }
    let name = folded(name);
    if session.sql_prepared.contains_key(&name) {
        return Err(PgError::new(
            "42P05",
            format!("prepared statement \"{name}\" already exists"),
        ));
    }
    session
        .sql_prepared
        .insert(name, SqlPrepared { statement, types });
    Ok(Output::Command("PREPARE".into()))
}

pub async fn execute(
    engine: &Engine,
    session: &mut Session,
    name: &Ident,
    values: Vec<Expr>,
) -> PgResult<Output> {
    let key = folded(name);
    let Some(prepared) = session.sql_prepared.get(&key).cloned() else {
        return Err(PgError::new(
            codes::INVALID_SQL_STATEMENT_NAME,
            format!("prepared statement \"{key}\" does not exist"),
        ));
    };
    let expected = prepared
        .types
        .len()
        .max(parameter_count(&prepared.statement));
    if values.len() != expected {
        return Err(PgError::new(
            codes::SYNTAX_ERROR,
            format!("wrong number of parameters for prepared statement \"{key}\""),
        )
        .with_detail(format!(
            "Expected {expected} parameters but got {}.",
            values.len()
        )));
    }
    // Each value computed once, before the statement runs (a
    // `nextval(..)` used twice by it still takes one value; a name in it
    // cannot reach the statement's columns): as text, put back under its
    // declared type.
    let mut values = values;
    for (i, v) in values.iter_mut().enumerate() {
        let Some(t) = prepared.types.get(i) else {
            continue;
        };
        if matches!(v, Expr::Value(_)) {
            continue;
        }
        let sql = format!("SELECT CAST(CAST(({v}) AS {t}) AS text)");
        let batches = crate::sql::dml::run_sql(engine, session, &sql).await?;
        let text = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| {
                let col = datafusion::arrow::compute::cast(
                    b.column(0),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
                .ok()?;
                let col = datafusion::arrow::array::AsArray::as_string::<i32>(&col).clone();
                Some(
                    (!datafusion::arrow::array::Array::is_null(&col, 0))
                        .then(|| col.value(0).to_string()),
                )
            })
            .flatten();
        *v = match text {
            Some(t) => Expr::value(Value::SingleQuotedString(t)),
            None => Expr::value(Value::Null),
        };
    }
    let mut stmt = prepared.statement;
    let _ = visit_expressions_mut(&mut stmt, |e| {
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
            && let Some(i) = p.strip_prefix('$').and_then(|d| d.parse::<usize>().ok())
            && (1..=values.len()).contains(&i)
        {
            let value = values[i - 1].clone();
            *e = match prepared.types.get(i - 1) {
                Some(t) => Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(value),
                    data_type: t.clone(),
                    array: false,
                    format: None,
                },
                None => Expr::Nested(Box::new(value)),
            };
        }
        ControlFlow::<()>::Continue(())
    });
    Box::pin(engine.execute_nested(session, stmt)).await
}
