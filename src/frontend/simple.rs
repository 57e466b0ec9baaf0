//! The simple query protocol.

use std::fmt::Debug;

use async_trait::async_trait;
use datafusion::sql::sqlparser::ast::Statement;
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::Response;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};

use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::errors::*;
use super::handler::*;
use super::session::*;

#[async_trait]
impl SimpleQueryHandler for Frontend {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let slot = session_of(client)?;
        let mut guard = AbortOnDrop {
            slot: slot.clone(),
            armed: true,
        };
        let mut session = slot.session.lock().await;
        let mut out = Vec::new();
        match crate::sql::parse(query) {
            Err(e) => {
                session.fail_block();
                out.push(Response::Error(Box::new(to_error_info(e))));
            }
            // Only comments (`-- ping`, pgx's health check): an empty
            // query, as in PostgreSQL.
            Ok(stmts) if stmts.is_empty() => out.push(Response::EmptyQuery),
            Ok(stmts) => {
                // Rows of all but the last statement are read before the
                // next one runs (the responses go out together).
                let last = stmts.len().saturating_sub(1);
                for (i, stmt) in stmts.into_iter().enumerate() {
                    let res = match &stmt {
                        Statement::Deallocate { name, .. } => slot
                            .prepared
                            .deallocate(client.portal_store(), &mut session, name)
                            .inspect_err(|_| session.fail_block()),
                        _ => {
                            self.run(&slot, &mut session, stmt, &Format::UnifiedText, i == last)
                                .await
                        }
                    };
                    send_notices(client, &mut session).await?;
                    match res {
                        Ok(r) => out.push(r),
                        Err(e) => {
                            out.push(Response::Error(Box::new(to_error_info(locate_name(
                                e, query,
                            )))));
                            break;
                        }
                    }
                }
            }
        }
        drop(session);
        guard.armed = false;
        Ok(out)
    }
}
