//! Transaction control: BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE,
//! ROLLBACK TO SAVEPOINT and SET TRANSACTION, as PostgreSQL answers them.
//! A block buffers its writes in the session (`session::Block`) and
//! commits them as one transaction (`dataplane::txn`).

use datafusion::sql::sqlparser::ast::{
    Ident, Statement, TransactionAccessMode, TransactionIsolationLevel, TransactionMode,
};

use super::engine::Engine;
use super::output::Output;
use super::parse::folded;
use super::session::{Block, BlockDdl, Isolation, Savepoint, Session};
use crate::catalog::{Catalog, CatalogStore};
use crate::dataplane::write::{RowWrite, WriteError};
use crate::dataplane::{META_GROUP, Txn};
use crate::error::{Notice, PgError, PgResult, codes};

/// Whether `stmt` only controls the transaction (it takes no snapshot and
/// does not start the block's first query).
pub fn is_control(stmt: &Statement) -> bool {
    matches!(
        stmt,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::ShowVariables { .. }
            | Statement::Reset(_)
    )
}

/// The isolation level and access mode `modes` ask for.
fn modes_of(modes: &[TransactionMode]) -> (Option<Isolation>, Option<bool>) {
    let (mut level, mut read_only) = (None, None);
    for m in modes {
        match m {
            TransactionMode::IsolationLevel(l) => {
                level = Some(match l {
                    TransactionIsolationLevel::ReadUncommitted
                    | TransactionIsolationLevel::ReadCommitted => Isolation::ReadCommitted,
                    TransactionIsolationLevel::RepeatableRead
                    | TransactionIsolationLevel::Snapshot => Isolation::RepeatableRead,
                    TransactionIsolationLevel::Serializable => Isolation::Serializable,
                })
            }
            TransactionMode::AccessMode(a) => {
                read_only = Some(matches!(a, TransactionAccessMode::ReadOnly))
            }
        }
    }
    (level, read_only)
}

pub fn begin(session: &mut Session, modes: &[TransactionMode]) -> PgResult<Output> {
    if session.in_block() {
        session.notices.push(Notice::warning(
            codes::ACTIVE_SQL_TRANSACTION,
            "there is already a transaction in progress",
        ));
        return Ok(Output::Command("BEGIN".into()));
    }
    let (level, read_only) = modes_of(modes);
    session.begin(level, read_only.unwrap_or(false));
    Ok(Output::TxnStart("BEGIN".into()))
}

/// SET TRANSACTION (and SET SESSION CHARACTERISTICS AS TRANSACTION).
pub fn set_transaction(
    session: &mut Session,
    modes: &[TransactionMode],
    whole_session: bool,
) -> PgResult<Output> {
    let (level, read_only) = modes_of(modes);
    if whole_session {
        if let Some(l) = level {
            session.set("default_transaction_isolation", Some(l.name().into()))?;
        }
        return Ok(Output::Command("SET".into()));
    }
    if !session.in_block() {
        session.notices.push(Notice::warning(
            codes::NO_ACTIVE_SQL_TRANSACTION,
            "SET TRANSACTION can only be used in transaction blocks",
        ));
        return Ok(Output::Command("SET".into()));
    }
    if let Some(l) = level {
        session.set("transaction_isolation", Some(l.name().into()))?;
    }
    if let (Some(ro), Some(b)) = (read_only, session.block_mut()) {
        if b.started && !ro && b.read_only {
            return Err(PgError::new(
                codes::ACTIVE_SQL_TRANSACTION,
                "transaction read-write mode must be set before any query",
            ));
        }
        b.read_only = ro;
    }
    Ok(Output::Command("SET".into()))
}

/// 25006 for a write in a READ ONLY block.
pub fn check_writable(session: &Session, stmt: &Statement) -> PgResult<()> {
    if !session.block().is_some_and(|b| b.read_only) {
        return Ok(());
    }
    let what = match stmt {
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Copy { to: false, .. } => "COPY FROM",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::Drop { .. } => "DROP",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Truncate(_) => "TRUNCATE TABLE",
        _ => return Ok(()),
    };
    Err(PgError::new(
        codes::READ_ONLY_SQL_TRANSACTION,
        format!("cannot execute {what} in a read-only transaction"),
    ))
}

/// Open a transaction block for one statement outside a block (DDL, and
/// writes with foreign-key checks): [`end_implicit`] commits it when the
/// statement succeeded and rolls it back when it failed.
pub fn begin_implicit(session: &mut Session) {
    session.begin(Some(crate::sql::session::Isolation::ReadCommitted), false);
    if let Some(b) = session.block_mut() {
        b.implicit = true;
        b.started = true;
    }
}

/// End the block [`begin_implicit`] opened, with the statement's result.
pub async fn end_implicit(
    engine: &Engine,
    session: &mut Session,
    result: PgResult<Output>,
) -> PgResult<Output> {
    match result {
        Ok(out) => {
            commit(engine, session).await?;
            Ok(out)
        }
        Err(e) => {
            rollback(session).await?;
            session
                .notices
                .retain(|n| n.code != codes::NO_ACTIVE_SQL_TRANSACTION);
            Err(e)
        }
    }
}

pub async fn commit(engine: &Engine, session: &mut Session) -> PgResult<Output> {
    // DEFERRED foreign keys are checked now; a failure rolls back.
    if session
        .block()
        .is_some_and(|b| !b.failed && !b.pending_fks.is_empty())
    {
        if let Err(e) = Box::pin(crate::sql::dml::check_pending(engine, session)).await {
            rollback(session).await?;
            return Err(e);
        }
    }
    let Some(block) = session.block_mut() else {
        session.notices.push(Notice::warning(
            codes::NO_ACTIVE_SQL_TRANSACTION,
            "there is no transaction in progress",
        ));
        return Ok(Output::Command("COMMIT".into()));
    };
    let locks = block.txn.take();
    if block.failed {
        if let Some(t) = locks {
            t.abort().await;
        }
        session.end_block();
        return Ok(Output::TxnEnd("ROLLBACK".into()));
    }
    let writes: Vec<RowWrite> = block
        .writes
        .values()
        .filter(|w| w.blind || w.expect != w.new)
        .cloned()
        .collect();
    let ddl = block.ddl.take();
    // The block's WITH HOLD cursors and its notifications and listens
    // outlive it only if its writes become durable.
    let outlives = Outlives {
        held: session.cursors.take_held(),
        notes: Some(session.notify.take()),
        notify: session.notify.clone(),
    };
    session.end_block();
    match ddl {
        Some(ddl) => commit_ddl(engine, session, ddl, writes, locks, outlives).await,
        None => commit_writes(engine, session, writes, locks, outlives).await,
    }
}

/// What a committing block hands on to the session once its writes are
/// durable ([`Outlives::keep`]); dropped otherwise (a failed or cancelled
/// COMMIT), which undoes its LISTENs and closes its WITH HOLD cursors.
struct Outlives {
    held: Vec<(String, crate::sql::cursors::Cursor)>,
    notes: Option<crate::sql::notify::Pending>,
    notify: std::sync::Arc<crate::sql::notify::SessionNotify>,
}

impl Outlives {
    fn keep(mut self, session: &mut Session) {
        session.cursors.put_back(std::mem::take(&mut self.held));
        if let Some(n) = self.notes.take() {
            self.notify.committed(n);
        }
    }
}

impl Drop for Outlives {
    fn drop(&mut self) {
        if let Some(n) = self.notes.take() {
            self.notify.abandon(n);
        }
    }
}

/// COMMIT of a block that changed rows only.
async fn commit_writes(
    engine: &Engine,
    session: &mut Session,
    writes: Vec<RowWrite>,
    locks: Option<Txn>,
    outlives: Outlives,
) -> PgResult<Output> {
    session
        .committing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let interrupt = session.interrupt.clone();
    let done = match locks {
        None => engine.apply_detached(writes, interrupt).await.map(|_| ()),
        // The block holds row locks: its writes join that transaction (in
        // a task of its own, so nothing interrupts the commit).
        Some(t) => {
            t.interruptible(Some(interrupt))
                .finish_detached(writes, Vec::new())
                .await
        }
    };
    match done {
        Ok(()) => {
            outlives.keep(session);
            Ok(Output::TxnEnd("COMMIT".into()))
        }
        Err(WriteError::Conflict(_)) => Err(PgError::serialization_failure()),
        Err(WriteError::Failed(e)) => Err(e),
    }
}

/// COMMIT of a block that changed the schema: its transaction's record
/// lives in the meta group, and the decision that commits its rows also
/// replaces the catalog (and records what to purge), in one Raft entry.
/// Then dropped data is purged and new vector indexes are built.
async fn commit_ddl(
    engine: &Engine,
    session: &mut Session,
    ddl: BlockDdl,
    writes: Vec<RowWrite>,
    locks: Option<Txn>,
    outlives: Outlives,
) -> PgResult<Output> {
    // Row locks of a transaction recorded elsewhere cannot join the
    // catalog's decision: they go, and the writes' preconditions still
    // catch any row changed since.
    if let Some(t) = locks {
        t.abort().await;
    }
    let guard = engine.catalog.ddl_guard().await;
    let current = engine.catalog.current();
    let mut new = Catalog::rebase(&ddl.base, &ddl.mine, &current)?;
    new.version = current.version + 1;
    let ops = engine.catalog.commit_ops(&current, &new, &ddl.purges)?;
    session
        .committing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let interrupt = session.interrupt.clone();
    let data = engine.data.clone();
    let done = Txn::begin_recorded_on(data, META_GROUP)
        .interruptible(Some(interrupt))
        .finish_detached(writes, ops)
        .await;
    match done {
        Ok(()) => {
            engine.catalog.installed(new.clone());
            // Durable: what follows (purges, graph builds) cannot undo it.
            outlives.keep(session);
        }
        Err(e) => {
            engine.catalog.refresh();
            return Err(match e {
                WriteError::Conflict(c) if CatalogStore::is_catalog_key(&c.key) => PgError::new(
                    codes::SERIALIZATION_FAILURE,
                    "could not serialize access due to concurrent catalog change",
                ),
                WriteError::Conflict(_) => PgError::serialization_failure(),
                WriteError::Failed(e) => e,
            });
        }
    }
    drop(guard);
    // Committed: what follows finishes it (a crash here is finished at the
    // next start: purges are recorded, vector graphs rebuilt from rows).
    for t in current.tables.values() {
        for idx in t.indexes.iter().filter(|i| i.vector.is_some()) {
            if !new
                .tables
                .values()
                .any(|n| n.indexes.iter().any(|i| i.id == idx.id))
            {
                engine.vindexes.drop_index(idx.id);
            }
        }
    }
    super::ddl::purge(engine, ddl.purges).await?;
    // Graphs are built from the committed rows with writes going on (they
    // catch up with what is written meanwhile): the table is let go first.
    session.statement_done();
    for t in new.tables.values() {
        for idx in t.indexes.iter().filter(|i| i.vector.is_some()) {
            let known = current
                .tables
                .values()
                .any(|o| o.indexes.iter().any(|i| i.id == idx.id));
            if !known {
                super::ddl::vector_index::build(engine, session, t, idx).await?;
            }
        }
    }
    Ok(Output::TxnEnd("COMMIT".into()))
}

pub async fn rollback(session: &mut Session) -> PgResult<Output> {
    if !session.in_block() {
        session.notices.push(Notice::warning(
            codes::NO_ACTIVE_SQL_TRANSACTION,
            "there is no transaction in progress",
        ));
    }
    if let Some(t) = session.block_mut().and_then(|b| b.txn.take()) {
        t.abort().await;
    }
    session.end_block();
    Ok(Output::TxnEnd("ROLLBACK".into()))
}

fn only_in_block(what: &str) -> PgError {
    PgError::new(
        codes::NO_ACTIVE_SQL_TRANSACTION,
        format!("{what} can only be used in transaction blocks"),
    )
}

fn no_savepoint(name: &str) -> PgError {
    PgError::new(
        codes::INVALID_SAVEPOINT_SPECIFICATION,
        format!("savepoint \"{name}\" does not exist"),
    )
}

pub fn savepoint(session: &mut Session, name: &Ident) -> PgResult<Output> {
    let b = session
        .block_mut()
        .ok_or_else(|| only_in_block("SAVEPOINT"))?;
    b.savepoints.push(Savepoint {
        name: folded(name),
        writes: b.writes.clone(),
        overlay: b.overlay.clone(),
        ddl: b.ddl.clone(),
        pending_fks: b.pending_fks.clone(),
    });
    Ok(Output::Command("SAVEPOINT".into()))
}

/// The open block and the position of its newest savepoint `name`.
fn find_savepoint<'a>(
    session: &'a mut Session,
    name: &Ident,
    what: &str,
) -> PgResult<(&'a mut Block, usize)> {
    let name = folded(name);
    let b = session.block_mut().ok_or_else(|| only_in_block(what))?;
    let at = b
        .savepoints
        .iter()
        .rposition(|s| s.name == name)
        .ok_or_else(|| no_savepoint(&name))?;
    Ok((b, at))
}

pub fn release(session: &mut Session, name: &Ident) -> PgResult<Output> {
    let (b, at) = find_savepoint(session, name, "RELEASE SAVEPOINT")?;
    b.savepoints.truncate(at);
    Ok(Output::Command("RELEASE".into()))
}

/// ROLLBACK TO SAVEPOINT: the writes as they were when it was set; the
/// savepoint stays, later ones go, a failed block works again.
pub fn rollback_to(session: &mut Session, name: &Ident) -> PgResult<Output> {
    let (b, at) = find_savepoint(session, name, "ROLLBACK TO SAVEPOINT")?;
    b.savepoints.truncate(at + 1);
    let sp = &b.savepoints[at];
    (b.writes, b.overlay, b.ddl) = (sp.writes.clone(), sp.overlay.clone(), sp.ddl.clone());
    b.pending_fks = sp.pending_fks.clone();
    b.failed = false;
    session.show_block_writes();
    session.show_block_catalog();
    Ok(Output::Command("ROLLBACK".into()))
}
