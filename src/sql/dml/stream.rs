//! Writes that go out while an autocommit UPDATE or DELETE scans, so
//! memory stays bounded whatever the table's size and the statement is
//! still all or nothing.
//!
//! Up to [`STREAM_AFTER`] writes a statement is an ordinary write (one
//! phase on one shard when it can be); past that its writes go out as
//! intents of one transaction, batch by batch, committed when the scan
//! ends. The scan reads the statement's snapshot, which ignores the
//! transaction's own pending intents: a row moved to a key further on is
//! not met again (no Halloween problem). A later batch that writes a key
//! an earlier batch wrote is checked against that intent (the state
//! machine shows a transaction its own intents), so two rows moved onto
//! one key are still 23505 when they fall into different batches.

use datafusion::execution::SendableRecordBatchStream;

use crate::dataplane::Txn;
use crate::dataplane::write::{RowWrite, WriteError};
use crate::error::{PgError, PgResult};
use crate::sql::Engine;
use crate::sql::errors::df_error;
use crate::sql::session::Session;

/// Writes a statement collects before it goes over to writing while it
/// scans.
pub(super) const STREAM_AFTER: usize = 10_000;

/// Execute `sql` (an internal query) as a stream of batches.
pub(super) async fn scan_stream(
    engine: &Engine,
    session: &Session,
    sql: &str,
) -> PgResult<SendableRecordBatchStream> {
    let stmt = crate::sql::parse(sql)?
        .pop()
        .ok_or_else(|| PgError::internal("empty internal statement"))?;
    let plan = engine.plan(session, stmt).await?;
    let df = session
        .ctx
        .execute_logical_plan(plan)
        .await
        .map_err(df_error)?;
    df.execute_stream().await.map_err(df_error)
}

/// A statement's writes while it scans: pending ones, and the transaction
/// the earlier ones went out in (if they did).
#[derive(Default)]
pub(super) struct ScanWriter {
    pending: Vec<RowWrite>,
    txn: Option<Txn>,
}

impl ScanWriter {
    /// Add writes; once enough are pending, send them as intents. Returns
    /// whether they went out (what the caller kept about pending rows can
    /// go). A conflict leaves the transaction to be dropped, which aborts
    /// it.
    pub async fn push(
        &mut self,
        engine: &Engine,
        session: &Session,
        writes: impl IntoIterator<Item = RowWrite>,
    ) -> Result<bool, WriteError> {
        self.pending.extend(writes);
        if self.pending.len() < STREAM_AFTER {
            return Ok(false);
        }
        let t = self.txn.get_or_insert_with(|| {
            Txn::begin(engine.data.clone()).interruptible(Some(session.interrupt.clone()))
        });
        t.write_waiting(std::mem::take(&mut self.pending)).await?;
        Ok(true)
    }

    /// Write what is pending and commit. The last writes and the commit
    /// run to the end whatever interrupts the statement (its outcome is
    /// then reported as it is).
    pub async fn finish(self, engine: &Engine, session: &mut Session) -> Result<(), WriteError> {
        let Some(t) = self.txn else {
            return engine.write(session, self.pending).await;
        };
        session
            .committing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        t.finish_detached(self.pending, Vec::new()).await
    }
}
