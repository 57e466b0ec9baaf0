//! DELETE.

use datafusion::sql::sqlparser::ast::{Delete, FromTable};

use std::sync::Arc;

use crate::catalog::Table;
use crate::catalog::locks::LockMode;
use crate::dataplane::write::{RowWrite, WriteError};
use crate::encoding::decode_row;
use crate::error::{PgError, PgResult};
use crate::sql::errors::df_error;
use crate::sql::session::Session;
use crate::sql::{Engine, Output};
use crate::types::Datum;

use super::common::*;
use super::fk;
use super::lock::lock_in_block;
use super::stream::{ScanWriter, scan_stream};
use super::update::*;

pub async fn delete(engine: &Engine, session: &mut Session, del: Delete) -> PgResult<Output> {
    let tables = match &del.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [target] = tables.as_slice() else {
        return Err(PgError::unsupported("DELETE from several tables"));
    };
    let (parts, alias) = target_of(&target.relation)?;
    let table = lock_table(engine, session, &parts, LockMode::RowExclusive).await?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let ncols = table.columns.len();
    for attempt in 0..MAX_RETRIES {
        if attempt > 0 {
            // The row changed since the statement's snapshot: re-read it.
            engine.fresh_snapshot(session).await;
        }
        register_target(session, &table)?;
        let mut sql = target_scan_sql(&alias);
        if let Some(using) = &del.using {
            for u in using {
                sql.push_str(&format!(", {u}"));
            }
        }
        if let Some(sel) = &del.selection {
            sql.push_str(&format!(" WHERE {sel}"));
        }
        // Outside a block, without RETURNING or USING (no row to keep or
        // to see twice): write while scanning, in bounded memory.
        if !session.in_block() && del.returning.is_none() && del.using.is_none() {
            match delete_streaming(engine, session, &table, &sql).await? {
                Some(n) => return Ok(Output::Command(format!("DELETE {n}"))),
                None => continue,
            }
        }
        let batches = run_sql(engine, session, &sql).await?;
        let mut writes = Vec::new();
        let mut rows = Vec::new();
        let mut read = Vec::new();
        for (key, stored, _) in target_rows(&batches, ncols)? {
            read.push((key.clone(), stored.clone()));
            rows.push(delete_writes(&table, key, stored, &mut writes)?);
        }
        // In a block the rows are locked now (see UPDATE).
        if !lock_in_block(engine, session, read).await? {
            match changed_since_read(session) {
                UpdateError::Retry => continue,
                UpdateError::Pg(e) => return Err(e),
            }
        }
        match engine.write(session, writes).await {
            Ok(()) => {}
            Err(WriteError::Conflict(_)) => continue,
            Err(WriteError::Failed(e)) => return Err(e),
        }
        // What referenced the deleted rows cascades or fails the statement.
        let gone: Vec<(Vec<Datum>, Option<Vec<Datum>>)> =
            rows.iter().map(|r| (r.clone(), None)).collect();
        fk::referenced_rows_changed(engine, session, &table, &gone).await?;
        let n = rows.len();
        let ret = match &del.returning {
            Some(items) => Some(returning(engine, session, &table, &alias, items, &rows).await?),
            None => None,
        };
        return Ok(match ret {
            Some((schema, batches)) => Output::Rows {
                schema,
                batches,
                tag: "DELETE".into(),
            },
            None => Output::Command(format!("DELETE {n}")),
        });
    }
    Err(PgError::serialization_failure())
}

/// An autocommit DELETE that writes as it scans ([`ScanWriter`]).
/// `None`: a row changed since it was read (the caller runs the statement
/// again).
async fn delete_streaming(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    sql: &str,
) -> PgResult<Option<u64>> {
    use futures::StreamExt;
    let mut stream = scan_stream(engine, session, sql).await?;
    let ncols = table.columns.len();
    let mut writer = ScanWriter::default();
    let mut n = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df_error)?;
        let mut writes = Vec::new();
        for (key, stored, _) in target_rows(std::slice::from_ref(&batch), ncols)? {
            delete_writes(table, key, stored, &mut writes)?;
            n += 1;
        }
        match writer.push(engine, session, writes).await {
            Ok(_) => {}
            Err(WriteError::Conflict(_)) => return Ok(None),
            Err(WriteError::Failed(e)) => return Err(e),
        }
    }
    drop(stream);
    match writer.finish(engine, session).await {
        Ok(()) => Ok(Some(n)),
        Err(WriteError::Conflict(_)) => Ok(None),
        Err(WriteError::Failed(e)) => Err(e),
    }
}

/// The writes that delete one row (stored as `stored` at `key`) and its
/// index entries.
fn delete_writes(
    table: &Table,
    key: Vec<u8>,
    stored: Vec<u8>,
    writes: &mut Vec<RowWrite>,
) -> PgResult<Vec<Datum>> {
    let old = decode_row(table, &stored)?;
    for idx in secondary(table) {
        if let Some((k, v)) = index_entry(table, idx, &old, &key)? {
            writes.push(entry_write(idx, k, Some(v), None));
        }
    }
    writes.push(RowWrite {
        key,
        expect: Some(stored),
        new: None,
        blind: false,
    });
    Ok(old)
}
