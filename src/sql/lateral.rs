//! LATERAL subqueries and table functions that read the row beside them
//! (`FROM items a CROSS JOIN LATERAL (SELECT ... ORDER BY b.v <-> a.v
//! LIMIT 1) n`), which DataFusion cannot plan. The outer relation's rows
//! are read first; for each, the subquery runs with the outer row's
//! columns as uncorrelated one-value subqueries, so a KNN subquery still
//! gets a constant query vector and uses the vector index (see
//! `query::inline_query_vectors`). The rows are then joined back by row
//! number from two scratch tables, and the rest of the statement plans as
//! written over them.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Join, JoinConstraint, JoinOperator, ObjectName, Query, SelectItem, SetExpr,
    Statement, TableAlias, TableFactor, TableWithJoins, Value, visit_expressions_mut,
};

use super::engine::Engine;
use super::errors::df_error;
use super::output::Output;
use super::rewrite::columns::visible;
use super::session::Session;
use crate::error::{PgError, PgResult};
use crate::exec::catalog_provider::SCRATCH_SCHEMA;
use crate::types::Datum;
use crate::types::text::quote_ident;

const RN: &str = "__grape_rn";

/// The name PostgreSQL gives a scalar subquery's column: its one
/// column's name (`count` for `(SELECT count(*) ...)`).
fn subquery_column_name(sub: &Query) -> String {
    let SetExpr::Select(s) = sub.body.as_ref() else {
        return "?column?".into();
    };
    let Some(first) = s.projection.first() else {
        return "?column?".into();
    };
    let mut probe = match crate::sql::parse(&format!("SELECT {first}")).map(|mut v| v.pop()) {
        Ok(Some(st)) => st,
        _ => return "?column?".into(),
    };
    super::rewrite::columns::name_columns(&mut probe);
    if let Statement::Query(q) = &probe {
        if let SetExpr::Select(s) = q.body.as_ref() {
            match s.projection.first() {
                Some(SelectItem::ExprWithAlias { alias, .. }) => {
                    return visible(&alias.value).to_string();
                }
                Some(SelectItem::UnnamedExpr(Expr::Identifier(i))) => return i.value.clone(),
                Some(SelectItem::UnnamedExpr(Expr::CompoundIdentifier(p))) => {
                    return p.last().map(|i| i.value.clone()).unwrap_or_default();
                }
                _ => {}
            }
        }
    }
    "?column?".into()
}

/// Alias of the lateral item a correlated scalar subquery becomes (see
/// [`scalar_subquery_as_lateral`]): at most one row per outer row.
const SCALAR_PREFIX: &str = "__grape_scalar";

/// Whether a SELECT's select list holds a scalar subquery (what
/// [`scalar_subquery_as_lateral`] could rewrite).
pub fn has_select_list_subquery(stmt: &Statement) -> bool {
    let Statement::Query(q) = stmt else {
        return false;
    };
    let SetExpr::Select(select) = q.body.as_ref() else {
        return false;
    };
    select.projection.iter().any(|item| {
        let (SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) = item else {
            return false;
        };
        datafusion::sql::sqlparser::ast::visit_expressions(e, |x| {
            // A scalar subquery, or `ARRAY(subquery)`, which becomes one.
            let array = matches!(x, Expr::Function(f)
                if matches!(f.args, datafusion::sql::sqlparser::ast::FunctionArguments::Subquery(_)));
            if array || matches!(x, Expr::Subquery(_)) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_break()
    })
}

/// Takes the outermost first subquery out of an expression, leaving a
/// reference to the lateral item's value in its place. Not one under CASE
/// or COALESCE: PostgreSQL runs those only for the rows whose branch
/// needs them, the lateral item would run for every row.
#[derive(Default)]
struct FirstSubquery {
    found: Option<Query>,
    shielded: usize,
}

fn short_circuits(x: &Expr) -> bool {
    match x {
        Expr::Case { .. } => true,
        Expr::Function(f) => f.name.to_string().eq_ignore_ascii_case("coalesce"),
        _ => false,
    }
}

impl datafusion::sql::sqlparser::ast::VisitorMut for FirstSubquery {
    type Break = ();
    fn pre_visit_expr(&mut self, x: &mut Expr) -> ControlFlow<()> {
        if short_circuits(x) {
            self.shielded += 1;
        }
        if let Expr::Subquery(sub) = x
            && self.shielded == 0
        {
            self.found = Some((**sub).clone());
            *x = Expr::CompoundIdentifier(vec![Ident::new(SCALAR_PREFIX), Ident::new("v")]);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
    fn post_visit_expr(&mut self, x: &mut Expr) -> ControlFlow<()> {
        if short_circuits(x) {
            self.shielded -= 1;
        }
        ControlFlow::Continue(())
    }
}

/// A correlated scalar subquery in the select list that DataFusion cannot
/// plan (`SELECT a.id, (SELECT count(*) FROM b WHERE b.id < a.id) FROM
/// a`) as a LEFT JOIN LATERAL of its one value, which [`materialize`]
/// runs per outer row (no row is NULL, more than one is 21000, as in
/// PostgreSQL). Only for a SELECT over one relation without joins, and
/// the first such subquery; `false` when the statement has another shape.
pub fn scalar_subquery_as_lateral(stmt: &mut Statement) -> bool {
    let Statement::Query(q) = stmt else {
        return false;
    };
    let SetExpr::Select(select) = q.body.as_mut() else {
        return false;
    };
    if select.from.len() != 1 || !select.from[0].joins.is_empty() {
        return false;
    }
    for item in select.projection.iter_mut() {
        let (expr, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => continue,
        };
        let mut inner = &*expr;
        while let Expr::Nested(x) = inner {
            inner = x;
        }
        let top = matches!(inner, Expr::Subquery(_));
        // The first subquery in the item (at its top, or inside it:
        // `CASE WHEN ... THEN (SELECT ...) END`).
        let mut first = FirstSubquery::default();
        let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(expr, &mut first);
        let Some(sub) = first.found else {
            continue;
        };
        // PostgreSQL names the column after the subquery's own column.
        let alias = match alias {
            Some(a) => Some(a),
            None if top => Some(Ident::with_quote('"', subquery_column_name(&sub))),
            None => None,
        };
        let sql =
            format!("SELECT * FROM x LEFT JOIN LATERAL ({sub}) AS {SCALAR_PREFIX}(v) ON true");
        let Ok(Some(Statement::Query(parsed))) = crate::sql::parse(&sql).map(|mut v| v.pop())
        else {
            return false;
        };
        let SetExpr::Select(parsed) = *parsed.body else {
            return false;
        };
        let Some(join) = parsed
            .from
            .into_iter()
            .next()
            .and_then(|f| f.joins.into_iter().next())
        else {
            return false;
        };
        let expr = expr.clone();
        *item = match alias {
            Some(alias) => SelectItem::ExprWithAlias { expr, alias },
            None => SelectItem::UnnamedExpr(expr),
        };
        select.from[0].joins.push(join);
        return true;
    }
    false
}

/// The lateral join of a SELECT: its outer relation is `from[0]`'s, the
/// lateral item is a join of it (index `Some(j)`) or `from[1]` (`None`).
struct Shape {
    join: Option<usize>,
    left: bool,
}

fn alias_name(tf: &TableFactor) -> Option<String> {
    match tf {
        TableFactor::Table { alias: Some(a), .. }
        | TableFactor::Derived { alias: Some(a), .. }
        | TableFactor::Function { alias: Some(a), .. } => Some(a.name.value.clone()),
        TableFactor::Table {
            name, alias: None, ..
        } => crate::sql::parse::object_parts(name).pop(),
        _ => None,
    }
}

/// Whether `tf` is lateral: LATERAL (subquery), or a table function whose
/// arguments name the outer relation.
fn is_lateral(tf: &TableFactor, outer: &str) -> bool {
    match tf {
        TableFactor::Derived { lateral: true, .. }
        | TableFactor::Function { lateral: true, .. } => true,
        TableFactor::Table {
            args: Some(args), ..
        } => {
            let mut found = false;
            let mut args = args.clone();
            let _ = visit_expressions_mut(&mut args, |e| {
                if let Expr::CompoundIdentifier(p) = e {
                    if p.len() == 2 && p[0].value == outer {
                        found = true;
                    }
                }
                ControlFlow::<()>::Continue(())
            });
            found
        }
        _ => false,
    }
}

fn on_true(c: &JoinConstraint) -> bool {
    match c {
        JoinConstraint::None | JoinConstraint::Natural => true,
        JoinConstraint::On(Expr::Value(v)) => matches!(v.value, Value::Boolean(true)),
        _ => false,
    }
}

fn shape(q: &Query) -> Option<Shape> {
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let first = s.from.first()?;
    let outer = alias_name(&first.relation)?;
    if let Some(j) = first.joins.first() {
        if first.joins.len() == 1 && is_lateral(&j.relation, &outer) {
            let left = match &j.join_operator {
                JoinOperator::CrossJoin(_) | JoinOperator::CrossApply => false,
                JoinOperator::Join(c) | JoinOperator::Inner(c) if on_true(c) => false,
                JoinOperator::LeftOuter(c) | JoinOperator::Left(c) if on_true(c) => true,
                JoinOperator::OuterApply => true,
                _ => return None,
            };
            return Some(Shape {
                join: Some(0),
                left,
            });
        }
        return None;
    }
    match s.from.as_slice() {
        [_, second] if second.joins.is_empty() && is_lateral(&second.relation, &outer) => {
            Some(Shape {
                join: None,
                left: false,
            })
        }
        _ => None,
    }
}

/// The lateral item as a query of its own.
fn item_query(tf: &TableFactor) -> PgResult<Query> {
    let sql = match tf {
        TableFactor::Derived { subquery, .. } => subquery.to_string(),
        TableFactor::Table { .. } => format!("SELECT * FROM {tf}"),
        TableFactor::Function {
            name, args, alias, ..
        } => {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            match alias {
                Some(a) => format!("SELECT * FROM {name}({}) AS {a}", args.join(", ")),
                None => format!("SELECT * FROM {name}({})", args.join(", ")),
            }
        }
        _ => return Err(PgError::internal("not a lateral item")),
    };
    match crate::sql::parse(&sql)?.pop() {
        Some(Statement::Query(q)) => Ok(*q),
        _ => Err(PgError::internal("lateral item is not a query")),
    }
}

/// A value as an SQL literal, for the types that have a plain one (a NULL
/// has none: it keeps its column's type through the scratch table, as
/// `unnest(NULL)` needs).
fn literal(d: &Datum) -> Option<String> {
    Some(match d {
        Datum::Bool(b) => b.to_string(),
        Datum::I16(i) => format!("CAST({i} AS smallint)"),
        Datum::I32(i) => format!("CAST({i} AS integer)"),
        Datum::I64(i) => format!("CAST({i} AS bigint)"),
        Datum::F64(f) if f.is_finite() => format!("CAST({f:?} AS double precision)"),
        Datum::Text(t) => crate::types::text::quote_literal(t),
        _ => return None,
    })
}

/// `outer.col` in `q` replaced by the value in row `rn` of the outer
/// rows: a literal where it has one (`row`: the columns' names and
/// values), else a one-value subquery of the scratch table `outer_table`.
fn bind_outer(
    q: &mut Query,
    outer: &str,
    outer_table: &str,
    rn: usize,
    row: (&[String], &[Datum]),
) {
    let _ = visit_expressions_mut(q, |e| {
        if let Expr::CompoundIdentifier(p) = e {
            if p.len() == 2 && p[0].value == outer {
                let value = row
                    .0
                    .iter()
                    .position(|n| *n == p[1].value)
                    .and_then(|i| row.1.get(i).and_then(literal));
                let sql = value.unwrap_or_else(|| {
                    format!(
                        "(SELECT {} FROM {outer_table} WHERE {} = {rn})",
                        quote_ident(&p[1].value),
                        quote_ident(RN)
                    )
                });
                if let Ok(x) = crate::sql::parse::parse_expr(&sql) {
                    *e = x;
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

async fn collect(output: Output) -> PgResult<(SchemaRef, Vec<RecordBatch>)> {
    match output {
        Output::Stream { schema, stream, .. } => {
            let batches = futures::TryStreamExt::try_collect::<Vec<_>>(stream)
                .await
                .map_err(df_error)?;
            Ok((schema, batches))
        }
        Output::Rows {
            schema, batches, ..
        } => Ok((schema, batches)),
        _ => Err(PgError::internal("lateral part returned no rows")),
    }
}

/// `batches` with a row-number column (`rn` of each row) and PostgreSQL's
/// column names (`names` when given).
fn numbered(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    rns: &[i64],
    names: &[String],
) -> PgResult<(SchemaRef, RecordBatch)> {
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = names
                .get(i)
                .cloned()
                .unwrap_or_else(|| visible(f.name()).to_string());
            f.as_ref().clone().with_name(name).with_nullable(true)
        })
        .collect();
    fields.push(Field::new(RN, DataType::Int64, false));
    let out_schema = Arc::new(Schema::new(fields));
    let plain = if batches.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        datafusion::arrow::compute::concat_batches(schema, batches)
            .map_err(|e| PgError::internal(e.to_string()))?
    };
    let mut cols: Vec<ArrayRef> = plain.columns().to_vec();
    cols.push(Arc::new(Int64Array::from(rns.to_vec())));
    let batch = RecordBatch::try_new(out_schema.clone(), cols)
        .map_err(|e| PgError::internal(e.to_string()))?;
    Ok((out_schema, batch))
}

fn register(session: &Session, name: &str, schema: SchemaRef, batch: RecordBatch) -> PgResult<()> {
    use datafusion::catalog::SchemaProvider;
    let mem = MemTable::try_new(schema, vec![vec![batch]]).map_err(df_error)?;
    let scratch = session.grape.scratch();
    let _ = scratch.deregister_table(name);
    scratch
        .register_table(name.to_string(), Arc::new(mem))
        .map_err(df_error)?;
    Ok(())
}

/// The conjuncts of `selection` that read only the outer relation (every
/// column qualified by `outer`, or a bare name the lateral item does not
/// yield when its names are known: `inner_names`; no subquery), and the
/// rest.
fn split_outer_conditions(
    selection: Option<Expr>,
    outer: &str,
    inner_names: Option<&[String]>,
) -> (Option<Expr>, Option<Expr>) {
    use datafusion::sql::sqlparser::ast::visit_expressions;
    let Some(sel) = selection else {
        return (None, None);
    };
    let mut all = Vec::new();
    super::rewrite::ast::conjuncts(sel, &mut all);
    let outer_only = |e: &Expr| {
        let mut ok = true;
        let _ = visit_expressions(e, |x| {
            match x {
                Expr::CompoundIdentifier(p) if p.len() == 2 && p[0].value == outer => {}
                Expr::Identifier(id)
                    if inner_names.is_some_and(|names| {
                        !names.iter().any(|n| n.eq_ignore_ascii_case(&id.value))
                    }) => {}
                Expr::Identifier(_)
                | Expr::CompoundIdentifier(_)
                | Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::InSubquery { .. }
                | Expr::Function(_) => {
                    ok = false;
                    return ControlFlow::Break(());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        });
        ok
    };
    let (outer_part, rest): (Vec<Expr>, Vec<Expr>) = all.into_iter().partition(|e| outer_only(e));
    (
        super::rewrite::ast::and_all(outer_part),
        super::rewrite::ast::and_all(rest),
    )
}

/// Run the lateral item of `stmt` (if it has one) row by row and rewrite
/// its FROM over the results (see the module doc).
pub async fn materialize(
    engine: &Engine,
    session: &mut Session,
    stmt: &mut Statement,
) -> PgResult<()> {
    let Statement::Query(q) = stmt else {
        return Ok(());
    };
    let Some(shape) = shape(q) else {
        return Ok(());
    };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (outer_name, inner_name) = (format!("lateral_outer_{n}"), format!("lateral_inner_{n}"));
    let qualified = |t: &str| format!("{}.{}", quote_ident(SCRATCH_SCHEMA), quote_ident(t));
    let SetExpr::Select(select) = q.body.as_mut() else {
        return Ok(());
    };
    let outer_factor = select.from[0].relation.clone();
    let outer = alias_name(&outer_factor).expect("shape checked");
    let item = match shape.join {
        Some(j) => select.from[0].joins[j].relation.clone(),
        None => select.from[1].relation.clone(),
    };
    let inner = alias_name(&item).unwrap_or_else(|| "lateral".into());
    let inner_columns: Vec<String> = match &item {
        TableFactor::Derived { alias: Some(a), .. }
        | TableFactor::Table { alias: Some(a), .. }
        | TableFactor::Function { alias: Some(a), .. } => {
            a.columns.iter().map(|c| c.name.value.clone()).collect()
        }
        _ => Vec::new(),
    };

    // The outer rows, numbered; conditions on them alone are applied
    // first, so the item runs only for rows the statement keeps.
    // The names the item yields, when they are all known.
    let inner_names: Option<Vec<String>> = match &item {
        _ if !inner_columns.is_empty() => Some(inner_columns.clone()),
        TableFactor::Derived { subquery, .. } => match subquery.body.as_ref() {
            SetExpr::Select(s) => s
                .projection
                .iter()
                .map(|p| match p {
                    datafusion::sql::sqlparser::ast::SelectItem::ExprWithAlias {
                        alias, ..
                    } => Some(alias.value.clone()),
                    datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(Expr::Identifier(
                        i,
                    )) => Some(i.value.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        _ => None,
    };
    let (outer_where, rest) =
        split_outer_conditions(select.selection.take(), &outer, inner_names.as_deref());
    select.selection = rest;
    let outer_sql = match outer_where {
        Some(w) => format!("SELECT * FROM {outer_factor} WHERE {w}"),
        None => format!("SELECT * FROM {outer_factor}"),
    };
    let outer_stmt = crate::sql::parse(&outer_sql)?
        .pop()
        .ok_or_else(|| PgError::internal("empty outer query"))?;
    let (schema, batches) =
        collect(Box::pin(engine.query(session, outer_stmt, &[])).await?).await?;
    let count: usize = batches.iter().map(|b| b.num_rows()).sum();
    let rns: Vec<i64> = (0..count as i64).collect();
    let (outer_schema, outer_batch) = numbered(&schema, &batches, &rns, &[])?;
    let outer_rows: Vec<Vec<Datum>> = (0..count)
        .map(|r| crate::types::datum::batch_row(&outer_batch, r))
        .collect::<PgResult<_>>()?;
    let outer_cols: Vec<String> = outer_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != RN)
        .collect();
    register(session, &outer_name, outer_schema, outer_batch)?;

    // The item per outer row.
    let template = item_query(&item)?;
    let mut inner_schema: Option<SchemaRef> = None;
    let mut inner_batches = Vec::new();
    let mut inner_rns = Vec::new();
    for rn in 0..count.max(1) {
        let mut sub = template.clone();
        let no_row = Vec::new();
        let row = outer_rows.get(rn).unwrap_or(&no_row);
        bind_outer(
            &mut sub,
            &outer,
            &qualified(&outer_name),
            rn,
            (&outer_cols, row),
        );
        let sub = Statement::Query(Box::new(sub));
        if count == 0 {
            // No outer row: only the item's columns are needed.
            let plan = Box::pin(engine.plan(session, sub)).await?;
            inner_schema = Some(Arc::new(plan.schema().as_arrow().clone()));
            break;
        }
        let (s, b) = collect(Box::pin(engine.query(session, sub, &[])).await?).await?;
        if inner.starts_with(SCALAR_PREFIX) && b.iter().map(|x| x.num_rows()).sum::<usize>() > 1 {
            return Err(PgError::new(
                "21000",
                "more than one row returned by a subquery used as an expression",
            ));
        }
        for batch in &b {
            inner_rns.extend(std::iter::repeat_n(rn as i64, batch.num_rows()));
        }
        inner_schema.get_or_insert(s);
        inner_batches.extend(b);
    }
    let inner_schema = inner_schema.expect("set above");
    let (inner_schema, inner_batch) =
        numbered(&inner_schema, &inner_batches, &inner_rns, &inner_columns)?;
    let inner_cols: Vec<String> = inner_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != RN)
        .collect();
    register(session, &inner_name, inner_schema, inner_batch)?;

    // FROM outer JOIN inner ON the row number, under the statement's names.
    let table = |name: &str, alias: &str| TableFactor::Table {
        name: ObjectName::from(vec![
            Ident::with_quote('"', SCRATCH_SCHEMA),
            Ident::with_quote('"', name),
        ]),
        alias: Some(TableAlias {
            explicit: true,
            name: Ident::with_quote('"', alias),
            columns: Vec::new(),
            at: None,
        }),
        args: None,
        with_hints: Vec::new(),
        version: None,
        with_ordinality: false,
        partitions: Vec::new(),
        json_path: None,
        sample: None,
        index_hints: Vec::new(),
    };
    let on = crate::sql::parse::parse_expr(&format!(
        "{}.{} = {}.{}",
        quote_ident(&outer),
        quote_ident(RN),
        quote_ident(&inner),
        quote_ident(RN)
    ))?;
    let constraint = JoinConstraint::On(on);
    let join = Join {
        relation: table(&inner_name, &inner),
        global: false,
        join_operator: if shape.left {
            JoinOperator::LeftOuter(constraint)
        } else {
            JoinOperator::Inner(constraint)
        },
    };
    select.from = vec![TableWithJoins {
        relation: table(&outer_name, &outer),
        joins: vec![join],
    }];
    // `*` and `alias.*` without the row numbers.
    let cols = |alias: &str, names: &[String]| -> Vec<SelectItem> {
        names
            .iter()
            .map(|c| {
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(vec![
                    Ident::with_quote('"', alias),
                    Ident::with_quote('"', c.clone()),
                ]))
            })
            .collect()
    };
    let mut projection = Vec::new();
    for item in std::mem::take(&mut select.projection) {
        match &item {
            SelectItem::Wildcard(_) => {
                projection.extend(cols(&outer, &outer_cols));
                projection.extend(cols(&inner, &inner_cols));
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let who = kind.to_string();
                let who = who.trim_matches('"');
                if who == outer {
                    projection.extend(cols(&outer, &outer_cols));
                } else if who == inner {
                    projection.extend(cols(&inner, &inner_cols));
                } else {
                    projection.push(item);
                }
            }
            _ => projection.push(item),
        }
    }
    select.projection = projection;
    Ok(())
}
