//! The extended query protocol: Parse, Bind, Describe, Execute, with
//! replies deferred to the next Sync or Flush.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Sink, SinkExt};
use pgwire::api::portal::Portal;
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::{
    DescribePortalResponse, DescribeStatementResponse, FieldFormat, Response,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, PgWireConnectionState, Type};

use super::deferred::Deferred;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Parse, ParseComplete,
};

use super::describe::*;
use super::errors::*;
use super::handler::*;
use super::session::*;
use crate::error::{PgError, codes};
use crate::sql::params;

#[async_trait]
impl ExtendedQueryHandler for Frontend {
    type Statement = Prepared;
    type QueryParser = GrapeQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    // Parse, Bind, Describe and Execute queue their replies; the Sync or
    // Flush after them writes everything at once (see `deferred`). Parse and
    // Bind do what pgwire's defaults do, with `feed` for `send`.

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        session_of(client)?.prepared.parsed(name);
        match StoredStatement::parse(client, &message, self.parser.clone()).await? {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(name),
        }
        client
            .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's Close, with the statement's name also forgotten for
    /// DEALLOCATE ALL (a client that closes and re-prepares under new
    /// names would otherwise grow the list for the connection's life).
    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            b'S' => {
                client.portal_store().rm_statement(name);
                session_of(client)?.prepared.closed(name);
            }
            b'P' => client.portal_store().rm_portal(name),
            _ => {}
        }
        client
            .feed(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) if message.parameters.is_empty() => {
                let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
                client.portal_store().put_empty_portal(portal_name);
            }
            Some(Entry::Empty) => {
                return Err(pg_err(PgError::new(
                    codes::PROTOCOL_VIOLATION,
                    format!(
                        "bind message supplies {} parameters, but prepared statement \"{}\" requires 0",
                        message.parameters.len(),
                        message.statement_name.as_deref().unwrap_or("")
                    ),
                )));
            }
            None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
        }
        client
            .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // A statement that returns no rows but takes parameters: PostgreSQL
        // answers ParameterDescription and NoData (pgwire would send an
        // empty RowDescription, which pgjdbc takes for a result set and
        // counts its batch's updates as 0).
        if message.target_type == b'S' {
            let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name)
                && stmt.statement.schema.is_none()
            {
                let oids = stmt.statement.param_types.iter().map(|t| t.oid()).collect();
                let mut out = Deferred(client);
                out.feed(PgWireBackendMessage::ParameterDescription(
                    pgwire::messages::data::ParameterDescription::new(oids),
                ))
                .await?;
                out.feed(PgWireBackendMessage::NoData(
                    pgwire::messages::data::NoData::new(),
                ))
                .await?;
                return Ok(());
            }
        }
        self._on_describe(&mut Deferred(client), message).await
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self._on_execute(&mut Deferred(client), message).await?;
        // COPY FROM STDIN: the client waits for CopyInResponse before it
        // sends data (and a Sync is ignored in copy mode).
        if matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.flush().await?;
        }
        Ok(())
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let p = &target.statement;
        let fields = self.parser.get_result_schema(p, None)?;
        Ok(DescribeStatementResponse::new(
            p.param_types.clone(),
            fields,
        ))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let fields = self.parser.get_result_schema(
            &target.statement.statement,
            Some(&target.result_column_format),
        )?;
        Ok(DescribePortalResponse::new(fields))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let slot = session_of(client)?;
        let mut guard = AbortOnDrop {
            slot: slot.clone(),
            armed: true,
        };
        let mut session = slot.session.lock().await;
        let mut values = Vec::with_capacity(portal.parameters.len());
        for (i, raw) in portal.parameters.iter().enumerate() {
            let ty = prepared.param_types.get(i).cloned().unwrap_or(Type::TEXT);
            let binary = matches!(portal.parameter_format.format_for(i), FieldFormat::Binary);
            values.push(params::param(&ty, binary, raw.as_ref()).map_err(pg_err)?);
        }
        let mut stmt = prepared.stmt.clone();
        let res = if let Statement::Deallocate { name, .. } = &stmt {
            slot.prepared
                .deallocate(client.portal_store(), &mut session, name)
                .inspect_err(|_| session.fail_block())
        } else {
            match crate::sql::rewrite::bind::bind(&mut stmt, values) {
                Ok(unbound) => {
                    session.unbound = unbound;
                    let res = self
                        .run(
                            &slot,
                            &mut session,
                            stmt,
                            &portal.result_column_format,
                            true,
                        )
                        .await;
                    session.unbound.clear();
                    res
                }
                Err(e) => Err(e),
            }
        };
        send_notices(client, &mut session).await?;
        drop(session);
        guard.armed = false;
        match res {
            Ok(r) => Ok(r),
            Err(e) => Ok(Response::Error(Box::new(to_error_info(e)))),
        }
    }
}
