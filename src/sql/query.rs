//! Running a query: the direct KNN path when the statement has its
//! shape, else DataFusion's plan (after subqueries that give a distance
//! operator its query vector have run).

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::sql::sqlparser::ast::Statement;

use super::engine::Engine;
use super::errors::df_error;
use super::output::Output;
use super::rewrite::bind::bind_unbound;
use super::session::Session;
use super::{dml, knn_direct, params};
use crate::error::PgResult;

impl Engine {
    /// Run a query; `unbound` are its binary vector parameters still left as
    /// placeholders, which only the direct KNN path reads as they are.
    pub async fn query(
        &self,
        session: &mut Session,
        mut stmt: Statement,
        unbound: &[params::Unbound],
    ) -> PgResult<Output> {
        let mut unbound = unbound;
        if matches!(&stmt, Statement::Query(q) if !q.locks.is_empty()) {
            // Row locks read the rows through the planner: bind first.
            bind_unbound(&mut stmt, unbound)?;
            unbound = &[];
            if let Statement::Query(q) = &mut stmt {
                dml::lock_rows(self, session, q).await?;
                q.locks.clear();
            }
        }
        if !unbound.is_empty() {
            if let Some(out) = knn_direct::try_run(self, session, &stmt, unbound).await? {
                return Ok(out);
            }
            bind_unbound(&mut stmt, unbound)?;
        }
        // Kept for the retry below: `ARRAY(SELECT f(x) FROM unnest(t.a)
        // x)` beside a join, which DataFusion cannot decorrelate, as a map
        // over the array.
        super::rewrite::options_table::rewrite(&mut stmt);
        let before_lateral = super::rewrite::array_subquery::has_maps(&stmt).then(|| stmt.clone());
        // `unnest(t.a)` becomes a LATERAL subquery the step below runs.
        super::rewrite::table_functions::rewrite(&mut stmt);
        let prepared = async {
            super::lateral::materialize(self, session, &mut stmt).await?;
            inline_query_vectors(self, session, &mut stmt).await
        }
        .await;
        match prepared {
            Ok(()) => {}
            Err(e) if before_lateral.is_some() && needs_maps(&e) => {
                let stmt = before_lateral.expect("checked");
                return Box::pin(self.query_mapped(session, stmt))
                    .await
                    .map_err(|_| e);
            }
            Err(e) => return Err(e),
        }
        if calls_run_first(&stmt) {
            apply_set_config(session, &mut stmt)?;
            apply_advisory_locks(session, &mut stmt).await?;
        }
        if let Some(out) = knn_direct::try_run(self, session, &stmt, &[]).await? {
            return Ok(out);
        }
        // Kept for the per-row fallback below, when it could apply: with
        // subqueries over always-empty catalogs as their values and
        // `ARRAY(subquery)` as the aggregate subquery it plans as, so the
        // fallback runs those per row too (planning does the same
        // rewrites; only such a statement pays for them twice).
        let retry = super::lateral::has_select_list_subquery(&stmt).then(|| {
            // Named first: the rewrites' calls must not rename columns.
            super::rewrite::columns::name_columns(&mut stmt);
            super::rewrite::pg_catalog_names::rewrite(&mut stmt);
            super::rewrite::empty_catalogs::rewrite(&mut stmt);
            super::rewrite::array_subquery::rewrite(&mut stmt);
            stmt.clone()
        });
        let planned = async {
            let plan = self.plan(session, stmt).await?;
            let df = session
                .ctx
                .execute_logical_plan(plan)
                .await
                .map_err(df_error)?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let stream = df.execute_stream().await.map_err(df_error)?;
            Ok::<_, crate::error::PgError>((schema, stream))
        }
        .await;
        let (schema, stream) = match planned {
            Ok(done) => done,
            // A correlated scalar subquery DataFusion cannot decorrelate
            // (not aggregated, or correlated by more than equality) runs
            // per outer row instead.
            Err(e)
                if retry.is_some()
                    && (e.message.contains("ScalarSubquery")
                        || e.message.contains("Correlated scalar subquery")
                        // A subquery reading the outer row where DataFusion
                        // cannot decorrelate it (`unnest(outer.a)` in it).
                        || e.message.contains("OuterReferenceColumn")) =>
            {
                let mut stmt = retry.expect("checked");
                if super::lateral::scalar_subquery_as_lateral(&mut stmt) {
                    let per_row = Box::pin(self.query(session, stmt, &[])).await;
                    // Per row failing too (an unqualified outer column in
                    // the subquery's FROM is not bound per row), a map may
                    // still compute it; else the per-row error stands.
                    return match (per_row, before_lateral) {
                        (Err(e), Some(stmt)) => Box::pin(self.query_mapped(session, stmt))
                            .await
                            .map_err(|_| e),
                        (r, _) => r,
                    };
                }
                match before_lateral {
                    Some(stmt) => {
                        return Box::pin(self.query_mapped(session, stmt))
                            .await
                            .map_err(|_| e);
                    }
                    None => return Err(e),
                }
            }
            Err(e) if before_lateral.is_some() && needs_maps(&e) => {
                let stmt = before_lateral.expect("checked");
                return Box::pin(self.query_mapped(session, stmt))
                    .await
                    .map_err(|_| e);
            }
            Err(e) => return Err(e),
        };
        Ok(Output::Stream {
            schema,
            stream,
            tag: "SELECT".into(),
        })
    }
}

/// Whether DataFusion failed on a subquery over the `unnest` of an outer
/// row's column, which [`Engine::query_mapped`] computes as a map: it
/// cannot decorrelate it (OuterReferenceColumn), plan it unaggregated, or
/// (an unqualified outer column in a FROM item's arguments, as pg_dump
/// writes `pg_options_to_table(attfdwoptions)`) find the column at all.
fn needs_maps(e: &crate::error::PgError) -> bool {
    e.message.contains("OuterReferenceColumn")
        || e.message.contains("Correlated scalar subquery")
        || e.code == crate::error::codes::UNDEFINED_COLUMN
}

/// Run an uncorrelated scalar subquery that gives a distance operator its
/// query vector (`ORDER BY v <-> (SELECT v FROM t WHERE id = 1) LIMIT 5`)
/// before planning, and put its value in as a literal, so the KNN rule (and
/// the direct path) can use the index. A subquery that cannot run on its
/// own (correlated) is left to the planner. As PostgreSQL: more than one row
/// is an error (21000), no row is NULL.
async fn inline_query_vectors(
    engine: &Engine,
    session: &mut Session,
    stmt: &mut datafusion::sql::sqlparser::ast::Statement,
) -> crate::error::PgResult<()> {
    use datafusion::sql::sqlparser::ast::{
        BinaryOperator, Expr as SqlExpr, Statement, visit_expressions_mut,
    };
    use std::ops::ControlFlow;
    let is_distance = |op: &BinaryOperator| match op {
        BinaryOperator::Custom(s) => crate::vector::distance::Metric::from_operator(s).is_some(),
        BinaryOperator::Spaceship => true,
        _ => false,
    };
    // A subquery may name the statement's CTEs: leave those to the planner.
    if let Statement::Query(q) = stmt {
        if q.with.is_some() {
            return Ok(());
        }
    }
    // The subqueries, in order of appearance.
    let mut found: Vec<datafusion::sql::sqlparser::ast::Query> = Vec::new();
    let _ = visit_expressions_mut(stmt, |e| {
        if let SqlExpr::BinaryOp { left, op, right } = e {
            if is_distance(op) {
                for side in [left.as_ref(), right.as_ref()] {
                    if let SqlExpr::Subquery(q) = side {
                        if !found.contains(q) {
                            found.push((**q).clone());
                        }
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let mut values: Vec<(datafusion::sql::sqlparser::ast::Query, SqlExpr)> = Vec::new();
    for q in found {
        let Ok(Output::Stream { schema, stream, .. }) =
            Box::pin(engine.query(session, Statement::Query(Box::new(q.clone())), &[])).await
        else {
            continue;
        };
        let Ok(batches) = futures::TryStreamExt::try_collect::<Vec<_>>(stream).await else {
            continue;
        };
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let Some(kind) = schema
            .fields()
            .first()
            .filter(|_| schema.fields().len() == 1)
            .and_then(|f| crate::types::vector_arrow::field_kind(f))
        else {
            continue;
        };
        if rows > 1 {
            return Err(crate::error::PgError::new(
                "21000",
                "more than one row returned by a subquery used as an expression",
            ));
        }
        let text = match batches.iter().find(|b| b.num_rows() == 1) {
            Some(b) => crate::types::vector_arrow::text_array(kind, b.column(0))?
                .iter()
                .next()
                .flatten()
                .map(str::to_string),
            None => None,
        };
        // `bit` alone is bit(1): a bit string goes in as varbit.
        let ty = if kind == crate::vector::Kind::Bit {
            "varbit"
        } else {
            kind.name()
        };
        let literal = match text {
            Some(t) => format!("CAST('{t}' AS {ty})"),
            None => format!("CAST(NULL AS {ty})"),
        };
        let e = datafusion::sql::sqlparser::parser::Parser::new(
            &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        )
        .try_with_sql(&literal)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| crate::error::PgError::internal(e.to_string()))?;
        values.push((q, e));
    }
    if values.is_empty() {
        return Ok(());
    }
    let _ = visit_expressions_mut(stmt, |e| {
        if let SqlExpr::Subquery(q) = e {
            if let Some((_, v)) = values.iter().find(|(k, _)| k == q.as_ref()) {
                *e = v.clone();
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

/// Whether the statement calls a function `sql::query` runs before it
/// (set_config, the advisory lock functions, pg_sleep): one walk, so
/// other statements skip the two passes below.
fn calls_run_first(stmt: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr, visit_expressions};
    use std::ops::ControlFlow;
    visit_expressions(stmt, |e| match e {
        Expr::Function(f) => {
            let n = super::rewrite::ast::function_name(f);
            if n == "set_config"
                || n == "pg_sleep"
                || n.starts_with("pg_advisory")
                || n.starts_with("pg_try_advisory")
            {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// `set_config(name, value, is_local)` (pg_dump and ORMs send `SELECT
/// set_config('search_path', '', false)`): the setting changes as SET
/// changes it, before the statement runs, and the call is its new value.
/// Its arguments must be constants here; `is_local` acts as SET LOCAL
/// does in GrapeDB (for the session).
fn apply_set_config(session: &mut Session, stmt: &mut Statement) -> PgResult<()> {
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value, visit_expressions_mut,
    };
    use std::ops::ControlFlow;
    let mut failed = None;
    let _ = visit_expressions_mut(stmt, |e| {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        if super::rewrite::ast::function_name(f) != "set_config" {
            return ControlFlow::Continue(());
        }
        let args: Vec<&Expr> = match &f.args {
            FunctionArguments::List(l) => l
                .args
                .iter()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let text = |x: &Expr| match x {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        let (Some(setting), Some(value)) = (
            args.first().and_then(|x| text(x)),
            args.get(1).and_then(|x| text(x)),
        ) else {
            // Refused when a row reaches it (see PER_ROW_SET_CONFIG).
            f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
                datafusion::sql::sqlparser::ast::Ident::new(
                    super::pg_functions::PER_ROW_SET_CONFIG,
                ),
            ]);
            return ControlFlow::Continue(());
        };
        if let Err(err) = session
            .set(&setting, Some(value))
            .and_then(|_| session.get(&setting))
            .map(|now| *e = super::rewrite::ast::text_literal(&now))
        {
            failed = Some(err);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// An advisory lock function with its key (one bigint or two integers).
enum AdvisoryCall {
    Lock(
        crate::catalog::advisory::Key,
        crate::catalog::advisory::Scope,
    ),
    TryLock(
        crate::catalog::advisory::Key,
        crate::catalog::advisory::Scope,
    ),
    Unlock(crate::catalog::advisory::Key),
    UnlockAll,
    /// `pg_sleep(seconds)`, which waits the same way.
    Sleep(f64),
}

/// `pg_advisory_lock(k)` and the rest (migration tools send `SELECT
/// pg_advisory_lock($1)`): run before the statement, waiting without
/// holding a thread (a cancel or statement_timeout drops the wait), and
/// the calls become their values. Their arguments must be constants here,
/// and a call runs once per statement (PostgreSQL runs it per row);
/// shared locks are not supported. `pg_sleep(seconds)` runs the same way.
async fn apply_advisory_locks(session: &mut Session, stmt: &mut Statement) -> PgResult<()> {
    use crate::catalog::advisory::Scope;
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator, Value,
        visit_expressions_mut,
    };
    use std::ops::ControlFlow;
    fn constant(x: &Expr) -> Option<i64> {
        match x {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse().ok(),
                Value::SingleQuotedString(s) => s.trim().parse().ok(),
                _ => None,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => constant(expr).map(|v| -v),
            Expr::Cast { expr, .. } | Expr::Nested(expr) => constant(expr),
            _ => None,
        }
    }
    // A call that is a whole result column keeps its name (PostgreSQL
    // names the column after the function).
    if let Statement::Query(q) = &mut *stmt
        && let datafusion::sql::sqlparser::ast::SetExpr::Select(sel) = q.body.as_mut()
    {
        for item in sel.projection.iter_mut() {
            if let datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(Expr::Function(f)) =
                item
            {
                let name = super::rewrite::ast::function_name(f);
                if name.starts_with("pg_advisory")
                    || name.starts_with("pg_try_advisory")
                    || name == "pg_sleep"
                {
                    let expr = Expr::Function(f.clone());
                    *item = datafusion::sql::sqlparser::ast::SelectItem::ExprWithAlias {
                        expr,
                        alias: datafusion::sql::sqlparser::ast::Ident::with_quote('"', name),
                    };
                }
            }
        }
    }
    fn seconds(x: &Expr) -> Option<f64> {
        match x {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse().ok(),
                Value::SingleQuotedString(s) => s.trim().parse().ok(),
                _ => None,
            },
            Expr::Cast { expr, .. } | Expr::Nested(expr) => seconds(expr),
            _ => None,
        }
    }
    // Such a call runs before its statement, so only where that is what
    // PostgreSQL would do: a SELECT of values, no FROM, no WHERE (a lock
    // taken for a statement that then fails to plan, or for rows a WHERE
    // would not reach, would be wrong).
    let plain = matches!(&*stmt, Statement::Query(q)
        if q.with.is_none()
            && matches!(q.body.as_ref(), datafusion::sql::sqlparser::ast::SetExpr::Select(s)
                if s.from.is_empty() && s.selection.is_none()));
    let mut calls: Vec<AdvisoryCall> = Vec::new();
    let mut failed = None;
    let _ = visit_expressions_mut(stmt, |e| {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let name = super::rewrite::ast::function_name(f);
        let runs_first = name == "pg_sleep"
            || name.starts_with("pg_advisory")
            || name.starts_with("pg_try_advisory");
        if runs_first && !plain {
            failed = Some(crate::error::PgError::unsupported(format!(
                "{name} outside a SELECT of values (GrapeDB runs it before its statement)"
            )));
            return ControlFlow::Break(());
        }
        if name == "pg_sleep" {
            let seconds = match &f.args {
                FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => seconds(x),
                    _ => None,
                },
                _ => None,
            };
            let Some(secs) = seconds else {
                failed = Some(crate::error::PgError::unsupported(
                    "pg_sleep with an argument that is not a constant",
                ));
                return ControlFlow::Break(());
            };
            *e = super::rewrite::ast::call(&format!("__grape_advisory_{}", calls.len()), vec![]);
            calls.push(AdvisoryCall::Sleep(secs));
            return ControlFlow::Continue(());
        }
        if !name.starts_with("pg_advisory") && !name.starts_with("pg_try_advisory") {
            return ControlFlow::Continue(());
        }
        let args: Vec<Option<i64>> = match &f.args {
            FunctionArguments::List(l) => l
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => constant(x),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let key = match args.as_slice() {
            [Some(k)] => Some((*k, false)),
            // Two int4 keys: out of int4's range is no key (as PostgreSQL,
            // which would not take such a value as an integer).
            [Some(a), Some(b)] => match (i32::try_from(*a), i32::try_from(*b)) {
                (Ok(a), Ok(b)) => Some((i64::from(a) << 32 | i64::from(b as u32), true)),
                _ => None,
            },
            _ => None,
        };
        let call = match (name.as_str(), key) {
            ("pg_advisory_unlock_all", None) if args.is_empty() => Some(AdvisoryCall::UnlockAll),
            ("pg_advisory_lock", Some(k)) => Some(AdvisoryCall::Lock(k, Scope::Session)),
            ("pg_advisory_xact_lock", Some(k)) => Some(AdvisoryCall::Lock(k, Scope::Transaction)),
            ("pg_try_advisory_lock", Some(k)) => Some(AdvisoryCall::TryLock(k, Scope::Session)),
            ("pg_try_advisory_xact_lock", Some(k)) => {
                Some(AdvisoryCall::TryLock(k, Scope::Transaction))
            }
            ("pg_advisory_unlock", Some(k)) => Some(AdvisoryCall::Unlock(k)),
            _ => None,
        };
        let Some(call) = call else {
            failed = Some(crate::error::PgError::unsupported(format!(
                "{name} with these arguments (GrapeDB takes exclusive advisory locks on constant keys)"
            )));
            return ControlFlow::Break(());
        };
        // Each call is put back as `grape_advisory_<n>` and given its
        // value below, once the lock is taken.
        *e = super::rewrite::ast::call(&format!("__grape_advisory_{}", calls.len()), vec![]);
        calls.push(call);
        ControlFlow::Continue(())
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if calls.is_empty() {
        return Ok(());
    }
    let mut values: Vec<Expr> = Vec::with_capacity(calls.len());
    for call in &calls {
        let advisory = session.grape.advisory();
        values.push(match call {
            AdvisoryCall::Lock(k, scope) => {
                advisory.lock(*k, *scope).await;
                Expr::value(Value::Null)
            }
            AdvisoryCall::TryLock(k, scope) => {
                Expr::value(Value::Boolean(advisory.try_lock(*k, *scope)))
            }
            AdvisoryCall::Unlock(k) => {
                let held = advisory.unlock(*k);
                if !held {
                    session.notices.push(crate::error::Notice::warning(
                        crate::error::codes::SUCCESSFUL_COMPLETION,
                        "you don't own a lock of type ExclusiveLock",
                    ));
                }
                Expr::value(Value::Boolean(held))
            }
            AdvisoryCall::UnlockAll => {
                advisory.unlock_all();
                Expr::value(Value::Null)
            }
            AdvisoryCall::Sleep(secs) => {
                if secs.is_finite() && *secs > 0.0 {
                    tokio::time::sleep(std::time::Duration::from_secs_f64(secs.min(1e7))).await;
                }
                Expr::value(Value::Null)
            }
        });
    }
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Function(f) = e
            && let Some(n) = f
                .name
                .to_string()
                .strip_prefix("__grape_advisory_")
                .and_then(|n| n.parse::<usize>().ok())
            && let Some(v) = values.get(n)
        {
            *e = v.clone();
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(())
}

impl Engine {
    /// The statement again with its `ARRAY(SELECT f(x) FROM unnest(t.a)
    /// x)` as maps over the arrays (`array_subquery::maps`): what is left
    /// when DataFusion cannot decorrelate the `unnest` of an outer column
    /// beside a join and the per-row fallback does not apply.
    async fn query_mapped(
        &self,
        session: &mut Session,
        mut stmt: datafusion::sql::sqlparser::ast::Statement,
    ) -> crate::error::PgResult<Output> {
        // Named first: the map's call must not rename the column.
        super::rewrite::columns::name_columns(&mut stmt);
        super::rewrite::array_subquery::maps(&mut stmt);
        self.query(session, stmt, &[]).await
    }
}
