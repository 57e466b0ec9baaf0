//! The SQL layer: classify a parsed statement and run it.
//!
//! DDL changes the catalog (meta group); SET/SHOW/BEGIN/COMMIT change the
//! session; queries are planned and run by DataFusion over the shard scans;
//! INSERT/UPDATE/DELETE are planned by DataFusion as queries whose rows are
//! then written through the shards' Raft logs.

pub mod copy;
pub mod ddl;
pub mod dml;
pub mod errors;
pub mod functions;
pub mod knn;
pub mod knn_direct;
pub mod names;

pub mod params;
pub mod session;
pub mod vector;
pub mod vector_index;

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Expr, ObjectName, Set, Statement, Value};

use crate::catalog::CatalogStore;
use crate::cluster::Node;
use crate::error::{Notice, PgError, PgResult, codes};
use crate::exec::write::{Conflict, RowWrite, WriteError, apply_writes};
use errors::{df_error, parser_error};
use session::{Session, TxnState, display_name};

/// What a statement produced, for the frontend to send.
pub enum Output {
    /// Rows streamed from a running plan; the tag is "SELECT" (row count appended).
    Stream {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        tag: String,
    },
    /// Rows already materialised (RETURNING, SHOW, EXPLAIN); tag gets the row count appended.
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        tag: String,
    },
    /// A complete command tag ("CREATE TABLE", "INSERT 0 3").
    Command(String),
    TxnStart(String),
    TxnEnd(String),
    /// COPY FROM STDIN started: the frontend feeds it the data.
    CopyIn(Box<copy::CopyIn>),
    /// COPY TO STDOUT: the rows of `sql`, in `opts`' format.
    CopyOut {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        opts: copy::Options,
    },
}

/// Shared, node-wide state every session uses.
pub struct Engine {
    pub node: Arc<Node>,
    pub catalog: Arc<CatalogStore>,
    pub vindexes: Arc<crate::exec::vindex::VectorIndexes>,
}

pub fn parse(sql: &str) -> PgResult<Vec<Statement>> {
    vector::parse_statements(sql).map_err(|e| parser_error(&e, sql))
}

pub fn object_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) if i.quote_style.is_some() => i.value.clone(),
            Some(i) => i.value.to_lowercase(),
            None => p.to_string(),
        })
        .collect()
}

impl Engine {
    /// Run one statement in a session.
    pub async fn execute(&self, session: &mut Session, mut stmt: Statement) -> PgResult<Output> {
        let unbound = std::mem::take(&mut session.unbound);
        if !matches!(stmt, Statement::Query(_)) {
            params::bind_unbound(&mut stmt, &unbound)?;
        }
        if matches!(session.txn, TxnState::Failed)
            && !matches!(stmt, Statement::Commit { .. } | Statement::Rollback { .. })
        {
            return Err(PgError::new(
                codes::IN_FAILED_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            ));
        }
        match stmt {
            Statement::Query(_) => self.query(session, stmt, &unbound).await,
            Statement::Explain { .. } => self.explain(session, stmt).await,
            Statement::Insert(ins) => dml::insert(self, session, ins).await,
            Statement::Update(upd) => dml::update(self, session, upd).await,
            Statement::Delete(del) => dml::delete(self, session, del).await,
            Statement::StartTransaction { .. } => {
                if session.in_block() {
                    session.notices.push(Notice::warning(
                        codes::ACTIVE_SQL_TRANSACTION,
                        "there is already a transaction in progress",
                    ));
                    return Ok(Output::Command("BEGIN".into()));
                }
                session.txn = TxnState::Block {
                    writes: Default::default(),
                };
                Ok(Output::TxnStart("BEGIN".into()))
            }
            Statement::Commit { .. } => self.commit(session).await,
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Err(PgError::unsupported("ROLLBACK TO SAVEPOINT")),
            Statement::Rollback { .. } => {
                if !session.in_block() {
                    session.notices.push(Notice::warning(
                        codes::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    ));
                }
                session.txn = TxnState::Idle;
                session.grape.set_overlay(None);
                Ok(Output::TxnEnd("ROLLBACK".into()))
            }
            Statement::Set(set) => self.set(session, set),
            Statement::ShowVariable { variable } => self.show(session, &variable),
            Statement::Reset(r) => {
                match r.reset {
                    datafusion::sql::sqlparser::ast::Reset::ALL => {
                        let names: Vec<String> = session.all().map(|(k, _)| k.clone()).collect();
                        for n in names {
                            let _ = session.set(&n, None);
                        }
                    }
                    datafusion::sql::sqlparser::ast::Reset::ConfigurationParameter(name) => {
                        session.set(&object_parts(&name).join("."), None)?;
                    }
                }
                Ok(Output::Command("RESET".into()))
            }
            Statement::ShowVariables { .. } => self.show(session, &[]),
            s @ (Statement::CreateTable(_)
            | Statement::CreateSchema { .. }
            | Statement::Drop { .. }
            | Statement::AlterTable(_)
            | Statement::CreateIndex(_)
            | Statement::Truncate(_)) => ddl::execute(self, session, s).await,
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                values,
            } => {
                if !values.is_empty() {
                    return Err(PgError::unsupported("inline COPY data"));
                }
                match copy::start(self, session, source, to, target, options, legacy_options)? {
                    copy::CopyStart::In(c) => Ok(Output::CopyIn(c)),
                    copy::CopyStart::Out { sql, opts } => {
                        let stmt = parse(&sql)?
                            .pop()
                            .ok_or_else(|| PgError::syntax("empty COPY query"))?;
                        match self.query(session, stmt, &[]).await? {
                            Output::Stream { schema, stream, .. } => {
                                use futures::TryStreamExt;
                                let batches =
                                    stream.try_collect::<Vec<_>>().await.map_err(df_error)?;
                                Ok(Output::CopyOut {
                                    schema,
                                    batches,
                                    opts,
                                })
                            }
                            // The direct KNN path answers with rows.
                            Output::Rows {
                                schema, batches, ..
                            } => Ok(Output::CopyOut {
                                schema,
                                batches,
                                opts,
                            }),
                            _ => Err(PgError::internal("COPY query produced no rows")),
                        }
                    }
                }
            }
            Statement::Call(f) if object_parts(&f.name) == [vector::REINDEX_CALL] => {
                let mut args = Vec::new();
                if let datafusion::sql::sqlparser::ast::FunctionArguments::List(l) = &f.args {
                    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr};
                    for a in &l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) = a {
                            if let Value::SingleQuotedString(s) = &v.value {
                                args.push(s.clone());
                            }
                        }
                    }
                }
                vector_index::reindex(self, session, &args).await
            }
            Statement::CreateExtension(ext) => {
                // pgvector's types, operators and index methods are built in.
                if ext.name.value.eq_ignore_ascii_case("vector") {
                    Ok(Output::Command("CREATE EXTENSION".into()))
                } else {
                    Err(PgError::new(
                        codes::FEATURE_NOT_SUPPORTED,
                        format!("extension \"{}\" is not available", ext.name.value),
                    ))
                }
            }
            Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => {
                Err(PgError::unsupported("SAVEPOINT"))
            }
            other => {
                let text = other.to_string();
                let word: String = text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(PgError::new(
                    codes::FEATURE_NOT_SUPPORTED,
                    format!("statement \"{word}\" is not supported"),
                ))
            }
        }
    }

    /// Plan a statement with DataFusion.
    pub async fn plan(&self, session: &Session, mut stmt: Statement) -> PgResult<LogicalPlan> {
        names::name_columns(&mut stmt);
        vector::rewrite(&mut stmt)?;
        functions::rewrite_pg_catalog(&mut stmt);
        let state = session.ctx.state();

        state
            .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
            .await
            .map_err(df_error)
    }

    /// Run a query; `unbound` are its binary vector parameters still left as
    /// placeholders, which only the direct KNN path reads as they are.
    async fn query(
        &self,
        session: &mut Session,
        mut stmt: Statement,
        unbound: &[params::Unbound],
    ) -> PgResult<Output> {
        if !unbound.is_empty() {
            if let Some(out) = knn_direct::try_run(self, session, &stmt, unbound).await? {
                return Ok(out);
            }
            params::bind_unbound(&mut stmt, unbound)?;
        }
        knn::inline_query_vectors(self, session, &mut stmt).await?;
        if let Some(out) = knn_direct::try_run(self, session, &stmt, &[]).await? {
            return Ok(out);
        }
        let plan = self.plan(session, stmt).await?;
        let df = session
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(df_error)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let stream = df.execute_stream().await.map_err(df_error)?;
        Ok(Output::Stream {
            schema,
            stream,
            tag: "SELECT".into(),
        })
    }

    async fn explain(&self, session: &mut Session, stmt: Statement) -> PgResult<Output> {
        if let Statement::Explain { statement, .. } = &stmt {
            if !matches!(**statement, Statement::Query(_)) {
                return Err(PgError::unsupported(
                    "EXPLAIN of statements other than queries",
                ));
            }
        }
        let plan = self.plan(session, stmt).await?;
        let df = session
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(df_error)?;
        let batches = df.collect().await.map_err(df_error)?;
        // One "QUERY PLAN" text column, one line per row, as PostgreSQL shows
        // it: the physical plan (with metrics for ANALYZE).
        let mut entries: Vec<(String, String)> = Vec::new();
        for b in &batches {
            let cast = |i: usize| {
                datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)
                    .map_err(|e| PgError::internal(e.to_string()))
            };
            let (types, plans) = (cast(0)?, cast(1)?);
            let types = types.as_any().downcast_ref::<StringArray>().unwrap();
            let plans = plans.as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..b.num_rows() {
                entries.push((types.value(i).to_string(), plans.value(i).to_string()));
            }
        }
        let physical: Vec<&(String, String)> = entries
            .iter()
            .filter(|(t, _)| t == "physical_plan" || t == "Plan with Metrics")
            .collect();
        let chosen: Vec<&(String, String)> = if physical.is_empty() {
            entries.iter().collect()
        } else {
            physical
        };
        let lines: Vec<String> = chosen
            .iter()
            .flat_map(|(_, p)| p.lines().map(str::to_string))
            .collect();
        let schema = Arc::new(Schema::new(vec![Field::new(
            "QUERY PLAN",
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(lines))])
            .map_err(|e| PgError::internal(e.to_string()))?;
        Ok(Output::Rows {
            schema,
            batches: vec![batch],
            tag: "EXPLAIN".into(),
        })
    }

    async fn commit(&self, session: &mut Session) -> PgResult<Output> {
        let state = std::mem::take(&mut session.txn);
        session.grape.set_overlay(None);
        match state {
            TxnState::Idle => {
                session.notices.push(Notice::warning(
                    codes::NO_ACTIVE_SQL_TRANSACTION,
                    "there is no transaction in progress",
                ));
                Ok(Output::Command("COMMIT".into()))
            }
            TxnState::Failed => Ok(Output::TxnEnd("ROLLBACK".into())),
            TxnState::Block { writes } => {
                let writes: Vec<RowWrite> =
                    writes.into_values().filter(|w| w.expect != w.new).collect();
                match self.apply_detached(writes).await {
                    Ok(_) => Ok(Output::TxnEnd("COMMIT".into())),
                    Err(WriteError::Conflict(_)) => Err(PgError::new(
                        codes::SERIALIZATION_FAILURE,
                        "could not serialize access due to concurrent update",
                    )),
                    Err(WriteError::Failed(e)) => Err(e),
                }
            }
        }
    }

    /// Write rows now, or buffer them in the open transaction block.
    pub async fn write(
        &self,
        session: &mut Session,
        writes: Vec<RowWrite>,
    ) -> Result<(), WriteError> {
        match &mut session.txn {
            TxnState::Block { writes: buf } => {
                for w in writes {
                    match buf.get_mut(&w.key) {
                        Some(existing) => {
                            if existing.new != w.expect {
                                return Err(WriteError::Conflict(Conflict {
                                    key: w.key,
                                    expected: w.expect,
                                    actual: existing.new.clone(),
                                }));
                            }
                            existing.new = w.new;
                        }
                        None => {
                            buf.insert(w.key.clone(), w);
                        }
                    }
                }
                let overlay: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> = buf
                    .iter()
                    .map(|(k, w)| (k.clone(), w.new.clone()))
                    .collect();
                session.grape.set_overlay(Some(Arc::new(overlay)));
                Ok(())
            }
            _ => self.apply_detached(writes).await.map(|_| ()),
        }
    }

    /// Apply writes in their own task: a statement cancelled or timed out
    /// while writing still finishes (or rolls back) its write as a whole.
    async fn apply_detached(&self, writes: Vec<RowWrite>) -> Result<usize, WriteError> {
        let node = self.node.clone();
        match tokio::spawn(async move { apply_writes(&node, writes).await }).await {
            Ok(r) => r,
            Err(e) => Err(WriteError::Failed(PgError::internal(format!(
                "write task failed: {e}"
            )))),
        }
    }

    /// Current value of a row key as this session sees it (own uncommitted writes first).
    pub fn read_key(&self, session: &Session, key: &[u8]) -> PgResult<Option<Vec<u8>>> {
        if let TxnState::Block { writes } = &session.txn {
            if let Some(w) = writes.get(key) {
                return Ok(w.new.clone());
            }
        }
        self.node.route(key).get(key)
    }

    fn set(&self, session: &mut Session, set: Set) -> PgResult<Output> {
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = object_parts(&variable).join(".");
                let value = if values.len() == 1 && is_default(&values[0]) {
                    None
                } else {
                    Some(
                        values
                            .iter()
                            .map(setting_value)
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                };
                session.set(&name, value)?;
            }
            Set::SetTimeZone { value, .. } => {
                session.set("timezone", Some(setting_value(&value)))?;
            }
            Set::SetTransaction { .. } => {}
            Set::SetNames { charset_name, .. } => {
                session.set("client_encoding", Some(charset_name.to_string()))?;
            }
            other => return Err(PgError::unsupported(format!("\"{other}\""))),
        }
        Ok(Output::Command("SET".into()))
    }

    fn show(
        &self,
        session: &Session,
        variable: &[datafusion::sql::sqlparser::ast::Ident],
    ) -> PgResult<Output> {
        let name: String = variable
            .iter()
            .map(|i| i.value.clone())
            .collect::<Vec<_>>()
            .join(".");
        if name.is_empty() || name.eq_ignore_ascii_case("all") {
            let schema = Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("setting", DataType::Utf8, false),
                Field::new("description", DataType::Utf8, false),
            ]));
            let (names, values): (Vec<String>, Vec<String>) = session
                .all()
                .map(|(k, v)| (display_name(k).to_string(), v.clone()))
                .unzip();
            let desc: Vec<&str> = session
                .all()
                .map(|(k, _)| session::description(k))
                .collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(names)),
                    Arc::new(StringArray::from(values)),
                    Arc::new(StringArray::from(desc)),
                ],
            )
            .map_err(|e| PgError::internal(e.to_string()))?;
            return Ok(Output::Rows {
                schema,
                batches: vec![batch],
                tag: "SHOW".into(),
            });
        }
        let value = session.get(&name)?;
        let col = display_name(&name.to_lowercase()).to_string();
        let schema = Arc::new(Schema::new(vec![Field::new(col, DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![value]))],
        )
        .map_err(|e| PgError::internal(e.to_string()))?;
        Ok(Output::Rows {
            schema,
            batches: vec![batch],
            tag: "SHOW".into(),
        })
    }
}

fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.value.eq_ignore_ascii_case("default"))
}

/// The text of a SET value: 'abc' → abc, identifiers and numbers as written.
fn setting_value(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            Value::Boolean(b) => {
                if *b {
                    "on".into()
                } else {
                    "off".into()
                }
            }
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        Expr::UnaryOp { op, expr } => format!("{op}{}", setting_value(expr)),
        other => other.to_string(),
    }
}
