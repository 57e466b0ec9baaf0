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
        if let Some(out) = knn_direct::try_run(self, session, &stmt, &[]).await? {
            return Ok(out);
        }
        // `ARRAY(subquery)` as the aggregate subquery it plans as, so the
        // fallback below can run it per row too.
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
