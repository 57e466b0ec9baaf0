//! The table locks a statement takes before its snapshot, as PostgreSQL
//! locks the relations a statement names while parsing it and only then
//! takes the snapshot: a statement that waited for a DDL's block sees the
//! schema and the rows that block committed, never the new schema over old
//! rows. (Tables reached later, through `resolve_table` and the catalog
//! provider, are locked there too.)

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    FromTable, Lock, LockTableMode, Statement, TableObject, visit_relations,
};
use futures::FutureExt;

use super::output::Output;
use super::parse::object_parts;
use super::session::Session;
use crate::catalog::locks::LockMode;
use crate::error::{PgError, PgResult, codes};

/// Lock the tables `stmt` names: its target in `RowExclusive` (INSERT,
/// UPDATE, DELETE, COPY FROM), the others in `AccessShare`.
pub async fn lock_named_tables(session: &Session, stmt: &Statement) -> PgResult<()> {
    let mut targets: Vec<Vec<String>> = Vec::new();
    match stmt {
        Statement::Insert(i) => {
            if let TableObject::TableName(n) = &i.table {
                targets.push(object_parts(n));
            }
        }
        Statement::Update(u) => {
            if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } =
                &u.table.relation
            {
                targets.push(object_parts(name));
            }
        }
        Statement::Delete(d) => {
            let (FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t)) = &d.from;
            for t in t {
                if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } =
                    &t.relation
                {
                    targets.push(object_parts(name));
                }
            }
        }
        Statement::Copy { .. } | Statement::Query(_) | Statement::Explain { .. } => {}
        _ => return Ok(()),
    }
    let mut named: Vec<Vec<String>> = Vec::new();
    let _ = visit_relations(stmt, |name| {
        named.push(object_parts(name));
        ControlFlow::<()>::Continue(())
    });
    let cat = session.catalog();
    let path = session.search_path();
    let find = |parts: &[String]| match parts {
        [name] => cat.resolve(None, name, &path).map(|t| t.id),
        [schema, name] | [_, schema, name] => cat.resolve(Some(schema), name, &path).map(|t| t.id),
        _ => None,
    };
    let copy_from = matches!(stmt, Statement::Copy { to: false, .. });
    for parts in &targets {
        if let Some(id) = find(parts) {
            session.locks().acquire(id, LockMode::RowExclusive).await?;
        }
    }
    for parts in &named {
        if let Some(id) = find(parts) {
            let mode = if copy_from {
                LockMode::RowExclusive
            } else {
                LockMode::AccessShare
            };
            session.locks().acquire(id, mode).await?;
        }
    }
    Ok(())
}

/// `LOCK [TABLE] name, ... [IN mode MODE] [NOWAIT]`: the tables taken in
/// `mode` (ACCESS EXCLUSIVE when none is named) until the block ends, as
/// PostgreSQL does; pg_dump takes ACCESS SHARE on every table it dumps so
/// no DDL changes them under it. NOWAIT fails with 55P03 instead of
/// waiting.
pub async fn lock_tables(session: &Session, lock: &Lock) -> PgResult<Output> {
    if !session.in_block() {
        return Err(PgError::new(
            codes::NO_ACTIVE_SQL_TRANSACTION,
            "LOCK TABLE can only be used in transaction blocks",
        ));
    }
    let mode = match lock.lock_mode {
        Some(LockTableMode::AccessShare) => LockMode::AccessShare,
        Some(LockTableMode::RowShare) => LockMode::RowShare,
        Some(LockTableMode::RowExclusive) => LockMode::RowExclusive,
        Some(LockTableMode::ShareUpdateExclusive) => LockMode::ShareUpdateExclusive,
        Some(LockTableMode::Share) => LockMode::Share,
        Some(LockTableMode::ShareRowExclusive) => LockMode::ShareRowExclusive,
        Some(LockTableMode::Exclusive) => LockMode::Exclusive,
        Some(LockTableMode::AccessExclusive) | None => LockMode::AccessExclusive,
    };
    let cat = session.catalog();
    let path = session.search_path();
    // Every name resolves before any lock is taken (a typo locks nothing).
    let mut ids = Vec::new();
    for target in &lock.tables {
        let parts = object_parts(&target.name);
        let found = match parts.as_slice() {
            [name] => cat.resolve(None, name, &path),
            [schema, name] | [_, schema, name] => cat.resolve(Some(schema), name, &path),
            _ => None,
        };
        match found {
            Some(t) => ids.push((
                t.id,
                parts.last().cloned().unwrap_or_default(),
                parts.clone(),
            )),
            None => return Err(PgError::undefined_table(&parts.join("."))),
        }
    }
    for (first, name, parts) in ids {
        // A table that got new ids while we waited (TRUNCATE, ADD PRIMARY
        // KEY) is locked under its new id too.
        let mut id = first;
        loop {
            let taken = session.locks().acquire(id, mode);
            if lock.nowait {
                // One poll: granted now, or the request is withdrawn.
                match taken.now_or_never() {
                    Some(r) => r?,
                    None => {
                        return Err(PgError::new(
                            codes::LOCK_NOT_AVAILABLE,
                            format!("could not obtain lock on relation \"{name}\""),
                        ));
                    }
                }
            } else {
                taken.await?;
            }
            let cat = session.catalog();
            let path = session.search_path();
            let now = match parts.as_slice() {
                [n] => cat.resolve(None, n, &path),
                [schema, n] | [_, schema, n] => cat.resolve(Some(schema), n, &path),
                _ => None,
            };
            match now {
                Some(t) if t.id != id => id = t.id,
                _ => break,
            }
        }
    }
    Ok(Output::Command("LOCK TABLE".into()))
}
