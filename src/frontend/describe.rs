//! Parse and Describe: a statement is parsed once, its parameter types
//! inferred and its result columns described.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::Statement;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};

use super::encode;
use pgwire::error::PgWireResult;

use super::errors::*;
use super::session::*;
use crate::error::PgError;
use crate::sql::session::Session;
use crate::sql::{Engine, dml, params};

/// A parsed statement with what Describe needs.
#[derive(Clone)]
pub struct Prepared {
    pub stmt: Statement,
    pub param_types: Vec<Type>,
    pub schema: Option<SchemaRef>,
}

pub struct GrapeQueryParser {
    pub(super) engine: Arc<Engine>,
}

pub(super) fn df_type_to_pg(dt: &DataType) -> Type {
    arrow_pg::datatypes::into_pg_type(dt).unwrap_or(Type::TEXT)
}

impl GrapeQueryParser {
    pub(super) async fn describe(
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
                let name = crate::sql::settings::show_name(
                    &variable.iter().map(|i| i.value.clone()).collect::<Vec<_>>(),
                );
                if name.eq_ignore_ascii_case("all") {
                    schema = Some(Arc::new(Schema::new(vec![
                        Field::new("name", DataType::Utf8, false),
                        Field::new("setting", DataType::Utf8, false),
                        Field::new("description", DataType::Utf8, false),
                    ])));
                } else {
                    schema = text_col(crate::sql::settings::display_name(&name.to_lowercase()));
                }
                return Ok((types, schema));
            }
            Statement::Explain { .. } => return Ok((types, text_col("QUERY PLAN"))),
            // An open cursor's columns.
            Statement::Fetch { name, .. } => {
                return Ok((
                    types,
                    session
                        .cursors
                        .get(&crate::sql::parse::folded(name))
                        .map(|c| c.schema.clone()),
                ));
            }
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
                                // OID), a jsonb column's jsonb, a catalog oid
                                // column's an oid.
                                types[n - 1] = encode::declared_type(&f)
                                    .unwrap_or_else(|| df_type_to_pg(f.data_type()));
                            }
                        }
                    }
                }
                for (n, dt) in placeholders_in_any(&plan) {
                    if n >= 1 && n <= types.len() && types[n - 1] == Type::UNKNOWN {
                        types[n - 1] = df_type_to_pg(&dt);
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
        for (n, ty) in self.placeholders_by_insert_target(session, stmt) {
            if n >= 1 && n <= types.len() && types[n - 1] == Type::UNKNOWN {
                types[n - 1] = ty;
            }
        }
        for (n, ty) in placeholders_by_cast(stmt)
            .into_iter()
            .chain(placeholders_in_limit(stmt))
        {
            if n >= 1 && n <= types.len() && types[n - 1] == Type::UNKNOWN {
                types[n - 1] = ty;
            }
        }
        for (n, dt) in placeholders_by_signature(session, stmt) {
            if n >= 1 && n <= types.len() && types[n - 1] == Type::UNKNOWN {
                types[n - 1] = df_type_to_pg(&dt);
            }
        }
        for t in types.iter_mut() {
            if *t == Type::UNKNOWN {
                *t = Type::TEXT;
            }
        }
        Ok((types, schema))
    }
}

impl GrapeQueryParser {
    /// `INSERT INTO t (a, b) VALUES ($1, $2), ($3, 'x')`: each `$n` standing
    /// alone in a VALUES row takes its target column's type, as in
    /// PostgreSQL (DataFusion types only a single row's).
    fn placeholders_by_insert_target(
        &self,
        session: &Session,
        stmt: &Statement,
    ) -> Vec<(usize, Type)> {
        use datafusion::sql::sqlparser::ast::{Expr, SetExpr, TableObject, Value};
        let Statement::Insert(i) = stmt else {
            return Vec::new();
        };
        let (TableObject::TableName(name), Some(source)) = (&i.table, &i.source) else {
            return Vec::new();
        };
        let SetExpr::Values(values) = source.body.as_ref() else {
            return Vec::new();
        };
        let parts = crate::sql::object_parts(name);
        let Ok(table) = dml::resolve_table(&self.engine, session, &parts) else {
            return Vec::new();
        };
        let targets: Vec<Option<&crate::catalog::Column>> = if i.columns.is_empty() {
            table.columns.iter().map(Some).collect()
        } else {
            i.columns
                .iter()
                .map(|c| {
                    let name = crate::sql::object_parts(c).pop().unwrap_or_default();
                    table.columns.iter().find(|col| col.name == name)
                })
                .collect()
        };
        let mut out = Vec::new();
        for row in &values.rows {
            for (e, col) in row.iter().zip(&targets) {
                if let (Expr::Value(v), Some(col)) = (e, col)
                    && let Value::Placeholder(p) = &v.value
                    && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                {
                    let f = col.ty.field(&col.name, true);
                    out.push((
                        n,
                        encode::declared_type(&f).unwrap_or_else(|| df_type_to_pg(f.data_type())),
                    ));
                }
            }
        }
        out
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
        let session = slot.session.lock().await;
        let described = self.describe(&session, &stmt, n).await;
        // Planning locked the tables it named: outside a block they go with
        // the Parse, as PostgreSQL's do.
        session.statement_done();
        let (mut param_types, schema) = described.map_err(|e| pg_err(locate_name(e, sql)))?;
        for (n, kind) in crate::sql::rewrite::vector_casts::placeholder_casts(&stmt) {
            if let Some(t) = crate::types::vector_pg_type(kind) {
                if n >= 1 && n <= param_types.len() {
                    param_types[n - 1] = t;
                }
            }
        }
        for (i, t) in types.iter().enumerate() {
            if let Some(t) = t {
                if *t != Type::UNKNOWN {
                    // pgvector's OIDs are ours; pgwire knows them only as numbers.
                    param_types[i] = crate::types::pg_type_rows()
                        .iter()
                        .find(|r| r.oid == t.oid() as i64)
                        .and_then(|r| crate::types::vector_pg_type(&r.name))
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

/// `x = ANY($n)` (planned as `array_has($n, x)`): `$n` is an array of
/// x's type, as PostgreSQL resolves it (node-postgres sends `[1, 2]` as
/// `{1,2}` for `id = ANY($1)`). DataFusion leaves it untyped.
fn placeholders_in_any(plan: &datafusion::logical_expr::LogicalPlan) -> Vec<(usize, DataType)> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{Expr, ExprSchemable};
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        let inputs = node.inputs();
        let schema = match inputs.as_slice() {
            [one] => one.schema(),
            _ => node.schema(),
        };
        for e in node.expressions() {
            let _ = e.apply(|x| {
                if let Expr::ScalarFunction(f) = x
                    && f.name() == "array_has"
                    && let [Expr::Placeholder(p), item] = f.args.as_slice()
                    && p.field.is_none()
                    && let Some(n) = p.id.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                    && let Ok(t) = item.get_type(schema)
                {
                    out.push((n, DataType::new_list(t, true)));
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// `$n` cast to a type (`$1::int`, `CAST($1 AS vector)`): `$n` is of
/// that type, as PostgreSQL resolves it (asyncpg and pgjdbc encode the
/// argument by the type Describe answers). DataFusion leaves such a
/// placeholder untyped.
fn placeholders_by_cast(stmt: &Statement) -> Vec<(usize, Type)> {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions};
    use std::ops::ControlFlow;
    let mut out = Vec::new();
    let _ = visit_expressions(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
            && let Expr::Value(v) = expr.as_ref()
            && let Value::Placeholder(p) = &v.value
            && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            && let Ok((ty, _)) = crate::types::SqlType::from_ast(data_type)
        {
            let pg = match ty.vector() {
                Some(_) => ty.typname().and_then(|t| crate::types::vector_pg_type(&t)),
                None => ty.oid().and_then(|o| Type::from_oid(o as u32)),
            };
            if let Some(pg) = pg {
                out.push((n, pg));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// `LIMIT $n` and `OFFSET $n`: bigint, as PostgreSQL resolves them
/// (node-postgres sends its parameters untyped, knex puts its limits in
/// them).
fn placeholders_in_limit(stmt: &Statement) -> Vec<(usize, Type)> {
    use datafusion::sql::sqlparser::ast::{Expr, LimitClause, Query, Value, Visit, Visitor};
    use std::ops::ControlFlow;
    struct Limits(Vec<(usize, Type)>);
    impl Visitor for Limits {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            let mut found = |e: Option<&Expr>| {
                if let Some(Expr::Value(v)) = e
                    && let Value::Placeholder(p) = &v.value
                    && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
                {
                    self.0.push((n, Type::INT8));
                }
            };
            match &q.limit_clause {
                Some(LimitClause::LimitOffset { limit, offset, .. }) => {
                    found(limit.as_ref());
                    found(offset.as_ref().map(|o| &o.value));
                }
                Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                    found(Some(offset));
                    found(Some(limit));
                }
                None => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut limits = Limits(Vec::new());
    let _ = stmt.visit(&mut limits);
    limits.0
}

/// `f($1)` where `f` takes one type at that place (its only signature of
/// that many arguments): `$1` is of that type, as PostgreSQL resolves it
/// (`SELECT pg_advisory_lock($1)` takes a bigint). DataFusion infers a
/// placeholder's type from operators and columns, not from a function's
/// signature.
fn placeholders_by_signature(session: &Session, stmt: &Statement) -> Vec<(usize, DataType)> {
    use datafusion::execution::FunctionRegistry;
    use datafusion::logical_expr::TypeSignature;
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value, visit_expressions,
    };
    use std::ops::ControlFlow;
    let mut out = Vec::new();
    let _ = visit_expressions(stmt, |e| {
        let Expr::Function(f) = e else {
            return ControlFlow::<()>::Continue(());
        };
        let FunctionArguments::List(list) = &f.args else {
            return ControlFlow::Continue(());
        };
        let name = crate::sql::rewrite::ast::function_name(f);
        let Ok(udf) = session.ctx.udf(&name) else {
            return ControlFlow::Continue(());
        };
        let arity = list.args.len();
        let candidates: Vec<&Vec<DataType>> = match &udf.signature().type_signature {
            TypeSignature::Exact(v) => vec![v],
            TypeSignature::OneOf(all) => all
                .iter()
                .filter_map(|t| match t {
                    TypeSignature::Exact(v) => Some(v),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let fitting: Vec<&Vec<DataType>> = candidates
            .into_iter()
            .filter(|v| v.len() == arity)
            .collect();
        let [only] = fitting.as_slice() else {
            return ControlFlow::Continue(());
        };
        for (i, a) in list.args.iter().enumerate() {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) = a
                && let Value::Placeholder(p) = &v.value
                && let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok())
            {
                out.push((n, only[i].clone()));
            }
        }
        ControlFlow::Continue(())
    });
    out
}
