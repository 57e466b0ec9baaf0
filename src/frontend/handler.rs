//! The per-connection handler: runs statements with the session's
//! statement_timeout and aborts the block on failure.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::portal::Format;
use pgwire::api::results::Response;
use pgwire::api::{ClientInfo, ConnectionManager, RandomPidSecretKeyGenerator};

use pgwire::error::PgWireResult;

use super::describe::*;
use super::respond::*;
use super::session::*;
use crate::error::{PgError, codes};
use crate::sql::Engine;
use crate::sql::copy::CopyState;
use crate::sql::session::Session;

pub struct Frontend {
    pub(super) engine: Arc<Engine>,
    pub(super) manager: Arc<ConnectionManager>,
    pub(super) pids: RandomPidSecretKeyGenerator,
    pub(super) parser: Arc<GrapeQueryParser>,
}

impl Frontend {
    pub fn new(engine: Arc<Engine>) -> Arc<Frontend> {
        Arc::new(Frontend {
            parser: Arc::new(GrapeQueryParser {
                engine: engine.clone(),
            }),
            engine,
            manager: Arc::new(ConnectionManager::new()),
            pids: RandomPidSecretKeyGenerator::default(),
        })
    }

    /// Run one statement under the session's statement_timeout and the
    /// connection's cancel requests; a failure inside a transaction block
    /// aborts the block. Once the statement has begun a durable write
    /// (`Session::committing`), neither stops it: it runs to the end and
    /// reports what happened, as PostgreSQL holds interrupts during commit.
    /// Telling a client "canceled" about a write that then applies would
    /// make it apply twice when the client retries.
    /// With `stream_rows`, a query's rows go to the client as the plan
    /// produces them (after its first batch), still under cancel and
    /// statement_timeout, and its table locks stay until the last row.
    pub(super) async fn run(
        &self,
        slot: &SessionSlot,
        session: &mut Session,
        stmt: Statement,
        format: &Format,
        stream_rows: bool,
    ) -> Result<Response, PgError> {
        let backend = &slot.activity.backend;
        if backend.terminated.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PgError::new(
                codes::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            ));
        }
        backend.started(stmt.to_string(), session.in_block());
        let timeout = session.statement_timeout();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let committing = session.committing.clone();
        committing.store(false, std::sync::atomic::Ordering::SeqCst);
        let interrupt = session.interrupt.clone();
        interrupt.clear();
        let mut cancel = Some(slot.cancel.start_query().await);
        // A terminate that came before this statement's cancel handle.
        if backend.terminated.load(std::sync::atomic::Ordering::SeqCst) {
            backend.finished(session.in_block(), false);
            return Err(PgError::new(
                codes::ADMIN_SHUTDOWN,
                "terminating connection due to administrator command",
            ));
        }
        let fut = run_statement(&self.engine, slot, session, stmt, format, stream_rows);
        let res = until_interrupted(fut, timeout, &mut cancel, &committing, &interrupt).await;
        if res.is_err() {
            session.fail_block();
        }
        backend.finished(session.in_block(), res.is_err() && session.in_block());
        let res = res.and_then(|reply| {
            let done = matches!(reply, Reply::Done(_));
            let locks = (!done && !session.in_block()).then(|| session.locks().clone());
            let advisory = (!done && !session.in_block()).then(|| session.grape.advisory().clone());
            reply
                .into_response(Tail {
                    cancel,
                    deadline,
                    locks,
                    advisory,
                })
                .map(|r| (r, done))
        });
        // A COPY FROM keeps its table locked until its data has arrived,
        // streamed rows until they have gone.
        match res {
            Ok((r, done)) => {
                // Outside a block the statement was its own transaction:
                // what it notified is sent (a COMMIT has marked its
                // block's).
                if !session.in_block() {
                    session.notify.commit();
                    session.notify.flush();
                }
                if done && slot.copy_in.lock().is_none() {
                    session.statement_done();
                }
                Ok(r)
            }
            Err(e) => {
                if !session.in_block() {
                    session.notify.discard_uncommitted();
                }
                session.statement_done();
                Err(e)
            }
        }
    }
}

impl Frontend {
    pub(super) async fn take_copy<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
    ) -> PgWireResult<(Arc<SessionSlot>, Option<CopyState>)> {
        let slot = session_of(client)?;
        let st = slot.copy_in.lock().take();
        Ok((slot, st))
    }

    pub(super) fn fail_block(session: &mut Session) {
        session.fail_block();
    }
}

/// Await `fut` unless `timeout` passes or `cancel` fires first while no
/// durable write has begun (`committing`); after that, await it to the end.
async fn until_interrupted<T>(
    fut: impl std::future::Future<Output = Result<T, PgError>>,
    timeout: Option<std::time::Duration>,
    cancel: &mut Option<futures_channel::oneshot::Receiver<()>>,
    committing: &std::sync::atomic::AtomicBool,
    interrupt: &crate::dataplane::Interrupt,
) -> Result<T, PgError> {
    use std::sync::atomic::Ordering;
    tokio::pin!(fut);
    let sleep = tokio::time::sleep(timeout.unwrap_or(std::time::Duration::MAX));
    tokio::pin!(sleep);
    let mut watching_timeout = timeout.is_some();
    loop {
        tokio::select! {
            r = &mut fut => return r,
            _ = &mut sleep, if watching_timeout => {
                watching_timeout = false;
                if !committing.load(Ordering::SeqCst) {
                    return Err(PgError::new(
                        codes::QUERY_CANCELED,
                        "canceling statement due to statement timeout",
                    ));
                }
                // The write stops if it still waits for locks.
                interrupt.raise(true);
            }
            r = async { cancel.as_mut().expect("guarded").await }, if cancel.is_some() => {
                *cancel = None;
                // Err: the sender was replaced, no cancel for this statement.
                if r.is_ok() && !committing.load(Ordering::SeqCst) {
                    return Err(PgError::new(
                        codes::QUERY_CANCELED,
                        "canceling statement due to user request",
                    ));
                }
                if r.is_ok() {
                    interrupt.raise(false);
                }
            }
        }
    }
}
