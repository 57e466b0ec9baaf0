//! UPDATE: the new rows of a scan over the target, re-run when a row changed
//! since it was read (READ COMMITTED's re-check).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{Assignment, AssignmentTarget, Update, UpdateTableFromKind};

use crate::catalog::Table;
use crate::catalog::locks::LockMode;
use crate::dataplane::write::{Conflict, RowWrite, WriteError};
use crate::encoding::decode_row;
use crate::error::{PgError, PgResult, codes};
use crate::exec::catalog_provider::SCRATCH_SCHEMA;
use crate::sql::errors::df_error;
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use crate::types::Datum;
use crate::types::text::quote_ident;

use super::common::*;
use super::fk;
use super::lock::lock_in_block;
use super::row_rules::{self, RowRules};
use super::stream::{ScanWriter, scan_stream};

pub(super) enum UpdateError {
    /// A row changed between read and write: run the statement again.
    Retry,
    Pg(PgError),
}

impl From<PgError> for UpdateError {
    fn from(e: PgError) -> Self {
        UpdateError::Pg(e)
    }
}

/// The scan of an UPDATE: the target's rows with their new values, and
/// the positions of the assigned columns in the order the scan returns
/// their values (after the table's columns, its key and stored bytes).
fn update_sql(
    table: &Table,
    alias: &str,
    assignments: &[Assignment],
    from: Option<&str>,
    selection: Option<&str>,
) -> PgResult<(String, Vec<usize>)> {
    let mut set_cols = Vec::new();
    let mut exprs = Vec::new();
    for (name, value) in assigned(assignments)? {
        let pos = table.column_index(&name).ok_or_else(|| {
            PgError::new(
                codes::UNDEFINED_COLUMN,
                format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    table.name
                ),
            )
        })?;
        let col = &table.columns[pos];
        let is_default = value.eq_ignore_ascii_case("default");
        if col.generated.is_some() && is_default {
            continue; // computed again from the new row
        }
        if col.identity_always || col.generated.is_some() {
            let mut e = PgError::new(
                codes::GENERATED_ALWAYS,
                format!("column \"{}\" can only be updated to DEFAULT", col.name),
            );
            if col.generated.is_some() {
                e = e.with_detail(format!("Column \"{}\" is a generated column.", col.name));
            } else {
                e = e.with_detail(format!(
                    "Column \"{}\" is an identity column defined as GENERATED ALWAYS.",
                    col.name
                ));
            }
            return Err(e);
        }
        let value = if is_default {
            col.default.clone().unwrap_or_else(|| "NULL".into())
        } else {
            value
        };
        let i = exprs.len();
        exprs.push(format!(
            "CAST(({value}) AS {}) AS \"__set_{i}\"",
            col.ty.cast_name()
        ));
        set_cols.push(pos);
    }
    let mut sql = format!("SELECT {}.*", quote_ident(alias));
    for e in &exprs {
        sql.push_str(", ");
        sql.push_str(e);
    }
    sql.push_str(&format!(
        " FROM {}.\"target\" AS {}",
        quote_ident(SCRATCH_SCHEMA),
        quote_ident(alias)
    ));
    if let Some(f) = from {
        sql.push_str(", ");
        sql.push_str(f);
    }
    if let Some(s) = selection {
        sql.push_str(" WHERE ");
        sql.push_str(s);
    }
    Ok((sql, set_cols))
}

/// Each assigned column with its value as SQL text: `SET (a, b) = (1, 2)`
/// and `SET (a, b) = (SELECT x, y ...)` become one assignment per column.
fn assigned(assignments: &[Assignment]) -> PgResult<Vec<(String, String)>> {
    use datafusion::sql::sqlparser::ast::Expr as E;
    let mut out = Vec::new();
    for a in assignments {
        let names: Vec<String> = match &a.target {
            AssignmentTarget::ColumnName(n) => {
                out.push((
                    object_parts(n).last().cloned().unwrap_or_default(),
                    a.value.to_string(),
                ));
                continue;
            }
            AssignmentTarget::Tuple(ns) => ns
                .iter()
                .map(|n| object_parts(n).last().cloned().unwrap_or_default())
                .collect(),
        };
        let values: Vec<String> = match &a.value {
            E::Tuple(es) => es.iter().map(|e| e.to_string()).collect(),
            E::Nested(e) if names.len() == 1 => vec![e.to_string()],
            E::Subquery(q) => {
                // One scalar subquery per column, each taking its column
                // of the row the subquery gives.
                let cols: Vec<String> = (0..names.len())
                    .map(|i| format!("\"__grape_c{i}\""))
                    .collect();
                (0..names.len())
                    .map(|i| {
                        format!(
                            "(SELECT \"__grape_c{i}\" FROM ({q}) AS \"__grape_row\"({}))",
                            cols.join(", ")
                        )
                    })
                    .collect()
            }
            _ => {
                return Err(PgError::new(
                    codes::FEATURE_NOT_SUPPORTED,
                    "source for a multiple-column UPDATE item must be a sub-SELECT or ROW() expression",
                ));
            }
        };
        if values.len() != names.len() {
            return Err(PgError::syntax(
                "number of columns does not match number of values",
            ));
        }
        out.extend(names.into_iter().zip(values));
    }
    Ok(out)
}

/// The writes that update one scanned row (`key`, `stored`, the scan's
/// values `vals`) and its index entries; returns the new row's key and
/// values.
fn row_writes(
    table: &Table,
    rules: Option<&RowRules>,
    set_cols: &[usize],
    (key, stored, vals): (Vec<u8>, Vec<u8>, Vec<Datum>),
    writes: &mut Vec<RowWrite>,
) -> PgResult<(Vec<u8>, Vec<Datum>)> {
    let ncols = table.columns.len();
    let old: Vec<Datum> = decode_row(table, &stored)?;
    let mut new = old.clone();
    for (j, &pos) in set_cols.iter().enumerate() {
        new[pos] = vals[ncols + 2 + j].clone();
    }
    row_rules::apply(rules, table, &mut new)?;
    let (new_key, row_writes) = row_change_writes((table, table), key, stored, &old, &new)?;
    writes.extend(row_writes);
    Ok((new_key, new))
}

/// A failed write of an UPDATE: a key or unique value that must be free
/// and is taken is 23505 (`by_key`: the new rows of the writes that
/// failed, to name the values); any other changed row means the
/// statement runs again.
fn update_conflict(
    table: &Table,
    c: Conflict,
    by_key: &HashMap<Vec<u8>, Vec<Datum>>,
) -> UpdateError {
    if c.expected.is_none() {
        UpdateError::Pg(conflict_error(table, &c.key, by_key).unwrap_or_else(|| {
            PgError::new(
                codes::UNIQUE_VIOLATION,
                "duplicate key value violates unique constraint",
            )
        }))
    } else {
        UpdateError::Retry
    }
}

/// A row changed between the statement's read and its write or lock:
/// run again with a new snapshot (READ COMMITTED), or 40001 where the
/// block keeps one snapshot.
pub(super) fn changed_since_read(session: &Session) -> UpdateError {
    if session.repeatable() {
        UpdateError::Pg(PgError::serialization_failure())
    } else {
        UpdateError::Retry
    }
}

/// Core of UPDATE: returns the new rows.
pub(super) async fn update_rows(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    alias: &str,
    assignments: &[Assignment],
    from: Option<String>,
    selection: Option<String>,
) -> Result<Vec<Vec<Datum>>, UpdateError> {
    register_target(session, table)?;
    let (sql, set_cols) = update_sql(
        table,
        alias,
        assignments,
        from.as_deref(),
        selection.as_deref(),
    )?;
    let rules = RowRules::compile(engine, session, table).await?;
    let batches = run_sql(engine, session, &sql).await?;
    let mut writes = Vec::new();
    let mut new_rows = Vec::new();
    let mut by_key: HashMap<Vec<u8>, Vec<Datum>> = HashMap::new();
    // UPDATE ... FROM can match a row more than once: it is updated once
    // (target_rows keeps each key once).
    let mut read = Vec::new();
    for row in target_rows(&batches, table.columns.len())? {
        read.push((row.0.clone(), row.1.clone()));
        let (new_key, new) = row_writes(table, rules.as_ref(), &set_cols, row, &mut writes)?;
        by_key.insert(new_key, new.clone());
        new_rows.push(new);
    }
    // In a block the rows are locked now, as PostgreSQL's UPDATE does:
    // other writers wait for the block, which cannot fail at COMMIT
    // because of them.
    let olds: Vec<Vec<Datum>> = if fk::involved(session, table) {
        read.iter()
            .map(|(_, stored)| decode_row(table, stored))
            .collect::<PgResult<_>>()?
    } else {
        Vec::new()
    };
    if !lock_in_block(engine, session, read).await? {
        return Err(changed_since_read(session));
    }
    match engine.write(session, writes).await {
        Ok(()) if olds.is_empty() => Ok(new_rows),
        Ok(()) => {
            // Foreign keys, after the statement's writes: its new rows'
            // references, then what referenced its old keys.
            if !table.foreign_keys.is_empty() {
                fk::check_references(engine, session, table, &new_rows, Some(&olds), None).await?;
            }
            let changes: Vec<(Vec<Datum>, Option<Vec<Datum>>)> = olds
                .into_iter()
                .zip(new_rows.iter().cloned().map(Some))
                .collect();
            fk::referenced_rows_changed(engine, session, table, &changes).await?;
            Ok(new_rows)
        }
        Err(WriteError::Conflict(c)) => Err(update_conflict(table, c, &by_key)),
        Err(WriteError::Failed(e)) => Err(UpdateError::Pg(e)),
    }
}

/// An autocommit UPDATE without FROM or RETURNING, written while it
/// scans ([`ScanWriter`]): returns how many rows it updated.
async fn update_streaming(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    alias: &str,
    assignments: &[Assignment],
    selection: Option<&str>,
) -> Result<u64, UpdateError> {
    use futures::StreamExt;
    register_target(session, table)?;
    let (sql, set_cols) = update_sql(table, alias, assignments, None, selection)?;
    let rules = RowRules::compile(engine, session, table).await?;
    let mut stream = scan_stream(engine, session, &sql).await?;
    let mut writer = ScanWriter::default();
    // The new rows of the writes not sent yet, to name a taken value.
    let mut by_key: HashMap<Vec<u8>, Vec<Datum>> = HashMap::new();
    let mut n = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df_error)?;
        let mut writes = Vec::new();
        for row in target_rows(std::slice::from_ref(&batch), table.columns.len())? {
            let (new_key, new) = row_writes(table, rules.as_ref(), &set_cols, row, &mut writes)?;
            by_key.insert(new_key, new);
            n += 1;
        }
        match writer.push(engine, session, writes).await {
            Ok(true) => by_key.clear(),
            Ok(false) => {}
            Err(WriteError::Conflict(c)) => return Err(update_conflict(table, c, &by_key)),
            Err(WriteError::Failed(e)) => return Err(UpdateError::Pg(e)),
        }
    }
    drop(stream);
    match writer.finish(engine, session).await {
        Ok(()) => Ok(n),
        Err(WriteError::Conflict(c)) => Err(update_conflict(table, c, &by_key)),
        Err(WriteError::Failed(e)) => Err(UpdateError::Pg(e)),
    }
}

pub async fn update(engine: &Engine, session: &mut Session, upd: Update) -> PgResult<Output> {
    let (parts, alias) = target_of(&upd.table.relation)?;
    if !upd.table.joins.is_empty() {
        return Err(PgError::unsupported("JOIN in UPDATE target"));
    }
    let table = lock_table(engine, session, &parts, LockMode::RowExclusive).await?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let from = match &upd.from {
        Some(UpdateTableFromKind::AfterSet(f)) | Some(UpdateTableFromKind::BeforeSet(f)) => Some(
            f.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => None,
    };
    let selection = upd.selection.as_ref().map(|s| s.to_string());
    for attempt in 0..MAX_RETRIES {
        if attempt > 0 {
            // The row changed since the statement's snapshot: re-read it.
            engine.fresh_snapshot(session).await;
        }
        // Outside a block, without FROM (a row matched twice) or
        // RETURNING: write while scanning, in bounded memory.
        if !session.in_block() && from.is_none() && upd.returning.is_none() {
            let alias = alias.as_str();
            let set = &upd.assignments;
            match update_streaming(engine, session, &table, alias, set, selection.as_deref()).await
            {
                Ok(n) => return Ok(Output::Command(format!("UPDATE {n}"))),
                Err(UpdateError::Retry) => continue,
                Err(UpdateError::Pg(e)) => return Err(e),
            }
        }
        match update_rows(
            engine,
            session,
            &table,
            &alias,
            &upd.assignments,
            from.clone(),
            selection.clone(),
        )
        .await
        {
            Ok(rows) => {
                let n = rows.len();
                let ret = match &upd.returning {
                    Some(items) => {
                        Some(returning(engine, session, &table, &alias, items, &rows).await?)
                    }
                    None => None,
                };
                return Ok(match ret {
                    Some((schema, batches)) => Output::Rows {
                        schema,
                        batches,
                        tag: "UPDATE".into(),
                    },
                    None => Output::Command(format!("UPDATE {n}")),
                });
            }
            Err(UpdateError::Retry) => continue,
            Err(UpdateError::Pg(e)) => return Err(e),
        }
    }
    Err(PgError::serialization_failure())
}
