//! The PostgreSQL wire protocol front end (pgwire): startup, simple and
//! extended query, cancel, and errors with SQLSTATE.

pub mod deferred;
pub mod encode;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::auth::{
    DefaultServerParameterProvider, ServerParameterProvider, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, DescribePortalResponse,
    DescribeStatementResponse, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionGuard, ConnectionHandle, ConnectionManager,
    DEFAULT_NAME, PgWireConnectionState, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator, Type,
};

use self::deferred::Deferred;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Describe, Execute, Parse, ParseComplete,
};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use crate::error::{PgError, codes};
use crate::exec::catalog_provider::GrapeCatalog;
use crate::sql::copy::CopyState;
use crate::sql::session::{SERVER_VERSION, Session, TxnState};
use crate::sql::{Engine, Output, dml, params};

/// A connection's session, kept in pgwire's per-connection extensions.
pub struct SessionSlot(pub Mutex<Session>);

/// Point an "undefined table/column" error at the name in the query text, as
/// PostgreSQL does (1-based character position).
pub fn locate_name(mut e: PgError, sql: &str) -> PgError {
    if e.position.is_some() || !matches!(e.code, codes::UNDEFINED_TABLE | codes::UNDEFINED_COLUMN) {
        return e;
    }
    let Some(name) = e.message.split('"').nth(1) else {
        return e;
    };
    let lower = sql.to_lowercase();
    let needle = name.to_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let start = from + i;
        let end = start + needle.len();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let before_ok = start == 0 || !word(bytes[start - 1]);
        let after_ok = end >= bytes.len() || !word(bytes[end]);
        if before_ok && after_ok {
            e.position = Some(sql[..start].chars().count() + 1);
            break;
        }
        from = end;
    }
    e
}

/// Send the notices a statement raised.
async fn send_notices<C>(client: &mut C, session: &mut Session) -> PgWireResult<()>
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

pub fn to_error_info(e: PgError) -> ErrorInfo {
    let mut info = ErrorInfo::new("ERROR".to_string(), e.code.to_string(), e.message);
    info.position = e.position.map(|p| p.to_string());
    info.detail = e.detail;
    info.hint = e.hint;
    info
}

fn pg_err(e: PgError) -> PgWireError {
    PgWireError::UserError(Box::new(to_error_info(e)))
}

fn session_of<C: ClientInfo + ?Sized>(client: &C) -> PgWireResult<Arc<SessionSlot>> {
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

pub struct Frontend {
    engine: Arc<Engine>,
    manager: Arc<ConnectionManager>,
    pids: RandomPidSecretKeyGenerator,
    parser: Arc<GrapeQueryParser>,
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
    async fn run(
        &self,
        session: &mut Session,
        stmt: Statement,
        format: &Format,
    ) -> Result<Response, PgError> {
        let timeout = session.statement_timeout();
        let fut = run_statement(&self.engine, session, stmt, format);
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

/// Guard that marks the block failed if a statement is cancelled mid-way
/// (its future dropped): the session must not keep half a statement's writes.
struct AbortOnDrop {
    slot: Arc<SessionSlot>,
    armed: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(mut s) = self.slot.0.try_lock() {
                if let TxnState::Block { .. } = s.txn {
                    s.txn = TxnState::Failed;
                    s.grape.set_overlay(None);
                }
            }
        }
    }
}

async fn run_statement(
    engine: &Engine,
    session: &mut Session,
    stmt: Statement,
    format: &Format,
) -> Result<Response, PgError> {
    let out = engine.execute(session, stmt).await?;
    Ok(match out {
        Output::Stream {
            schema,
            stream,
            tag,
        } => {
            // Run the query to completion here, so that cancel and
            // statement_timeout cover it and errors arrive before any row.
            let batches: Vec<RecordBatch> = stream
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(crate::sql::errors::df_error)?;
            query_response(&schema, batches, &tag, format)
                .map_err(|e| PgError::internal(e.to_string()))?
        }
        Output::Rows {
            schema,
            batches,
            tag,
        } => query_response(&schema, batches, &tag, format)
            .map_err(|e| PgError::internal(e.to_string()))?,
        Output::Command(tag) => Response::Execution(Tag::new(&tag)),
        Output::TxnStart(tag) => Response::TransactionStart(Tag::new(&tag)),
        Output::TxnEnd(tag) => Response::TransactionEnd(Tag::new(&tag)),
        Output::CopyIn(c) => {
            let format = if c.opts.format == crate::sql::copy::Format::Binary {
                1
            } else {
                0
            };
            let n = c.column_count();
            *session.copy_in.lock().unwrap() = Some(CopyState {
                copy: c,
                failed: None,
            });
            Response::CopyIn(CopyResponse::new(format, n, stream::empty()))
        }
        Output::CopyOut {
            schema,
            batches,
            opts,
        } => copy_out(&schema, batches, &opts).map_err(|e| PgError::internal(e.to_string()))?,
    })
}

fn copy_out(
    schema: &Schema,
    batches: Vec<RecordBatch>,
    opts: &crate::sql::copy::Options,
) -> PgWireResult<Response> {
    use crate::sql::copy::Format as F;
    let binary = opts.format == F::Binary;
    let fmt = if binary {
        Format::UnifiedBinary
    } else {
        Format::UnifiedText
    };
    let fields = Arc::new(encode::fields(schema, &fmt)?);
    let mut enc = match opts.format {
        F::Binary => CopyEncoder::new_binary(fields.clone()),
        F::Text => CopyEncoder::new_text(
            fields.clone(),
            CopyTextOptions {
                delimiter: opts.delimiter.to_string().into(),
                null_string: opts.null.clone().into(),
            },
        ),
        F::Csv => CopyEncoder::new_csv(
            fields.clone(),
            CopyCsvOptions {
                delimiter: opts.delimiter.to_string().into(),
                quote: opts.quote.to_string().into(),
                escape: opts.escape.to_string().into(),
                null_string: opts.null.clone().into(),
                force_quote: vec![],
            },
        ),
    };
    let mut out: Vec<PgWireResult<CopyData>> = Vec::new();
    if opts.header && opts.format == F::Csv {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        out.push(Ok(CopyData::new(bytes::Bytes::from(format!(
            "{}\n",
            names.join(&opts.delimiter.to_string())
        )))));
    }
    for b in &batches {
        let b = encode::wire_forms(b.clone(), &fields);
        let b_schema = b.schema();
        for row in 0..b.num_rows() {
            for col in 0..b.num_columns() {
                arrow_pg::encoder::encode_value(
                    &mut enc,
                    b.column(col),
                    row,
                    b_schema.field(col),
                    &fields[col],
                )?;
            }
            out.push(Ok(enc.take_copy()));
        }
    }
    if binary {
        if batches.iter().all(|b| b.num_rows() == 0) {
            // Header for an empty result.
            let mut h = bytes::BytesMut::new();
            h.extend_from_slice(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
            out.push(Ok(CopyData::new(h.freeze())));
        }
        // pgwire's CopyResponse appends the trailer itself.
    }
    let cols = schema.fields().len();
    Ok(Response::CopyOut(CopyResponse::new(
        if binary { 1 } else { 0 },
        cols,
        stream::iter(out),
    )))
}

fn query_response(
    schema: &Schema,
    batches: Vec<RecordBatch>,
    tag: &str,
    format: &Format,
) -> PgWireResult<Response> {
    let fields = Arc::new(encode::fields(schema, format)?);
    let f2 = fields.clone();
    let rows = stream::iter(
        batches
            .into_iter()
            .flat_map(move |b| encode::rows(f2.clone(), b).collect::<Vec<_>>()),
    );
    let mut resp = QueryResponse::new(fields, rows);
    resp.set_command_tag(tag);
    Ok(Response::Query(resp))
}

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
        let mut session = slot.0.lock().await;
        let mut out = Vec::new();
        match crate::sql::parse(query) {
            Err(e) => {
                if let TxnState::Block { .. } = session.txn {
                    session.txn = TxnState::Failed;
                    session.grape.set_overlay(None);
                }
                out.push(Response::Error(Box::new(to_error_info(e))));
            }
            Ok(stmts) => {
                for stmt in stmts {
                    let res = self.run(&mut session, stmt, &Format::UnifiedText).await;
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

/// A parsed statement with what Describe needs.
#[derive(Clone)]
pub struct Prepared {
    pub stmt: Statement,
    pub param_types: Vec<Type>,
    pub schema: Option<SchemaRef>,
}

pub struct GrapeQueryParser {
    engine: Arc<Engine>,
}

fn df_type_to_pg(dt: &DataType) -> Type {
    arrow_pg::datatypes::into_pg_type(dt).unwrap_or(Type::TEXT)
}

impl GrapeQueryParser {
    async fn describe(
        &self,
        session: &Session,
        stmt: &Statement,
        n_params: usize,
    ) -> Result<(Vec<Type>, Option<SchemaRef>), PgError> {
        let mut types = vec![Type::UNKNOWN; n_params];
        let mut schema = None;
        let text_col = |name: &str| {
            Some(Arc::new(Schema::new(vec![Field::new(
                name,
                DataType::Utf8,
                false,
            )])))
        };
        // Plan a copy without the clauses DataFusion does not plan itself.
        let mut for_plan = stmt.clone();
        let mut returning = None;
        match &mut for_plan {
            Statement::Insert(i) => {
                let datafusion::sql::sqlparser::ast::TableObject::TableName(tname) = &i.table
                else {
                    return Ok((types, None));
                };
                let parts = crate::sql::object_parts(tname);
                let alias = i.table_alias.as_ref().map(|a| a.alias.value.clone());
                returning = i.returning.take().map(|r| (parts, r, alias));
                i.on = None;
                i.table_alias = None;
            }
            Statement::Update(u) => {
                if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, alias, .. } =
                    &u.table.relation
                {
                    returning = u.returning.take().map(|r| {
                        (
                            crate::sql::object_parts(name),
                            r,
                            alias.as_ref().map(|a| a.name.value.clone()),
                        )
                    });
                }
            }
            Statement::Delete(d) => {
                let tables = match &d.from {
                    datafusion::sql::sqlparser::ast::FromTable::WithFromKeyword(t)
                    | datafusion::sql::sqlparser::ast::FromTable::WithoutKeyword(t) => t.clone(),
                };
                if let Some(datafusion::sql::sqlparser::ast::TableFactor::Table {
                    name,
                    alias,
                    ..
                }) = tables.first().map(|t| &t.relation)
                {
                    returning = d.returning.take().map(|r| {
                        (
                            crate::sql::object_parts(name),
                            r,
                            alias.as_ref().map(|a| a.name.value.clone()),
                        )
                    });
                }
            }
            Statement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.clone())
                    .collect::<Vec<_>>()
                    .join(".");
                if name.eq_ignore_ascii_case("all") {
                    schema = Some(Arc::new(Schema::new(vec![
                        Field::new("name", DataType::Utf8, false),
                        Field::new("setting", DataType::Utf8, false),
                        Field::new("description", DataType::Utf8, false),
                    ])));
                } else {
                    schema = text_col(crate::sql::session::display_name(&name.to_lowercase()));
                }
                return Ok((types, schema));
            }
            Statement::Explain { .. } => return Ok((types, text_col("QUERY PLAN"))),
            Statement::Query(_) => {}
            _ => return Ok((types, None)),
        }
        let is_query = matches!(for_plan, Statement::Query(_));
        match self.engine.plan(session, for_plan).await {
            Ok(plan) => {
                if let Ok(pt) = plan.get_parameter_fields() {
                    for (k, v) in pt {
                        if let (Some(n), Some(f)) =
                            (k.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()), v)
                        {
                            if n >= 1 && n <= types.len() {
                                // A vector operand's `$n` is a vector (pgvector's
                                // OID); a catalog oid column's an oid.
                                let vector = f
                                    .metadata()
                                    .get(crate::catalog::types::PG_TYPE_KEY)
                                    .and_then(|t| match t.as_str() {
                                        "oid" => Some(Type::OID),
                                        t => crate::catalog::types::vector_pg_type(t),
                                    });
                                types[n - 1] =
                                    vector.unwrap_or_else(|| df_type_to_pg(f.data_type()));
                            }
                        }
                    }
                }
                if is_query {
                    schema = Some(Arc::new(plan.schema().as_arrow().clone()));
                }
            }
            Err(e) if is_query => return Err(e),
            Err(_) => {}
        }
        if let Some((parts, items, alias)) = returning {
            let table = dml::resolve_table(&self.engine, session, &parts)?;
            let alias = alias.unwrap_or_else(|| table.name.clone());
            schema =
                Some(dml::returning_schema(&self.engine, session, &table, &alias, &items).await?);
        }
        for t in types.iter_mut() {
            if *t == Type::UNKNOWN {
                *t = Type::TEXT;
            }
        }
        Ok((types, schema))
    }
}

#[async_trait]
impl QueryParser for GrapeQueryParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut stmts = crate::sql::parse(sql).map_err(pg_err)?;
        if stmts.len() > 1 {
            return Err(pg_err(PgError::syntax(
                "cannot insert multiple commands into a prepared statement",
            )));
        }
        let Some(stmt) = stmts.pop() else {
            return Ok(None);
        };
        let n = params::count(&stmt).max(types.len());
        let slot = session_of(client)?;
        let session = slot.0.lock().await;
        let (mut param_types, schema) = self
            .describe(&session, &stmt, n)
            .await
            .map_err(|e| pg_err(locate_name(e, sql)))?;
        for (n, kind) in crate::sql::vector::placeholder_casts(&stmt) {
            if let Some(t) = crate::catalog::types::vector_pg_type(kind) {
                if n >= 1 && n <= param_types.len() {
                    param_types[n - 1] = t;
                }
            }
        }
        for (i, t) in types.iter().enumerate() {
            if let Some(t) = t {
                if *t != Type::UNKNOWN {
                    // pgvector's OIDs are ours; pgwire knows them only as numbers.
                    param_types[i] = crate::catalog::types::pg_type_rows()
                        .iter()
                        .find(|r| r.oid == t.oid() as i64)
                        .and_then(|r| crate::catalog::types::vector_pg_type(&r.name))
                        .unwrap_or_else(|| t.clone());
                }
            }
        }
        Ok(Some(Prepared {
            stmt,
            param_types,
            schema,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.param_types.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.schema {
            Some(s) => encode::fields(s, column_format.unwrap_or(&Format::UnifiedText)),
            None => Ok(vec![]),
        }
    }
}

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
        match StoredStatement::parse(client, &message, self.parser.clone()).await? {
            Some(stmt) => client.portal_store().put_statement(Arc::new(stmt)),
            None => client.portal_store().put_empty_statement(name),
        }
        client
            .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
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
        let mut session = slot.0.lock().await;
        let mut values = Vec::with_capacity(portal.parameters.len());
        for (i, raw) in portal.parameters.iter().enumerate() {
            let ty = prepared.param_types.get(i).cloned().unwrap_or(Type::TEXT);
            let binary = matches!(portal.parameter_format.format_for(i), FieldFormat::Binary);
            values.push(params::param(&ty, binary, raw.as_ref()).map_err(pg_err)?);
        }
        let mut stmt = prepared.stmt.clone();
        let res = match params::bind(&mut stmt, values) {
            Ok(unbound) => {
                session.unbound = unbound;
                let res = self
                    .run(&mut session, stmt, &portal.result_column_format)
                    .await;
                session.unbound.clear();
                res
            }
            Err(e) => Err(e),
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

impl Frontend {
    async fn take_copy<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
    ) -> PgWireResult<(Arc<SessionSlot>, Option<CopyState>)> {
        let slot = session_of(client)?;
        let st = slot.0.lock().await.copy_in.lock().unwrap().take();
        Ok((slot, st))
    }

    fn fail_block(session: &mut Session) {
        if let TxnState::Block { .. } = session.txn {
            session.txn = TxnState::Failed;
            session.grape.set_overlay(None);
        }
    }
}

#[async_trait]
impl CopyHandler for Frontend {
    async fn on_copy_data<C>(&self, client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (slot, st) = self.take_copy(client).await?;
        let Some(mut st) = st else { return Ok(()) };
        let mut session = slot.0.lock().await;
        if st.failed.is_none() {
            if let Err(e) = st.copy.feed(&self.engine, &mut session, &data.data).await {
                st.copy.undo(&self.engine).await;
                Self::fail_block(&mut session);
                st.failed = Some(e);
            }
        }
        *session.copy_in.lock().unwrap() = Some(st);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (slot, st) = self.take_copy(client).await?;
        let Some(mut st) = st else { return Ok(()) };
        let mut session = slot.0.lock().await;
        if let Some(e) = st.failed.take() {
            return Err(pg_err(e));
        }
        match st.copy.finish(&self.engine, &mut session).await {
            Ok(n) => {
                drop(session);
                client
                    .send(PgWireBackendMessage::CommandComplete(
                        Tag::new("COPY").with_rows(n as usize).into(),
                    ))
                    .await?;
                Ok(())
            }
            Err(e) => {
                st.copy.undo(&self.engine).await;
                Self::fail_block(&mut session);
                Err(pg_err(e))
            }
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok((slot, Some(mut st))) = self.take_copy(client).await {
            st.copy.undo(&self.engine).await;
            let mut session = slot.0.lock().await;
            Self::fail_block(&mut session);
        }
        pg_err(PgError::new(
            codes::QUERY_CANCELED,
            format!("COPY from stdin failed: {}", fail.message),
        ))
    }
}

/// Startup: trust authentication, a fresh session, PostgreSQL's parameters.
pub struct Startup {
    frontend: Arc<Frontend>,
}

struct Params {
    user: Option<String>,
    app: Option<String>,
}

impl ServerParameterProvider for Params {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        let mut p = DefaultServerParameterProvider::default();
        p.server_version = SERVER_VERSION.to_string();
        p.time_zone = "UTC".into();
        p.date_style = "ISO, MDY".into();
        p.application_name = self.app.clone();
        p.session_authorization = self.user.clone();
        p.server_parameters(client)
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(ref startup) = message {
            protocol_negotiation(client, startup).await?;
            save_startup_parameters_to_metadata(client, startup);
            let (pid, key) = self.frontend.pids.generate(client);
            client.set_pid_and_secret_key(pid, key.clone());
            let (handle, guard): (Arc<ConnectionHandle>, ConnectionGuard) =
                self.frontend.manager.register(pid, key);
            client
                .session_extensions()
                .insert::<Arc<ConnectionHandle>>(handle);
            client.session_extensions().insert::<ConnectionGuard>(guard);
            let meta = client.metadata();
            let user = meta.get("user").cloned().unwrap_or_else(|| "grape".into());
            let startup_settings: BTreeMap<String, String> = meta
                .iter()
                .filter(|(k, _)| k.as_str() != "user")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let engine = &self.frontend.engine;
            let grape = Arc::new(GrapeCatalog::new(
                engine.catalog.clone(),
                engine.node.clone(),
                engine.vindexes.clone(),
                startup_settings
                    .get("database")
                    .cloned()
                    .unwrap_or_else(|| user.clone()),
            ));
            let session = Session::new(grape, &user, &startup_settings);
            let app = startup_settings.get("application_name").cloned();
            client
                .session_extensions()
                .insert(SessionSlot(Mutex::new(session)));
            finish_authentication(
                client,
                &Params {
                    user: Some(user),
                    app,
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// The handler set pgwire asks for per connection.
pub struct Handlers {
    pub frontend: Arc<Frontend>,
    pub startup: Arc<Startup>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>) -> Arc<Handlers> {
        let frontend = Frontend::new(engine);
        Arc::new(Handlers {
            startup: Arc::new(Startup {
                frontend: frontend.clone(),
            }),
            frontend,
        })
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.frontend.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.frontend.clone()
    }
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }
    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.frontend.manager.clone()))
    }
    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.frontend.clone()
    }
}
