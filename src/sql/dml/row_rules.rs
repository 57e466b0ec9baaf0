//! CHECK constraints and generated columns: expressions over one row,
//! planned once per statement (with the session's functions and rewrites)
//! and evaluated on every row the statement writes.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNode;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;

use crate::catalog::Table;
use crate::error::{PgError, PgResult, codes};
use crate::exec::catalog_provider::SCRATCH_SCHEMA;
use crate::sql::errors::df_error;
use crate::sql::session::Session;
use crate::sql::{Engine, parse};
use crate::types::datum::rows_to_batch;
use crate::types::text::quote_ident;
use crate::types::{Datum, SqlType};

use super::common::{check_row, register_scratch, row_text};

/// The compiled rules of one table.
pub struct RowRules {
    schema: SchemaRef,
    /// (column position, expression cast to the column's type).
    generated: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    /// (constraint name, boolean expression).
    checks: Vec<(String, Arc<dyn PhysicalExpr>)>,
    /// (column position, enum type name, its labels).
    enums: Vec<(usize, String, Vec<String>)>,
}

impl RowRules {
    /// Plan the table's generated columns and CHECK constraints; `None`
    /// when it has neither (the common case costs nothing).
    pub async fn compile(
        engine: &Engine,
        session: &Session,
        table: &Table,
    ) -> PgResult<Option<RowRules>> {
        let generated: Vec<(usize, String)> = table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let e = c.generated.as_ref()?;
                Some((i, format!("CAST(({e}) AS {})", c.ty.cast_name())))
            })
            .collect();
        let cat = session.catalog();
        let enums: Vec<(usize, String, Vec<String>)> = table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.ty {
                SqlType::Enum { schema, name } => Some((
                    i,
                    name.clone(),
                    cat.enum_type(schema, name)
                        .map(|t| t.labels.clone())
                        .unwrap_or_default(),
                )),
                _ => None,
            })
            .collect();
        if generated.is_empty() && table.checks.is_empty() && enums.is_empty() {
            return Ok(None);
        }
        let exprs: Vec<String> = generated
            .iter()
            .map(|(_, e)| e.clone())
            .chain(table.checks.iter().map(|c| format!("({})", c.expr)))
            .collect();
        // Boxed: the planner's future is large, and writes that DDL runs
        // (ALTER TABLE's fill) nest statements deeply.
        let mut compiled = Box::pin(plan_row_exprs(engine, session, table, &exprs)).await?;
        let checks = compiled.split_off(generated.len());
        for (_, ty) in &checks {
            if *ty != datafusion::arrow::datatypes::DataType::Boolean {
                return Err(PgError::new(
                    codes::DATATYPE_MISMATCH,
                    format!(
                        "argument of CHECK must be type boolean, not type {}",
                        crate::sql::errors::pg_type_name(&ty.to_string())
                    ),
                ));
            }
        }
        Ok(Some(RowRules {
            schema: table_schema(table),
            generated: generated
                .iter()
                .zip(compiled)
                .map(|((pos, _), (e, _))| (*pos, e))
                .collect(),
            checks: table
                .checks
                .iter()
                .zip(checks)
                .map(|(c, (e, _))| (c.name.clone(), e))
                .collect(),
            enums,
        }))
    }

    /// Fill the generated columns of a full row, then check it: NOT NULL
    /// and lengths first, then the CHECK constraints, as PostgreSQL does.
    pub fn apply(&self, table: &Table, row: &mut [Datum]) -> PgResult<()> {
        for (pos, e) in &self.generated {
            row[*pos] = self.eval(e, row)?;
        }
        for (pos, type_name, labels) in &self.enums {
            if let Datum::Text(v) = &row[*pos] {
                if !labels.contains(v) {
                    return Err(PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        format!("invalid input value for enum {type_name}: \"{v}\""),
                    ));
                }
            }
        }
        check_row(table, row)?;
        for (name, e) in &self.checks {
            if self.eval(e, row)? == Datum::Bool(false) {
                return Err(PgError::new(
                    codes::CHECK_VIOLATION,
                    format!(
                        "new row for relation \"{}\" violates check constraint \"{name}\"",
                        table.name
                    ),
                )
                .with_detail(format!("Failing row contains ({}).", row_text(row)))
                .on_constraint(&table.schema, &table.name, name));
            }
        }
        Ok(())
    }

    fn eval(&self, e: &Arc<dyn PhysicalExpr>, row: &[Datum]) -> PgResult<Datum> {
        let batch = rows_to_batch(&self.schema, &[row.to_vec()])?;
        let value = e
            .evaluate(&batch)
            .and_then(|v| v.into_array(1))
            .and_then(|a| ScalarValue::try_from_array(&a, 0))
            .map_err(df_error)?;
        Datum::from_scalar(&value)
    }
}

/// [`RowRules::compile`] where a table may have none: check a full row.
pub fn apply(rules: Option<&RowRules>, table: &Table, row: &mut [Datum]) -> PgResult<()> {
    match rules {
        Some(r) => r.apply(table, row),
        None => check_row(table, row),
    }
}

/// Evaluate a row expression of [`plan_row_exprs`] over many rows of
/// `table` at once (ALTER COLUMN TYPE's conversion).
pub fn eval_rows(
    table: &Table,
    e: &Arc<dyn PhysicalExpr>,
    rows: &[Vec<Datum>],
) -> PgResult<Vec<Datum>> {
    let schema = table_schema(table);
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(4096) {
        let batch = rows_to_batch(&schema, chunk)?;
        let values = e
            .evaluate(&batch)
            .and_then(|v| v.into_array(chunk.len()))
            .map_err(df_error)?;
        for i in 0..chunk.len() {
            let v = ScalarValue::try_from_array(&values, i).map_err(df_error)?;
            out.push(Datum::from_scalar(&v)?);
        }
    }
    Ok(out)
}

/// The table's columns as the rules read them (every column nullable).
fn table_schema(table: &Table) -> SchemaRef {
    Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| c.ty.field(&c.name, true))
            .collect::<Vec<_>>(),
    ))
}

/// Plan SQL expressions over one row of `table` (its columns by name, or
/// qualified by the table's name) into physical expressions with their
/// types. Subqueries are refused, as PostgreSQL refuses them in CHECK and
/// generation expressions.
pub async fn plan_row_exprs(
    engine: &Engine,
    session: &Session,
    table: &Table,
    exprs: &[String],
) -> PgResult<
    Vec<(
        Arc<dyn PhysicalExpr>,
        datafusion::arrow::datatypes::DataType,
    )>,
> {
    if exprs.is_empty() {
        return Ok(Vec::new());
    }
    let schema = table_schema(table);
    let mem = MemTable::try_new(schema, vec![vec![]]).map_err(df_error)?;
    register_scratch(session, "row_rules", Arc::new(mem))?;
    let sql = format!(
        "SELECT {} FROM {}.\"row_rules\" AS {}",
        exprs.join(", "),
        quote_ident(SCRATCH_SCHEMA),
        quote_ident(&table.name)
    );
    let stmt = parse(&sql)?
        .pop()
        .ok_or_else(|| PgError::internal("empty row expression"))?;
    let plan = engine.plan(session, stmt).await?;
    let LogicalPlan::Projection(proj) = plan else {
        return Err(PgError::new(
            codes::FEATURE_NOT_SUPPORTED,
            "cannot use subquery or aggregate function in check constraint",
        ));
    };
    let input = proj.input.schema();
    let state = session.ctx.state();
    let mut out = Vec::new();
    for e in &proj.expr {
        let subquery = e.exists(|x| {
            use datafusion::logical_expr::Expr as E;
            Ok(matches!(
                x,
                E::ScalarSubquery(_) | E::Exists(_) | E::InSubquery(_)
            ))
        });
        if subquery.unwrap_or(false) {
            return Err(PgError::new(
                codes::FEATURE_NOT_SUPPORTED,
                "cannot use subquery in check constraint",
            ));
        }
        let options = Arc::clone(state.config_options());
        let e = crate::sql::arithmetic::coerced_and_checked(options, e.clone(), input)
            .map_err(df_error)?;
        let physical = state.create_physical_expr(e, input).map_err(df_error)?;
        let ty = physical
            .data_type(&input.as_arrow().clone())
            .map_err(df_error)?;
        out.push((physical, ty));
    }
    Ok(out)
}
