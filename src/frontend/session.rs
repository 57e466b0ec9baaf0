//! A connection's session slot (the SQL session and the COPY in progress),
//! its notices, and the guard that aborts a block when a statement is dropped.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;

use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tokio::sync::Mutex;

use super::errors::*;
use crate::error::{PgError, codes};
use crate::sql::copy::CopyState;
use crate::sql::session::Session;

/// A connection's session, kept in pgwire's per-connection extensions.
pub struct SessionSlot {
    pub session: Mutex<Session>,
    /// The connection's cancel handle: a CancelRequest fires the receiver
    /// that [`super::handler::Frontend::run`] takes for each statement
    /// (pgwire is not given it, so that a statement that began a durable
    /// write is not dropped before it reports the write's outcome).
    pub cancel: Arc<pgwire::api::ConnectionHandle>,
    /// COPY FROM STDIN in progress on this connection (protocol state: the
    /// CopyData messages that follow feed it).
    pub copy_in: parking_lot::Mutex<Option<CopyState>>,
    /// This connection in the node's list of sessions.
    pub activity: crate::sql::activity::Registration,
    /// This connection's inbox for LISTEN (frontend/connection.rs sends
    /// what arrives).
    pub notify: crate::sql::notify::Registration,
    /// Names of the statements Parse stored (for DEALLOCATE ALL).
    pub prepared: super::prepared::PreparedNames,
}

/// Send the notices a statement raised.
pub(super) async fn send_notices<C>(client: &mut C, session: &mut Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for n in std::mem::take(&mut session.notices) {
        let mut info = ErrorInfo::new(n.severity.to_string(), n.code.to_string(), n.message);
        info.detail = n.detail;
        info.hint = n.hint;
        client
            .feed(PgWireBackendMessage::NoticeResponse(info.into()))
            .await?;
    }
    Ok(())
}

pub(super) fn session_of<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<SessionSlot>> {
    client
        .session_extensions()
        .get::<SessionSlot>()
        .ok_or_else(|| {
            pg_err(PgError::new(
                codes::PROTOCOL_VIOLATION,
                "no session for this connection",
            ))
        })
}

/// Guard that marks the block failed if a statement is cancelled mid-way
/// (its future dropped): the session must not keep half a statement's writes.
pub(super) struct AbortOnDrop {
    pub(super) slot: Arc<SessionSlot>,
    pub(super) armed: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(mut s) = self.slot.session.try_lock() {
                s.fail_block();
            }
        }
    }
}
