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
        // `unnest(t.a)` becomes a LATERAL subquery the step below runs.
        super::rewrite::table_functions::rewrite(&mut stmt);
        super::lateral::materialize(self, session, &mut stmt).await?;
        inline_query_vectors(self, session, &mut stmt).await?;
        apply_set_config(session, &mut stmt)?;
        if let Some(out) = knn_direct::try_run(self, session, &stmt, &[]).await? {
            return Ok(out);
        }
        // Subqueries over always-empty catalogs as their values, and
        // `ARRAY(subquery)` as the aggregate subquery it plans as, so the
        // fallback below can run it per row too.
        super::rewrite::pg_catalog_names::rewrite(&mut stmt);
        super::rewrite::empty_catalogs::rewrite(&mut stmt);
        super::rewrite::array_subquery::rewrite(&mut stmt);
        // Kept for the per-row fallback below, when it could apply.
        let retry = super::lateral::has_select_list_subquery(&stmt).then(|| stmt.clone());
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
                        || e.message.contains("Correlated scalar subquery")) =>
            {
                let mut stmt = retry.expect("checked");
                if !super::lateral::scalar_subquery_as_lateral(&mut stmt) {
                    return Err(e);
                }
                return Box::pin(self.query(session, stmt, &[])).await;
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
        let name = f.name.0.last().map(|p| p.to_string().to_lowercase());
        if name.as_deref() != Some("set_config") {
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
            failed = Some(crate::error::PgError::unsupported(
                "set_config with arguments that are not constants",
            ));
            return ControlFlow::Break(());
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
