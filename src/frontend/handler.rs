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
use crate::sql::session::{Session, TxnState};

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

    /// Run one statement with the session's statement_timeout; a failure
    /// inside a transaction block aborts the block.
    pub(super) async fn run(
        &self,
        slot: &SessionSlot,
        session: &mut Session,
        stmt: Statement,
        format: &Format,
    ) -> Result<Response, PgError> {
        let timeout = session.statement_timeout();
        let fut = run_statement(&self.engine, slot, session, stmt, format);
        let res = match timeout {
            Some(d) => match tokio::time::timeout(d, fut).await {
                Ok(r) => r,
                Err(_) => Err(PgError::new(
                    codes::QUERY_CANCELED,
                    "canceling statement due to statement timeout",
                )),
            },
            None => fut.await,
        };
        if res.is_err() {
            if let TxnState::Block { .. } = session.txn {
                session.txn = TxnState::Failed;
                session.grape.set_overlay(None);
            }
        }
        res
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
        if let TxnState::Block { .. } = session.txn {
            session.txn = TxnState::Failed;
            session.grape.set_overlay(None);
        }
    }
}
