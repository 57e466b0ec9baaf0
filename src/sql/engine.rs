//! The node-wide state every session uses, and what statements share:
//! planning with DataFusion, writing rows (now, or into the open
//! transaction block), reading a row as the session sees it.

use std::sync::Arc;

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;

use super::errors::df_error;
use super::rewrite;
use super::session::{Session, TxnState};
use crate::catalog::CatalogStore;
use crate::dataplane::write::{RowWrite, WriteError, apply_writes, merge_write};
use crate::dataplane::{Interrupt, ShardAccess};
use crate::error::{PgError, PgResult};

/// Shared, node-wide state every session uses.
pub struct Engine {
    /// How statements reach the shards' rows and indexes.
    pub data: Arc<dyn ShardAccess>,
    pub catalog: Arc<CatalogStore>,
    pub vindexes: Arc<crate::vindex::VectorIndexes>,
    /// The node's sessions (pg_stat_activity, pg_cancel_backend).
    pub backends: Arc<super::activity::Backends>,
    /// LISTEN / NOTIFY between the node's sessions.
    pub notify: Arc<super::notify::Hub>,
    /// Transaction ids for `txid_current()`.
    pub xids: Arc<super::xid::Xids>,
}

impl Engine {
    /// Plan a statement with DataFusion.
    pub async fn plan(&self, session: &Session, mut stmt: Statement) -> PgResult<LogicalPlan> {
        let cat = session.catalog();
        let search_path = session.search_path();
        rewrite::views::expand(&mut stmt, &cat, &search_path)?;
        rewrite::for_planning(&mut stmt)?;
        rewrite::enum_casts::rewrite(&mut stmt, &cat, &search_path);
        let state = session.ctx.state();

        let plan = state
            .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
            .await
            .map_err(df_error)?;
        let plan = super::literals::type_integer_literals(plan).map_err(df_error)?;
        let plan = super::enums::order_by_declaration(plan, &cat).map_err(df_error)?;
        let plan = super::vector::order_sparsevecs(plan, &state).map_err(df_error)?;
        super::knn::filter_null_queries(plan, &session.knn).map_err(df_error)
    }

    /// Write rows now, or buffer them in the open transaction block.
    pub async fn write(
        &self,
        session: &mut Session,
        writes: Vec<RowWrite>,
    ) -> Result<(), WriteError> {
        match &mut session.txn {
            TxnState::Block(b) => {
                for w in writes {
                    let key = w.key.clone();
                    merge_write(&mut b.writes, w).map_err(WriteError::Conflict)?;
                    b.overlay.insert(key.clone(), b.writes[&key].new.clone());
                }
                session.show_block_writes();
                Ok(())
            }
            _ => {
                // The point of no return: the statement reports this
                // write's outcome, whatever interrupts it.
                session
                    .committing
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                let interrupt = session.interrupt.clone();
                self.apply_detached(writes, interrupt).await.map(|_| ())
            }
        }
    }

    /// Apply writes in their own task: a statement cancelled or timed out
    /// while writing still finishes (or rolls back) its write as a whole.
    /// `interrupt` (the session's) stops it only while it waits for
    /// another transaction's locks with nothing of it written.
    pub async fn apply_detached(
        &self,
        writes: Vec<RowWrite>,
        interrupt: Arc<Interrupt>,
    ) -> Result<usize, WriteError> {
        let data = self.data.clone();
        match tokio::spawn(async move { apply_writes(&data, writes, Some(interrupt)).await }).await
        {
            Ok(r) => r,
            Err(e) => Err(WriteError::Failed(PgError::internal(format!(
                "write task failed: {e}"
            )))),
        }
    }

    /// Take a new snapshot for the session's next reads: each statement
    /// at READ COMMITTED, and each re-run of an UPDATE/DELETE whose row
    /// changed since its snapshot (PostgreSQL re-checks the newest version).
    pub async fn fresh_snapshot(&self, session: &Session) {
        // REPEATABLE READ and SERIALIZABLE keep the block's snapshot.
        if session
            .block()
            .is_some_and(|b| b.isolation >= super::session::Isolation::RepeatableRead)
        {
            return;
        }
        session.grape.set_snapshot(Some(self.data.snapshot().await));
    }

    /// Current value of a row key as this session sees it (own uncommitted writes first).
    pub fn read_key(&self, session: &Session, key: &[u8]) -> PgResult<Option<Vec<u8>>> {
        if let Some(b) = session.block() {
            if let Some(w) = b.writes.get(key) {
                return Ok(w.new.clone());
            }
        }
        Ok(self.data.get(self.data.shard_of(key), key)?)
    }
}
