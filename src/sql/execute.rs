//! Run one statement: classify it and hand it to the part that runs it
//! (queries, DML, DDL, COPY, transaction control, SET/SHOW/RESET).

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement, Value};

use super::ddl::vector_index;
use super::engine::Engine;
use super::errors::df_error;
use super::output::Output;
use super::parse::{folded, object_parts, parse};
use super::rewrite::bind::bind_unbound;
use super::session::{Isolation, Session};
use super::settings::{description, display_name};
use super::{copy, ddl, dml, txn, vector};
use crate::error::{PgError, PgResult, codes};

fn has_into(q: &datafusion::sql::sqlparser::ast::Query) -> bool {
    matches!(q.body.as_ref(), datafusion::sql::sqlparser::ast::SetExpr::Select(s) if s.into.is_some())
}

/// The table of a `SELECT ... INTO t`, taken out of the query.
fn into_table(q: &mut datafusion::sql::sqlparser::ast::Query) -> Option<String> {
    use datafusion::sql::sqlparser::ast::SetExpr;
    match q.body.as_mut() {
        SetExpr::Select(s) => s.into.take().map(|i| i.name.to_string()),
        _ => None,
    }
}

impl Engine {
    /// Run one statement in a session.
    pub async fn execute(&self, session: &mut Session, stmt: Statement) -> PgResult<Output> {
        // Read under the lock: `ctx.state()` would clone the whole state on
        // every statement.
        let zone = session
            .ctx
            .state_ref()
            .read()
            .config_options()
            .execution
            .time_zone
            .clone();
        let out = self
            .execute_statement(session, stmt)
            .await
            .map(|o| super::output::in_session_zone(o, zone));
        // A snapshot is not held between statements (garbage collection
        // keeps the versions of every snapshot still held).
        session.grape.set_snapshot(None);
        out
    }

    /// A statement a statement runs (a foreign key's cascade): the
    /// session's scratch tables stay for the statement that runs it.
    pub async fn execute_nested(&self, session: &mut Session, stmt: Statement) -> PgResult<Output> {
        self.execute_statement(session, stmt).await
    }

    /// INSERT, UPDATE or DELETE.
    async fn write_statement(&self, session: &mut Session, stmt: Statement) -> PgResult<Output> {
        match stmt {
            Statement::Insert(ins) => dml::insert(self, session, ins).await,
            Statement::Update(upd) => dml::update(self, session, upd).await,
            Statement::Delete(del) => dml::delete(self, session, del).await,
            _ => Err(PgError::internal("not a write statement")),
        }
    }

    async fn execute_statement(
        &self,
        session: &mut Session,
        mut stmt: Statement,
    ) -> PgResult<Output> {
        let unbound = std::mem::take(&mut session.unbound);
        let control = txn::is_control(&stmt);
        // Locks first, then the snapshot (a wait for another block's DDL
        // ends with a snapshot that sees what it committed).
        if !control && !session.block_failed() {
            super::locking::lock_named_tables(session, &stmt).await?;
        }
        match session.block_mut() {
            // REPEATABLE READ and SERIALIZABLE: the block's first query
            // takes the snapshot every later statement reads.
            Some(b) if b.isolation >= Isolation::RepeatableRead && !control => {
                b.started = true;
                if b.snapshot.is_none() {
                    b.snapshot = Some(self.data.snapshot().await);
                }
                let snap = b.snapshot.clone();
                session.grape.set_snapshot(snap);
            }
            // READ COMMITTED: every statement reads one snapshot of all shards.
            b => {
                if let (Some(b), false) = (b, control) {
                    b.started = true;
                }
                self.fresh_snapshot(session).await;
            }
        }
        // A block that changed the schema sees other sessions' committed
        // DDL too (its own changes carried over).
        if let Some(d) = session.block_mut().and_then(|b| b.ddl.as_mut()) {
            d.rebase(&self.catalog.current())?;
            session.show_block_catalog();
        }
        if !matches!(stmt, Statement::Query(_)) {
            bind_unbound(&mut stmt, &unbound)?;
        }
        if session.block_failed()
            && !matches!(stmt, Statement::Commit { .. } | Statement::Rollback { .. })
        {
            return Err(PgError::in_failed_block());
        }
        txn::check_writable(session, &stmt)?;
        session.refresh_sequences();
        match stmt {
            Statement::Query(q) if has_into(&q) => {
                // SELECT ... INTO t: CREATE TABLE t AS SELECT ...
                let mut q2 = q.clone();
                let target = into_table(&mut q2).expect("checked");
                let sql = format!("CREATE TABLE {target} AS {q2}");
                let stmt = super::parse(&sql)?
                    .pop()
                    .ok_or_else(|| PgError::internal("empty CREATE TABLE AS"))?;
                ddl::execute(self, session, stmt).await
            }
            Statement::Query(_) => self.query(session, stmt, &unbound).await,
            Statement::Explain { .. } => self.explain(session, stmt).await,
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
                if !session.in_block() && dml::writes_foreign_keys(self, session, &stmt) =>
            {
                // The statement, its cascades and the locks on what its
                // rows reference commit together.
                txn::begin_implicit(session);
                let result = Box::pin(self.write_statement(session, stmt)).await;
                txn::end_implicit(self, session, result).await
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
                self.write_statement(session, stmt).await
            }
            Statement::StartTransaction { modes, .. } => txn::begin(session, &modes),
            Statement::Commit { .. } => txn::commit(self, session).await,
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => txn::rollback_to(session, &name),
            Statement::Rollback { .. } => txn::rollback(session).await,
            Statement::Savepoint { name } => txn::savepoint(session, &name),
            Statement::ReleaseSavepoint { name } => txn::release(session, &name),
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
            Statement::Discard { object_type } => {
                use datafusion::sql::sqlparser::ast::DiscardObject as D;
                // What connection pools send between clients: the session
                // as a new one would find it (settings, currval/lastval;
                // GrapeDB keeps no plans or temporary objects).
                if session.in_block() && matches!(object_type, D::ALL) {
                    return Err(PgError::new(
                        codes::ACTIVE_SQL_TRANSACTION,
                        "DISCARD ALL cannot run inside a transaction block",
                    ));
                }
                if matches!(object_type, D::ALL) {
                    let names: Vec<String> = session.all().map(|(k, _)| k.clone()).collect();
                    for n in names {
                        let _ = session.set(&n, None);
                    }
                }
                if matches!(object_type, D::ALL | D::SEQUENCES) {
                    session.sequences.lock().discard();
                }
                // As PostgreSQL: CLOSE ALL, UNLISTEN * and
                // pg_advisory_unlock_all() too (a pooled connection's next
                // client inherits nothing of the last's).
                if matches!(object_type, D::ALL) {
                    session.cursors.clear();
                    session.sql_prepared.clear();
                    session.notify.unlisten(None);
                    session.grape.advisory().unlock_all();
                }
                Ok(Output::Command(format!("DISCARD {object_type}")))
            }
            Statement::Call(f) if f.name.to_string() == super::parse::OWNER_TO_CALL => {
                super::owner::owner_to(session, &f)
            }
            s @ Statement::Call(_)
                if matches!(&s, Statement::Call(f)
                    if f.name.to_string() == super::parse::ALTER_SEQUENCE_CALL
                        || f.name.to_string() == super::parse::ADD_IDENTITY_CALL) =>
            {
                ddl::execute(self, session, s).await
            }
            s @ (Statement::CreateTable(_)
            | Statement::Comment { .. }
            | Statement::CreateSequence { .. }
            | Statement::CreateType { .. }
            | Statement::AlterType(_)
            | Statement::CreateView(_)
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
                match copy::start(self, session, source, to, target, options, legacy_options)
                    .await?
                {
                    copy::CopyStart::In(c) => Ok(Output::CopyIn(c)),
                    copy::CopyStart::Out { sql, opts } => {
                        let stmt = parse(&sql)?
                            .pop()
                            .ok_or_else(|| PgError::syntax("empty COPY query"))?;
                        match self.query(session, stmt, &[]).await? {
                            Output::Stream { schema, stream, .. } => Ok(Output::CopyOut {
                                schema,
                                stream,
                                opts,
                            }),
                            // The direct KNN path answers with rows.
                            Output::Rows {
                                schema, batches, ..
                            } => Ok(Output::CopyOut {
                                stream: Box::pin(
                                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                                        schema.clone(),
                                        futures::stream::iter(batches.into_iter().map(Ok)),
                                    ),
                                ),
                                schema,
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
            Statement::Declare { stmts } => self.declare(session, stmts).await,
            Statement::LISTEN { channel } => {
                session.notify.listen(&folded(&channel));
                Ok(Output::Command("LISTEN".into()))
            }
            Statement::UNLISTEN { channel } => {
                session
                    .notify
                    .unlisten((channel.value != "*").then(|| folded(&channel)).as_deref());
                Ok(Output::Command("UNLISTEN".into()))
            }
            Statement::NOTIFY { channel, payload } => {
                session
                    .notify
                    .notify(&folded(&channel), payload.as_deref().unwrap_or(""))?;
                Ok(Output::Command("NOTIFY".into()))
            }
            Statement::Fetch {
                name,
                direction,
                into: None,
                ..
            } => {
                let rows = session.cursors.fetch(&folded(&name), &direction)?;
                Ok(Output::Rows {
                    schema: rows.schema(),
                    batches: vec![rows],
                    tag: "FETCH".into(),
                })
            }
            Statement::Close { cursor } => {
                use datafusion::sql::sqlparser::ast::CloseCursor;
                match cursor {
                    CloseCursor::All => session.cursors.close(None)?,
                    CloseCursor::Specific { name } => {
                        session.cursors.close(Some(&folded(&name)))?
                    }
                }
                Ok(Output::Command("CLOSE CURSOR".into()))
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
            Statement::DropExtension(drop) => drop_extension(session, &drop),
            Statement::Lock(lock) => super::locking::lock_tables(session, &lock).await,
            Statement::Prepare {
                name,
                data_types,
                statement,
            } => super::prepare::prepare(session, &name, data_types, *statement),
            Statement::Execute {
                name: Some(name),
                parameters,
                immediate: false,
                ..
            } if name.0.len() == 1 => {
                let Some(ident) = name.0[0].as_ident().cloned() else {
                    return Err(PgError::unsupported("EXECUTE of this name"));
                };
                super::prepare::execute(self, session, &ident, parameters).await
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

    /// `DECLARE name CURSOR FOR query`: the query runs now, its rows kept
    /// in the session (sql/cursors.rs).
    async fn declare(
        &self,
        session: &mut Session,
        stmts: Vec<datafusion::sql::sqlparser::ast::Declare>,
    ) -> PgResult<Output> {
        let [d] = <[_; 1]>::try_from(stmts)
            .map_err(|_| PgError::syntax("DECLARE declares one cursor"))?;
        let (Some(query), [name]) = (d.for_query, d.names.as_slice()) else {
            return Err(PgError::unsupported("DECLARE of anything but a cursor"));
        };
        if d.binary == Some(true) {
            return Err(PgError::unsupported("BINARY cursors"));
        }
        let hold = d.hold == Some(true);
        if !hold && !session.in_block() {
            return Err(PgError::new(
                codes::NO_ACTIVE_SQL_TRANSACTION,
                "DECLARE CURSOR can only be used in transaction blocks",
            ));
        }
        let name = folded(name);
        if session.cursors.get(&name).is_some() {
            return Err(PgError::new(
                codes::DUPLICATE_CURSOR,
                format!("cursor \"{name}\" already exists"),
            ));
        }
        let (schema, batches) = match self.query(session, Statement::Query(query), &[]).await? {
            Output::Stream { schema, stream, .. } => {
                use futures::TryStreamExt;
                let batches: Vec<_> = stream
                    .try_collect()
                    .await
                    .map_err(super::errors::df_error)?;
                (schema, batches)
            }
            Output::Rows {
                schema, batches, ..
            } => (schema, batches),
            _ => return Err(PgError::internal("cursor query produced no rows")),
        };
        let in_block = session.in_block();
        session.cursors.declare(
            &name,
            schema,
            &batches,
            d.scroll != Some(false),
            hold,
            in_block,
        )?;
        Ok(Output::Command("DECLARE CURSOR".into()))
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

    fn set(&self, session: &mut Session, set: Set) -> PgResult<Output> {
        match set {
            Set::SetTransaction {
                modes,
                session: whole_session,
                ..
            } => return txn::set_transaction(session, &modes, whole_session),
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
        let name = super::settings::show_name(
            &variable.iter().map(|i| i.value.clone()).collect::<Vec<_>>(),
        );
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
            let desc: Vec<&str> = session.all().map(|(k, _)| description(k)).collect();
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

/// `DROP EXTENSION vector`: pgvector is built in, so nothing is removed,
/// but as PostgreSQL refuses while a column uses one of its types
/// (2BP01; CASCADE, which would drop those columns, is not supported),
/// and any other extension does not exist.
fn drop_extension(
    session: &mut Session,
    drop: &datafusion::sql::sqlparser::ast::DropExtension,
) -> PgResult<Output> {
    use crate::types::SqlType;
    for name in &drop.names {
        let name = folded(name);
        if name != "vector" {
            if drop.if_exists {
                session.notices.push(crate::error::Notice::notice(
                    codes::SUCCESSFUL_COMPLETION,
                    format!("extension \"{name}\" does not exist, skipping"),
                ));
                continue;
            }
            return Err(PgError::new(
                codes::UNDEFINED_OBJECT,
                format!("extension \"{name}\" does not exist"),
            ));
        }
        let cat = session.catalog();
        let user = cat.tables.values().find_map(|t| {
            t.columns.iter().find_map(|c| {
                let ty = match &c.ty {
                    SqlType::Array(e) => e.as_ref(),
                    t => t,
                };
                let ty = match ty {
                    SqlType::Vector(_) => "vector",
                    SqlType::HalfVec(_) => "halfvec",
                    SqlType::SparseVec(_) => "sparsevec",
                    _ => return None,
                };
                Some(format!(
                    "column {} of table {} depends on type {ty}",
                    c.name, t.name
                ))
            })
        });
        if let Some(detail) = user {
            let e = PgError::new(
                codes::DEPENDENT_OBJECTS_STILL_EXIST,
                "cannot drop extension vector because other objects depend on it",
            )
            .with_detail(detail);
            return Err(
                if matches!(
                    drop.cascade_or_restrict,
                    Some(datafusion::sql::sqlparser::ast::ReferentialAction::Cascade)
                ) {
                    PgError::unsupported("DROP EXTENSION vector CASCADE")
                } else {
                    e.with_hint("Use DROP ... CASCADE to drop the dependent objects too.")
                },
            );
        }
    }
    Ok(Output::Command("DROP EXTENSION".into()))
}
