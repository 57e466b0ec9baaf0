//! FOREIGN KEY enforcement, as PostgreSQL's RI triggers do it after each
//! statement: rows written into a referencing table must find their
//! referenced row (which is then locked until the transaction ends, so a
//! concurrent DELETE of it waits); rows deleted from, or re-keyed in, a
//! referenced table cascade, set NULL / DEFAULT, or fail the statement.
//!
//! Statements on tables with foreign keys run in a transaction of their
//! own (see `sql::execute`), so the statement, its cascades and its locks
//! commit together or not at all. Checks of DEFERRED constraints wait in
//! the block ([`PendingFk`]) until COMMIT.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::sql::sqlparser::ast::{FromTable, Statement};

use crate::catalog::{FkAction, ForeignKey, Table};
use crate::dataplane::Txn;
use crate::dataplane::write::{RowWrite, WriteError};
use crate::encoding::encode_key;
use crate::error::{PgError, PgResult, codes};
use crate::sql::Engine;
use crate::sql::errors::df_error;
use crate::sql::session::{PendingFk, Session};
use crate::types::datum::rows_to_batch;
use crate::types::text::quote_ident;
use crate::types::{Datum, SqlType};

use super::common::{datum_text, register_scratch, run_sql};
use super::lock::lock_in_block;

/// Whether a DML statement writes a table with FK checks (and so runs in
/// a transaction of its own).
pub fn statement_involved(engine: &Engine, session: &Session, stmt: &Statement) -> bool {
    let parts = match stmt {
        Statement::Insert(ins) => super::common::table_of_insert(ins).ok(),
        Statement::Update(upd) => super::common::target_of(&upd.table.relation)
            .ok()
            .map(|(p, _)| p),
        Statement::Delete(del) => match &del.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t
                .first()
                .and_then(|t| super::common::target_of(&t.relation).ok())
                .map(|(p, _)| p),
        },
        _ => None,
    };
    parts
        .and_then(|p| super::common::resolve_table(engine, session, &p).ok())
        .is_some_and(|t| involved(session, &t))
}

/// Whether writes to `table` must run FK checks (it has foreign keys, or
/// another table's foreign key references it).
pub fn involved(session: &Session, table: &Table) -> bool {
    !table.foreign_keys.is_empty() || session.catalog().referencing(table.id).next().is_some()
}

/// The key columns' values of `row` (positions of `cols` in `table`), or
/// `None` when one is NULL (MATCH SIMPLE: such a row references nothing).
fn key_of(table: &Table, cols: &[u32], row: &[Datum]) -> Option<Vec<Datum>> {
    cols.iter()
        .map(|id| {
            let pos = table.columns.iter().position(|c| c.id == *id)?;
            let v = &row[pos];
            (!v.is_null()).then(|| v.clone())
        })
        .collect()
}

fn names(table: &Table, cols: &[u32]) -> Vec<String> {
    cols.iter()
        .filter_map(|id| table.column_by_id(*id).map(|c| c.name.clone()))
        .collect()
}

/// `Key (a, b)=(1, 2)` as PostgreSQL's details write it.
fn key_text(table: &Table, cols: &[u32], vals: &[Datum]) -> String {
    format!(
        "Key ({})=({})",
        names(table, cols).join(", "),
        vals.iter().map(datum_text).collect::<Vec<_>>().join(", ")
    )
}

/// A value as the referenced column's type stores it (an int4 column may
/// reference an int8 key); `None` when it does not fit, so no row has it.
fn as_type(v: &Datum, ty: &SqlType) -> Option<Datum> {
    let int = match v {
        Datum::I16(i) => Some(*i as i64),
        Datum::I32(i) => Some(*i as i64),
        Datum::I64(i) => Some(*i),
        _ => None,
    };
    Some(match (int, ty) {
        (Some(i), SqlType::Int2) => Datum::I16(i16::try_from(i).ok()?),
        (Some(i), SqlType::Int4) => Datum::I32(i32::try_from(i).ok()?),
        (Some(i), SqlType::Int8) => Datum::I64(i),
        _ => v.clone(),
    })
}

/// The referenced row of key `vals`: its row key and stored bytes, as this
/// session sees the table (its own writes first, then the newest commit).
fn referenced_row(
    engine: &Engine,
    session: &Session,
    parent: &Table,
    fk: &ForeignKey,
    vals: &[Datum],
) -> PgResult<Option<(Vec<u8>, Vec<u8>)>> {
    let typed: Option<Vec<Datum>> = fk
        .ref_columns
        .iter()
        .zip(vals)
        .map(|(id, v)| match parent.column_by_id(*id) {
            Some(c) => as_type(v, &c.ty),
            None => Some(v.clone()),
        })
        .collect();
    let Some(typed) = typed else {
        return Ok(None);
    };
    let idx = parent
        .indexes
        .iter()
        .find(|i| i.unique && same_set(&i.columns, &fk.ref_columns))
        .ok_or_else(|| PgError::internal("referenced key lost its unique index"))?;
    // The index's column order may differ from the constraint's.
    let ordered: Vec<Datum> = idx
        .columns
        .iter()
        .map(|c| {
            let at = fk
                .ref_columns
                .iter()
                .position(|r| r == c)
                .expect("same set");
            typed[at].clone()
        })
        .collect();
    let row_key = if idx.primary {
        encode_key(parent.id, &ordered)?
    } else {
        match engine.read_key(session, &encode_key(idx.id, &ordered)?)? {
            Some(k) => k,
            None => return Ok(None),
        }
    };
    Ok(engine
        .read_key(session, &row_key)?
        .map(|stored| (row_key, stored)))
}

pub(crate) fn same_set(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// After rows were written into `table`: each row's foreign keys must find
/// their referenced rows, which are locked for the rest of the block.
/// DEFERRED constraints are queued for COMMIT instead.
/// `olds`: for an UPDATE, the rows before it (in `rows`' order): as in
/// PostgreSQL, a row whose key did not change is not checked again.
/// `txn`: COPY's own transaction outside a block, which takes the locks.
pub async fn check_references(
    engine: &Engine,
    session: &mut Session,
    table: &Table,
    rows: &[Vec<Datum>],
    olds: Option<&[Vec<Datum>]>,
    mut txn: Option<&mut Txn>,
) -> PgResult<()> {
    for fk in &table.foreign_keys {
        let mut seen = HashSet::new();
        for (i, row) in rows.iter().enumerate() {
            let Some(vals) = key_of(table, &fk.columns, row) else {
                continue;
            };
            if olds.is_some_and(|o| key_of(table, &fk.columns, &o[i]).as_ref() == Some(&vals)) {
                continue;
            }
            if !seen.insert(format!("{vals:?}")) {
                continue;
            }
            if fk.deferred {
                if let Some(b) = session.block_mut() {
                    b.pending_fks.push(PendingFk::References {
                        table: table.id,
                        fk: fk.name.clone(),
                        vals,
                    });
                    continue;
                }
            }
            check_one_reference(engine, session, table, fk, &vals, txn.as_deref_mut()).await?;
        }
    }
    Ok(())
}

async fn check_one_reference(
    engine: &Engine,
    session: &mut Session,
    table: &Table,
    fk: &ForeignKey,
    vals: &[Datum],
    txn: Option<&mut Txn>,
) -> PgResult<()> {
    let cat = session.catalog();
    let parent = cat
        .tables
        .get(&fk.ref_table)
        .ok_or_else(|| PgError::internal("referenced table is gone"))?;
    match referenced_row(engine, session, parent, fk, vals)? {
        Some((key, stored)) => {
            let locked = match txn {
                Some(t) => {
                    let lock = RowWrite {
                        key,
                        expect: Some(stored.clone()),
                        new: Some(stored),
                        blind: false,
                    };
                    match t.write_waiting(vec![lock]).await {
                        Ok(()) => true,
                        Err(WriteError::Conflict(_)) => false,
                        Err(WriteError::Failed(e)) => return Err(e),
                    }
                }
                None => lock_in_block(engine, session, [(key, stored)]).await?,
            };
            if !locked {
                return Err(PgError::serialization_failure());
            }
            Ok(())
        }
        None => Err(PgError::new(
            codes::FOREIGN_KEY_VIOLATION,
            format!(
                "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                table.name, fk.name
            ),
        )
        .with_detail(format!(
            "{} is not present in table \"{}\".",
            key_text(table, &fk.columns, vals),
            parent.name
        ))
        .on_constraint(&table.schema, &table.name, &fk.name)),
    }
}

/// Rows of `table` that were deleted (`new` None) or updated: the foreign
/// keys that reference it act on the rows referencing a key that is gone.
pub async fn referenced_rows_changed(
    engine: &Engine,
    session: &mut Session,
    table: &Table,
    changes: &[(Vec<Datum>, Option<Vec<Datum>>)],
) -> PgResult<()> {
    let cat = session.catalog();
    let referencing: Vec<(Arc<Table>, ForeignKey)> = cat
        .referencing(table.id)
        .map(|(t, f)| (Arc::new(t.clone()), f.clone()))
        .collect();
    if referencing.is_empty() || changes.is_empty() {
        return Ok(());
    }
    // Referencing rows are looked for in the newest data, as PostgreSQL's
    // RI checks do: a row another transaction committed after this
    // statement's snapshot (it waited for the lock that row's insert took
    // on the referenced row) must be seen. REPEATABLE READ keeps its
    // snapshot: a row it cannot see fails with 40001 (see `unseen_rows`).
    engine.fresh_snapshot(session).await;
    // Actions first (their statements check their own rows), then the
    // constraints that forbid a referenced key to go.
    let mut forbid = Vec::new();
    for (child, fk) in &referencing {
        let mut gone: Vec<(Vec<Datum>, Option<Vec<Datum>>)> = Vec::new();
        let mut seen = HashSet::new();
        for (old, new) in changes {
            let Some(old_key) = key_of(table, &fk.ref_columns, old) else {
                continue;
            };
            let new_key = new.as_ref().and_then(|n| key_of(table, &fk.ref_columns, n));
            if new.is_some() && new_key.as_ref() == Some(&old_key) {
                continue; // the key did not change
            }
            if seen.insert(format!("{old_key:?}")) {
                gone.push((old_key, new_key));
            }
        }
        if gone.is_empty() {
            continue;
        }
        if session.repeatable() {
            let olds: Vec<Vec<Datum>> = gone.iter().map(|(o, _)| o.clone()).collect();
            unseen_rows(engine, session, table, child, fk, &olds).await?;
        }
        let deleting = changes.iter().all(|(_, n)| n.is_none());
        let action = if deleting { fk.on_delete } else { fk.on_update };
        match action {
            FkAction::NoAction | FkAction::Restrict => {
                forbid.push((child.clone(), fk.clone(), gone, action))
            }
            _ => act(engine, session, table, child, fk, action, &gone, deleting).await?,
        }
    }
    for (child, fk, gone, action) in forbid {
        // RESTRICT is never deferred, as in PostgreSQL.
        if fk.deferred && action == FkAction::NoAction {
            if let Some(b) = session.block_mut() {
                for (old, _) in gone {
                    b.pending_fks.push(PendingFk::Referenced {
                        table: child.id,
                        fk: fk.name.clone(),
                        vals: old,
                    });
                }
                continue;
            }
        }
        // NO ACTION looks at the end of the statement: a key another row
        // of it now holds is not gone.
        let mut olds: Vec<Vec<Datum>> = Vec::new();
        for (o, _) in gone {
            if action == FkAction::Restrict
                || referenced_row(engine, session, table, &fk, &o)?.is_none()
            {
                olds.push(o);
            }
        }
        if !olds.is_empty() {
            still_referenced(engine, session, table, &child, &fk, &olds).await?;
        }
    }
    Ok(())
}

/// `SELECT what FROM child` over its rows that reference one of the keys
/// `olds` of `parent` (registered as a scratch table), then `tail`.
fn referencing_query(
    session: &Session,
    parent: &Table,
    child: &Table,
    fk: &ForeignKey,
    olds: &[Vec<Datum>],
    what: &str,
    tail: &str,
) -> PgResult<String> {
    let keys = register_keys(session, parent, &fk.ref_columns, olds, None)?;
    Ok(format!(
        "SELECT {what} FROM {} AS c WHERE {}{tail}",
        qualified(child),
        matches_keys(child, fk, &keys, "o")
    ))
}

/// REPEATABLE READ: 40001 when newer data than the block's snapshot has
/// rows referencing `olds` that the snapshot does not show.
async fn unseen_rows(
    engine: &Engine,
    session: &mut Session,
    parent: &Table,
    child: &Table,
    fk: &ForeignKey,
    olds: &[Vec<Datum>],
) -> PgResult<()> {
    let sql = referencing_query(session, parent, child, fk, olds, "count(*)", "")?;
    let mine = run_sql(engine, session, &sql).await?;
    let held = session.grape.snapshot();
    session
        .grape
        .set_snapshot(Some(engine.data.snapshot().await));
    let newest = run_sql(engine, session, &sql).await;
    session.grape.set_snapshot(held);
    let count = |b: &[datafusion::arrow::array::RecordBatch]| -> PgResult<Vec<Datum>> {
        match b.iter().find(|b| b.num_rows() > 0) {
            Some(b) => crate::types::datum::batch_row(b, 0),
            None => Ok(Vec::new()),
        }
    };
    if count(&mine)? != count(&newest?)? {
        return Err(PgError::serialization_failure());
    }
    Ok(())
}

/// 23503 when a row of `child` still references one of the keys `olds`.
async fn still_referenced(
    engine: &Engine,
    session: &mut Session,
    parent: &Table,
    child: &Table,
    fk: &ForeignKey,
    olds: &[Vec<Datum>],
) -> PgResult<()> {
    let columns = names(child, &fk.columns)
        .iter()
        .map(|n| format!("c.{}", quote_ident(n)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = referencing_query(session, parent, child, fk, olds, &columns, " LIMIT 1")?;
    let found = run_sql(engine, session, &sql).await?;
    let Some(b) = found.iter().find(|b| b.num_rows() > 0) else {
        return Ok(());
    };
    let vals = crate::types::datum::batch_row(b, 0)?;
    Err(PgError::new(
        codes::FOREIGN_KEY_VIOLATION,
        format!(
            "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
            parent.name, fk.name, child.name
        ),
    )
    .with_detail(format!(
        "{} is still referenced from table \"{}\".",
        key_text(parent, &fk.ref_columns, &vals),
        child.name
    ))
    .on_constraint(&child.schema, &child.name, &fk.name))
}

/// ON DELETE / ON UPDATE CASCADE, SET NULL, SET DEFAULT: one statement on
/// the referencing table, which runs its own checks (and cascades on).
async fn act(
    engine: &Engine,
    session: &mut Session,
    parent: &Table,
    child: &Table,
    fk: &ForeignKey,
    action: FkAction,
    gone: &[(Vec<Datum>, Option<Vec<Datum>>)],
    deleting: bool,
) -> PgResult<()> {
    let olds: Vec<Vec<Datum>> = gone.iter().map(|(o, _)| o.clone()).collect();
    let news: Vec<Option<Vec<Datum>>> = gone.iter().map(|(_, n)| n.clone()).collect();
    // A re-keyed row (ON UPDATE): its referencing rows take the new key,
    // NULL included; a deleted one (ON DELETE) takes them with it.
    let cascade_update = action == FkAction::Cascade && !deleting;
    let keys = register_keys(
        session,
        parent,
        &fk.ref_columns,
        &olds,
        cascade_update.then_some(news.as_slice()),
    )?;
    let cols = names(child, &fk.columns);
    let target = format!("{} AS c", qualified(child));
    let cond = matches_keys(child, fk, &keys, "o");
    let sql = match action {
        FkAction::Cascade if cascade_update => {
            let set: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{} = k.\"n{i}\"", quote_ident(n)))
                .collect();
            let on: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, n)| format!("c.{} = k.\"o{i}\"", quote_ident(n)))
                .collect();
            format!(
                "UPDATE {target} SET {} FROM {keys} AS k WHERE {}",
                set.join(", "),
                on.join(" AND ")
            )
        }
        FkAction::Cascade => format!("DELETE FROM {target} WHERE {cond}"),
        FkAction::SetNull | FkAction::SetDefault => {
            let value = if action == FkAction::SetNull {
                "NULL"
            } else {
                "DEFAULT"
            };
            let set: Vec<String> = cols
                .iter()
                .map(|n| format!("{} = {value}", quote_ident(n)))
                .collect();
            format!("UPDATE {target} SET {} WHERE {cond}", set.join(", "))
        }
        FkAction::NoAction | FkAction::Restrict => return Ok(()),
    };
    let stmt = crate::sql::parse(&sql)?
        .pop()
        .ok_or_else(|| PgError::internal("empty cascade"))?;
    Box::pin(engine.execute_nested(session, stmt)).await?;
    if action == FkAction::SetDefault {
        // Rows whose default is the key that went kept their values, so
        // their own check saw no change: look again, as PostgreSQL does.
        still_referenced(engine, session, parent, child, fk, &olds).await?;
    }
    Ok(())
}

fn qualified(t: &Table) -> String {
    format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name))
}

/// `EXISTS` over the registered keys (columns `{prefix}0..`) matching the
/// referencing columns of `c`.
fn matches_keys(child: &Table, fk: &ForeignKey, keys: &str, prefix: &str) -> String {
    let on: Vec<String> = names(child, &fk.columns)
        .iter()
        .enumerate()
        .map(|(i, n)| format!("c.{} = k.\"{prefix}{i}\"", quote_ident(n)))
        .collect();
    format!(
        "EXISTS (SELECT 1 FROM {keys} AS k WHERE {})",
        on.join(" AND ")
    )
}

/// Register keys (and the new keys of an ON UPDATE CASCADE) as a scratch
/// table with columns `o0..` (and `n0..`); returns its qualified name.
/// Each registration takes a fresh name: cascades nest.
fn register_keys(
    session: &Session,
    parent: &Table,
    cols: &[u32],
    olds: &[Vec<Datum>],
    news: Option<&[Option<Vec<Datum>>]>,
) -> PgResult<String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("fk_keys_{n}");
    let types: Vec<SqlType> = cols
        .iter()
        .filter_map(|id| parent.column_by_id(*id).map(|c| c.ty.clone()))
        .collect();
    let mut fields: Vec<Field> = types
        .iter()
        .enumerate()
        .map(|(i, t)| t.field(&format!("o{i}"), true))
        .collect();
    if news.is_some() {
        fields.extend(
            types
                .iter()
                .enumerate()
                .map(|(i, t)| t.field(&format!("n{i}"), true)),
        );
    }
    let schema = Arc::new(Schema::new(fields));
    let rows: Vec<Vec<Datum>> = olds
        .iter()
        .enumerate()
        .map(|(r, o)| {
            let mut row = o.clone();
            if let Some(news) = news {
                row.extend(
                    news[r]
                        .clone()
                        .unwrap_or_else(|| vec![Datum::Null; o.len()]),
                );
            }
            row
        })
        .collect();
    let batch = rows_to_batch(&schema, &rows)?;
    let mem = MemTable::try_new(schema, vec![vec![batch]]).map_err(df_error)?;
    register_scratch(session, &name, Arc::new(mem))?;
    Ok(format!(
        "{}.{}",
        quote_ident(crate::exec::catalog_provider::SCRATCH_SCHEMA),
        quote_ident(&name)
    ))
}

/// At COMMIT: the checks of DEFERRED constraints the block queued, run
/// against what the block is about to commit.
pub async fn check_pending(engine: &Engine, session: &mut Session) -> PgResult<()> {
    let pending = match session.block_mut() {
        Some(b) => std::mem::take(&mut b.pending_fks),
        None => return Ok(()),
    };
    let cat = session.catalog();
    for p in pending {
        match p {
            PendingFk::References { table, fk, vals } => {
                let Some(t) = cat.tables.get(&table) else {
                    continue;
                };
                let Some(f) = t.foreign_keys.iter().find(|f| f.name == fk) else {
                    continue;
                };
                // A row the block deleted or re-keyed since references
                // nothing any more.
                if still_held(engine, session, t, f, &vals).await? {
                    check_one_reference(engine, session, t, f, &vals, None).await?;
                }
            }
            PendingFk::Referenced { table, fk, vals } => {
                let Some(child) = cat.tables.get(&table) else {
                    continue;
                };
                let Some(f) = child.foreign_keys.iter().find(|f| f.name == fk) else {
                    continue;
                };
                let Some(parent) = cat.tables.get(&f.ref_table) else {
                    continue;
                };
                // Gone no more if the block put the key back.
                if referenced_row(engine, session, parent, f, &vals)?.is_some() {
                    continue;
                }
                still_referenced(engine, session, parent, child, f, &[vals]).await?;
            }
        }
    }
    Ok(())
}

/// Whether a row of `child` (as the session sees it) holds key `vals` in
/// the columns of `fk`.
async fn still_held(
    engine: &Engine,
    session: &mut Session,
    child: &Table,
    fk: &ForeignKey,
    vals: &[Datum],
) -> PgResult<bool> {
    let keys = register_keys(session, child, &fk.columns, &[vals.to_vec()], None)?;
    let sql = format!(
        "SELECT 1 FROM {} AS c WHERE {} LIMIT 1",
        qualified(child),
        matches_keys(child, fk, &keys, "o")
    );
    Ok(run_sql(engine, session, &sql)
        .await?
        .iter()
        .any(|b| b.num_rows() > 0))
}

/// Every row of `child` must find its referenced row (ADD CONSTRAINT
/// and VALIDATE CONSTRAINT check the rows already there).
pub async fn validate_existing(
    engine: &Engine,
    session: &mut Session,
    child: &Table,
    parent: &Table,
    fk: &ForeignKey,
) -> PgResult<()> {
    let cols = names(child, &fk.columns);
    let pcols = names(parent, &fk.ref_columns);
    let not_null: Vec<String> = cols
        .iter()
        .map(|n| format!("c.{} IS NOT NULL", quote_ident(n)))
        .collect();
    let on: Vec<String> = cols
        .iter()
        .zip(&pcols)
        .map(|(c, p)| format!("p.{} = c.{}", quote_ident(p), quote_ident(c)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {}) LIMIT 1",
        cols.iter()
            .map(|n| format!("c.{}", quote_ident(n)))
            .collect::<Vec<_>>()
            .join(", "),
        qualified(child),
        not_null.join(" AND "),
        qualified(parent),
        on.join(" AND ")
    );
    let found = run_sql(engine, session, &sql).await?;
    let Some(b) = found.iter().find(|b| b.num_rows() > 0) else {
        return Ok(());
    };
    let vals = crate::types::datum::batch_row(b, 0)?;
    Err(PgError::new(
        codes::FOREIGN_KEY_VIOLATION,
        format!(
            "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
            child.name, fk.name
        ),
    )
    .with_detail(format!(
        "{} is not present in table \"{}\".",
        key_text(child, &fk.columns, &vals),
        parent.name
    ))
    .on_constraint(&child.schema, &child.name, &fk.name))
}
