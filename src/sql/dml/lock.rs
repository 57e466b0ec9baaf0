//! SELECT ... FOR UPDATE / FOR SHARE: inside a transaction block the rows
//! the query reads are locked (intents that change nothing) until the block
//! ends, so other writers wait for it, as in PostgreSQL. Outside a block
//! the locks would end with the statement, so none are taken.

use datafusion::sql::sqlparser::ast::{Query, SetExpr};

use crate::catalog::locks::LockMode;
use crate::dataplane::Txn;
use crate::dataplane::write::{RowWrite, WriteError};
use crate::error::{PgError, PgResult};
use crate::sql::Engine;
use crate::sql::session::Session;

use super::common::*;

/// Lock the rows `q` reads (see the module doc). FOR SHARE takes the same
/// exclusive lock as FOR UPDATE (stronger than PostgreSQL's: two FOR
/// SHARE lockers of a row wait for each other).
pub async fn lock_rows(engine: &Engine, session: &mut Session, q: &Query) -> PgResult<()> {
    if q.locks.iter().any(|l| l.nonblock.is_some()) {
        return Err(PgError::unsupported("NOWAIT and SKIP LOCKED"));
    }
    if !session.in_block() {
        return Ok(());
    }
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Err(PgError::unsupported("FOR UPDATE over a set operation"));
    };
    let [from] = select.from.as_slice() else {
        return Err(PgError::unsupported("FOR UPDATE over several tables"));
    };
    if !from.joins.is_empty() {
        return Err(PgError::unsupported("FOR UPDATE over a join"));
    }
    let (parts, alias) = target_of(&from.relation)?;
    let table = lock_table(engine, session, &parts, LockMode::RowShare).await?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let ncols = table.columns.len();
    for attempt in 0..MAX_RETRIES {
        if attempt > 0 {
            engine.fresh_snapshot(session).await;
        }
        register_target(session, &table)?;
        let mut sql = target_scan_sql(&alias);
        if let Some(sel) = &select.selection {
            sql.push_str(&format!(" WHERE {sel}"));
        }
        let batches = run_sql(engine, session, &sql).await?;
        let rows = target_rows(&batches, ncols)?
            .into_iter()
            .map(|(key, stored, _)| (key, stored));
        if lock_in_block(engine, session, rows).await? {
            return Ok(());
        }
        if session.repeatable() {
            break;
        }
        // A locked row changed since the snapshot: READ COMMITTED locks
        // its newest version, as PostgreSQL does.
    }
    Err(PgError::serialization_failure())
}

/// Lock `rows` (each key with the value the statement read) until the
/// session's block ends: lock-only intents of the block's transaction
/// (begun with its first lock), so other writers of them wait for the
/// block. A row the block already changed is locked at the version it
/// read. `Ok(false)`: a row changed since it was read (READ COMMITTED
/// re-reads it, the other levels fail with 40001). Outside a block: no-op.
pub(super) async fn lock_in_block(
    engine: &Engine,
    session: &mut Session,
    rows: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> PgResult<bool> {
    let interrupt = session.interrupt.clone();
    let Some(block) = session.block_mut() else {
        return Ok(true);
    };
    let mut writes = Vec::new();
    for (key, stored) in rows {
        let held = match block.writes.get(&key) {
            Some(w) => w.expect.clone(),
            None => Some(stored),
        };
        if held.is_some() {
            writes.push(RowWrite {
                key,
                expect: held.clone(),
                new: held,
                blind: false,
            });
        }
    }
    if writes.is_empty() {
        return Ok(true);
    }
    let txn = block
        .txn
        .get_or_insert_with(|| Txn::begin(engine.data.clone()).interruptible(Some(interrupt)));
    match txn.write_waiting(writes).await {
        Ok(()) => Ok(true),
        Err(WriteError::Conflict(_)) => Ok(false),
        Err(WriteError::Failed(e)) => Err(e),
    }
}
