//! One client connection: pgwire's message loop, plus what pgwire's own
//! loop cannot do, sending a LISTENing session its notifications while it
//! waits for the client's next message (PostgreSQL sends them as soon as
//! they arrive when the session is idle outside a transaction block).

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::response::{NotificationResponse, TransactionStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;

use super::session::SessionSlot;

/// As pgwire: a client has this long to finish its startup.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Serve `socket` until the client goes (no TLS).
pub async fn serve<H: PgWireServerHandlers>(socket: TcpStream, handlers: H) -> std::io::Result<()> {
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let socket = tokio::select! {
        _ = &mut startup_deadline => return Ok(()),
        s = negotiate_tls(socket, None) => s?,
    };
    let Some(mut socket) = socket else {
        return Ok(());
    };
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    // Between a Query or Sync and the next message the client waits for
    // nothing: notifications may go then.
    let mut between_commands = false;
    // The session's LISTEN inbox, looked up once it exists (after startup).
    let mut inbox: Option<Arc<crate::sql::notify::Inbox>> = None;
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        if inbox.is_none() && !starting {
            inbox = socket
                .session_extensions()
                .get::<SessionSlot>()
                .map(|slot| slot.notify.inbox.clone());
        }
        let idle = between_commands
            && matches!(socket.state(), PgWireConnectionState::ReadyForQuery)
            && matches!(socket.transaction_status(), TransactionStatus::Idle);
        let msg = tokio::select! {
            _ = &mut startup_deadline, if starting => None,
            msg = socket.next() => msg,
            _ = wait_for(&inbox), if idle && inbox.is_some() => {
                if let Some(inbox) = &inbox {
                    for n in inbox.drain() {
                        socket
                            .send(PgWireBackendMessage::NotificationResponse(
                                NotificationResponse::new(n.pid, n.channel, n.payload),
                            ))
                            .await?;
                    }
                }
                continue;
            }
        };
        let Some(Ok(msg)) = msg else { break };
        if matches!(msg, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        between_commands = matches!(
            msg,
            PgWireFrontendMessage::Query(_) | PgWireFrontendMessage::Sync(_)
        ) || matches!(msg, PgWireFrontendMessage::PasswordMessageFamily(_))
            || matches!(msg, PgWireFrontendMessage::Startup(_));
        let extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => msg.is_extended_query(),
        };
        if let Err(mut e) = process_message(
            msg,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await
        {
            errors.on_error(&socket, &mut e);
            process_error(&mut socket, e, extended_query).await?;
        }
    }
    Ok(())
}

async fn wait_for(inbox: &Option<Arc<crate::sql::notify::Inbox>>) {
    match inbox {
        Some(i) => i.arrived.notified().await,
        None => std::future::pending().await,
    }
}
