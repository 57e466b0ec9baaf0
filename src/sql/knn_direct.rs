//! Direct KNN: the plain nearest-neighbour query, answered without DataFusion.
//!
//! `SELECT <columns | * | distance [AS a]> FROM t [AS x]
//!  ORDER BY <distance | a> [ASC] LIMIT k [OFFSET o]`, with an HNSW index
//! serving the distance, is the query a vector database answers most. Parsing
//! is done once per prepared statement, but planning and optimizing it with
//! DataFusion cost more than the graph search itself, so this module
//! recognises that shape on the bound statement and runs the shard searches
//! directly ([`crate::exec::knn::nearest_all`]), merging them exactly.
//!
//! A WHERE clause made of the table's scalar columns, constants,
//! comparisons, arithmetic, AND/OR/NOT, IS [NOT] NULL, IN lists, BETWEEN and
//! LIKE is compiled alone by DataFusion (not the whole query) and handed to
//! the shards' filtered search. Anything else (other WHERE clauses or none
//! reading a column, joins, expressions other than a column or the distance,
//! halfvec/bit/expression indexes, a transaction block with uncommitted
//! writes, a query vector that does not parse or fit) returns `None` and
//! takes the planned path, which answers the same query with the same rows
//! and reports the errors.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlDataType, Expr, GroupByExpr, Ident, LimitClause,
    ObjectName, OrderByKind, Query, SelectItem, SetExpr, Statement, TableFactor, Value,
};

use super::Output;
use super::parse::folded;
use super::session::Session;
use crate::ann::Point;
use crate::catalog::Table;
use crate::catalog::locks::LockMode;
use crate::error::PgResult;
use crate::exec::GrapeTable;
use crate::exec::knn::{ShardSearch, nearest_all};
use crate::types::Datum;
use crate::types::datum::rows_to_batch;
use crate::vector::distance::Metric;

/// One select-list item of a direct KNN query.
enum Item {
    /// Table column at this position.
    Column(usize),
    /// The distance being ordered by.
    Distance,
}

/// The query vector as written.
#[derive(Debug, PartialEq)]
enum QueryArg {
    /// Its text (a literal, or a parameter sent as text).
    Text(String),
    /// Binary vector parameter `$n`, still a placeholder.
    Param(usize),
}

/// `col <op> q` (or `q <op> col`): the column name, the metric and the
/// query vector.
fn distance_parts(e: &Expr) -> Option<(Vec<Ident>, Metric, QueryArg)> {
    let (metric, a, b) = match e {
        Expr::Nested(inner) => return distance_parts(inner),
        Expr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Custom(s) => s.as_str(),
                BinaryOperator::Spaceship => "<=>",
                _ => return None,
            };
            (Metric::from_operator(op)?, left.as_ref(), right.as_ref())
        }
        _ => return None,
    };
    match (column_ref(a), query_arg(b)) {
        (Some(c), Some(q)) => Some((c, metric, q)),
        _ => Some((column_ref(b)?, metric, query_arg(a)?)),
    }
}

fn column_ref(e: &Expr) -> Option<Vec<Ident>> {
    match e {
        Expr::Identifier(i) => Some(vec![i.clone()]),
        Expr::CompoundIdentifier(p) if p.len() == 2 => Some(p.clone()),
        Expr::Nested(inner) => column_ref(inner),
        _ => None,
    }
}

/// A query vector written as `'[...]'`, `'[...]'::vector` (how bound
/// parameters arrive), `CAST('[...]'::text AS vector)` or `$n` (a binary
/// vector parameter left unbound).
fn query_arg(e: &Expr) -> Option<QueryArg> {
    match e {
        Expr::Nested(inner) => query_arg(inner),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(QueryArg::Text(s.clone())),
            Value::Placeholder(p) => Some(QueryArg::Param(p.strip_prefix('$')?.parse().ok()?)),
            _ => None,
        },
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type: SqlDataType::Custom(name, modifiers),
            format: None,
            ..
        } if modifiers.is_empty() && is_name(name, "vector") => match expr.as_ref() {
            // `CAST('[..]'::text AS vector)`: text is fine inside a vector cast.
            Expr::Cast {
                kind: CastKind::Cast | CastKind::DoubleColon,
                expr,
                data_type: SqlDataType::Text | SqlDataType::Varchar(None),
                format: None,
                ..
            } => query_arg(expr),
            inner => query_arg(inner),
        },
        _ => None,
    }
}

fn is_name(name: &ObjectName, want: &str) -> bool {
    matches!(name.0.as_slice(), [p] if p.as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case(want)))
}

/// A non-negative integer constant (LIMIT/OFFSET) that PostgreSQL accepts
/// as a bigint, also as a bound parameter.
fn count(e: &Expr) -> Option<usize> {
    let n: u64 = match e {
        Expr::Nested(inner) => return count(inner),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok()?,
            Value::SingleQuotedString(s) => s.trim().parse().ok()?,
            _ => return None,
        },
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type:
                SqlDataType::Int(_)
                | SqlDataType::Integer(_)
                | SqlDataType::BigInt(_)
                | SqlDataType::SmallInt(_)
                | SqlDataType::Int4(_)
                | SqlDataType::Int8(_),
            ..
        } => return count(expr),
        _ => return None,
    };
    (n <= i64::MAX as u64).then_some(n as usize)
}

/// The parts of a direct KNN query, before the catalog is consulted.
struct Shape {
    table: Vec<String>,
    /// The name columns may be qualified with (alias, or the table's name).
    qualifier: String,
    column: Vec<Ident>,
    metric: Metric,
    query: QueryArg,
    k: usize,
    offset: usize,
    items: Vec<ShapeItem>,
    filter: Option<Expr>,
}

/// A select-list item as written.
enum ShapeItem {
    Star,
    Column(Vec<Ident>),
    Distance,
}

fn shape(q: &Query) -> Option<Shape> {
    if q.with.is_some()
        || q.fetch.is_some()
        || !q.locks.is_empty()
        || q.for_clause.is_some()
        || q.settings.is_some()
        || q.format_clause.is_some()
        || !q.pipe_operators.is_empty()
    {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let plain_group =
        matches!(&s.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    if s.distinct.is_some()
        || s.top.is_some()
        || s.into.is_some()
        || s.exclude.is_some()
        || s.select_modifiers.is_some()
        || s.prewhere.is_some()
        || s.having.is_some()
        || s.qualify.is_some()
        || !plain_group
        || !s.lateral_views.is_empty()
        || !s.named_window.is_empty()
        || !s.connect_by.is_empty()
        || !s.cluster_by.is_empty()
        || !s.distribute_by.is_empty()
        || !s.sort_by.is_empty()
        || s.from.len() != 1
        || !s.from[0].joins.is_empty()
    {
        return None;
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        version: None,
        sample: None,
        with_ordinality: false,
        json_path: None,
        ..
    } = &s.from[0].relation
    else {
        return None;
    };
    let table = super::object_parts(name);
    let qualifier = match alias {
        Some(a) if a.columns.is_empty() => folded(&a.name),
        Some(_) => return None,
        None => table.last()?.clone(),
    };

    // ORDER BY one ascending distance (or the alias of one), LIMIT k.
    let order = q.order_by.as_ref()?;
    if order.interpolate.is_some() {
        return None;
    }
    let OrderByKind::Expressions(keys) = &order.kind else {
        return None;
    };
    let [key] = keys.as_slice() else {
        return None;
    };
    if key.options.asc == Some(false)
        || key.options.nulls_first.is_some()
        || key.with_fill.is_some()
    {
        return None;
    }
    let (k, offset) = match q.limit_clause.as_ref()? {
        LimitClause::LimitOffset {
            limit: Some(limit),
            offset,
            limit_by,
        } if limit_by.is_empty() => (
            count(limit)?,
            match offset {
                Some(o) => count(&o.value)?,
                None => 0,
            },
        ),
        _ => return None,
    };

    // The ordering distance: written out, or the alias of a selected one.
    // A name that two output columns carry is PostgreSQL's "ambiguous".
    if let Expr::Identifier(i) = &key.expr {
        let named = s
            .projection
            .iter()
            .filter(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => folded(alias) == folded(i),
                SelectItem::UnnamedExpr(e) => {
                    column_ref(e).and_then(|c| c.last().map(folded)) == Some(folded(i))
                }
                _ => false,
            })
            .count();
        if named > 1 {
            return None;
        }
    }
    let aliased = s
        .projection
        .iter()
        .find_map(|item| match (item, &key.expr) {
            (SelectItem::ExprWithAlias { expr, alias }, Expr::Identifier(i))
                if folded(i) == folded(alias) =>
            {
                Some(expr)
            }
            _ => None,
        });
    let distance = distance_parts(aliased.unwrap_or(&key.expr))?;
    let mut items = Vec::new();
    for item in &s.projection {
        let expr = match item {
            SelectItem::Wildcard(opts) if *opts == Default::default() => {
                items.push(ShapeItem::Star);
                continue;
            }
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => return None,
        };
        items.push(match column_ref(expr) {
            Some(c) => ShapeItem::Column(c),
            // Only the distance being ordered by is computed here.
            None if distance_parts(expr).as_ref() == Some(&distance) => ShapeItem::Distance,
            None => return None,
        });
    }
    let (column, metric, query) = distance;
    Some(Shape {
        table,
        qualifier,
        column,
        metric,
        query,
        k,
        offset,
        items,
        filter: s.selection.clone(),
    })
}

/// A WHERE clause as SQL DataFusion parses on its own: column references
/// resolved against `table` (and written unqualified, quoted), constants and
/// the operators listed in the module's doc. None for anything else, and
/// for a clause that reads no column.
fn filter_sql(e: &Expr, table: &Table, qualifier: &str, reads: &mut bool) -> Option<String> {
    use datafusion::sql::sqlparser::ast::UnaryOperator;
    let mut sub = |e: &Expr| filter_sql(e, table, qualifier, reads);
    Some(match e {
        Expr::Nested(inner) => format!("({})", sub(inner)?),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            let col = &table.columns[resolve(table, qualifier, &column_ref(e)?)?];
            if col.ty.vector().is_some() {
                return None;
            }
            *reads = true;
            crate::types::text::quote_ident(&col.name)
        }
        Expr::Value(v) => match &v.value {
            Value::Number(..) | Value::SingleQuotedString(_) | Value::Boolean(_) | Value::Null => {
                e.to_string()
            }
            _ => return None,
        },
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type,
            format: None,
            ..
        } if matches!(expr.as_ref(), Expr::Value(_)) && scalar_type(data_type) => {
            format!("CAST({} AS {data_type})", sub(expr)?)
        }
        Expr::BinaryOp { left, op, right } => {
            use BinaryOperator::*;
            if !matches!(
                op,
                Eq | NotEq | Lt | LtEq | Gt | GtEq | And | Or | Plus | Minus | Multiply | Modulo
            ) {
                return None;
            }
            format!("({} {op} {})", sub(left)?, sub(right)?)
        }
        Expr::UnaryOp {
            op: op @ (UnaryOperator::Not | UnaryOperator::Minus),
            expr,
        } => format!("({op} {})", sub(expr)?),
        Expr::IsNull(x) => format!("({} IS NULL)", sub(x)?),
        Expr::IsNotNull(x) => format!("({} IS NOT NULL)", sub(x)?),
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let items = list.iter().map(&mut sub).collect::<Option<Vec<_>>>()?;
            let not = if *negated { "NOT " } else { "" };
            format!("({} {not}IN ({}))", sub(expr)?, items.join(", "))
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let not = if *negated { "NOT " } else { "" };
            format!(
                "({} {not}BETWEEN {} AND {})",
                sub(expr)?,
                sub(low)?,
                sub(high)?
            )
        }
        Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char: None,
        } => {
            let not = if *negated { "NOT " } else { "" };
            format!("({} {not}LIKE {})", sub(expr)?, sub(pattern)?)
        }
        _ => return None,
    })
}

/// Scalar types a bound parameter may be cast to inside a direct filter.
fn scalar_type(t: &SqlDataType) -> bool {
    use SqlDataType as T;
    matches!(
        t,
        T::Int(_)
            | T::Integer(_)
            | T::BigInt(_)
            | T::SmallInt(_)
            | T::Int2(_)
            | T::Int4(_)
            | T::Int8(_)
            | T::Real
            | T::Float4
            | T::Float8
            | T::DoublePrecision
            | T::Boolean
            | T::Bool
            | T::Text
            | T::Varchar(_)
            | T::CharacterVarying(_)
            | T::Date
    )
}

/// The column a reference names, if it is one of `table`'s.
fn resolve(table: &Table, qualifier: &str, c: &[Ident]) -> Option<usize> {
    let (q, name) = match c {
        [n] => (None, n),
        [q, n] => (Some(q), n),
        _ => return None,
    };
    if q.is_some_and(|q| folded(q) != qualifier) {
        return None;
    }
    table
        .columns
        .iter()
        .position(|col| col.name == folded(name))
}

/// Answer `stmt` directly if it is a plain KNN query an index serves.
pub async fn try_run(
    engine: &super::Engine,
    session: &Session,
    stmt: &Statement,
    unbound: &[super::params::Unbound],
) -> PgResult<Option<Output>> {
    let Statement::Query(q) = stmt else {
        return Ok(None);
    };
    let Some(shape) = shape(q) else {
        return Ok(None);
    };
    if !session.knn.enable_indexscan.load(Ordering::Relaxed) || session.grape.overlay().is_some() {
        return Ok(None);
    }
    let Ok(table) = super::dml::resolve_table(engine, session, &shape.table) else {
        return Ok(None);
    };
    let table = super::dml::lock_table(engine, session, &shape.table, LockMode::AccessShare)
        .await
        .map(|t| if t.id == table.id { t } else { table })?;
    let Some(pos) = resolve(&table, &shape.qualifier, &shape.column) else {
        return Ok(None);
    };
    let col = &table.columns[pos];
    let Some((crate::vector::Kind::Vector, Some(dims))) = col.ty.vector() else {
        return Ok(None);
    };
    let Some(index) = super::knn::serving_index(&table, col.id, &[], shape.metric) else {
        return Ok(None);
    };
    let query = match &shape.query {
        QueryArg::Text(t) => match crate::vector::parse_vector(t, None) {
            Ok(v) => v,
            Err(_) => return Ok(None),
        },
        QueryArg::Param(n) => match unbound.iter().find(|u| u.number == *n) {
            Some(super::params::Unbound {
                value: Datum::Vector(v),
                ..
            }) => v.clone(),
            _ => return Ok(None),
        },
    };
    if query.len() != dims as usize {
        return Ok(None);
    }

    // Output columns, named as the planned path names them.
    let mut named = Statement::Query(q.clone());
    super::rewrite::columns::name_columns(&mut named);
    let Statement::Query(named) = named else {
        return Ok(None);
    };
    let SetExpr::Select(sel) = named.body.as_ref() else {
        return Ok(None);
    };
    let mut items = Vec::new();
    let mut fields = Vec::new();
    for (item, what) in sel.projection.iter().zip(&shape.items) {
        let name = match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.as_str()),
            _ => None,
        };
        match what {
            ShapeItem::Star => {
                for (i, c) in table.columns.iter().enumerate() {
                    items.push(Item::Column(i));
                    fields.push(c.ty.field(&c.name, true));
                }
            }
            ShapeItem::Column(c) => {
                let Some(i) = resolve(&table, &shape.qualifier, c) else {
                    return Ok(None);
                };
                let c = &table.columns[i];
                items.push(Item::Column(i));
                fields.push(c.ty.field(name.unwrap_or(&c.name), true));
            }
            ShapeItem::Distance => {
                items.push(Item::Distance);
                fields.push(Field::new(
                    name.unwrap_or("?column?"),
                    DataType::Float64,
                    true,
                ));
            }
        }
    }

    let grape = GrapeTable::new(table.clone(), session.grape.data(), false, None);
    // The WHERE clause alone, through DataFusion, for the shards' filtered
    // search. (Key and secondary-index lookups are left out: they need the
    // filter type-coerced, and the kept columns find so few matches as fast.)
    let mut physical = None;
    if let Some(w) = &shape.filter {
        let mut reads = false;
        let Some(sql) = filter_sql(w, &table, &shape.qualifier, &mut reads) else {
            return Ok(None);
        };
        if !reads {
            return Ok(None);
        }
        let Ok(df_schema) = DFSchema::try_from(grape.schema_ref().as_ref().clone()) else {
            return Ok(None);
        };
        let Ok(logical) = session.ctx.parse_sql_expr(&sql, &df_schema) else {
            return Ok(None);
        };
        // Arithmetic checked as in every other plan (`sql::arithmetic`).
        // The options alone: cloning the session state per search would
        // cost more than the filter.
        let options = Arc::clone(session.ctx.state_ref().read().config_options());
        let Ok(logical) = crate::sql::arithmetic::coerced_and_checked(options, logical, &df_schema)
        else {
            return Ok(None);
        };
        let Ok(p) = session.ctx.create_physical_expr(logical, &df_schema) else {
            return Ok(None);
        };
        physical = Some(p);
    }
    let want = shape.k.saturating_add(shape.offset);
    // Without the distance in the output, the index's kept columns may
    // answer (an index-only scan).
    let only: Option<Vec<usize>> = items
        .iter()
        .map(|it| match it {
            Item::Column(i) => Some(*i),
            Item::Distance => None,
        })
        .collect();
    let spec = session.knn.spec(index, Point::Dense(query), want);
    let (parts, _) = grape.with_knn(spec.clone()).plan_parts(&[])?;
    let filtered = physical.is_some();
    let searches = parts
        .into_iter()
        .map(|part| ShardSearch {
            table: table.clone(),
            data: session.grape.data(),
            spec: spec.clone(),
            full_schema: grape.schema_ref(),
            filter: physical.clone(),
            part,
            selective: false,
            overlay: None,
            only: only.clone(),
        })
        .collect();
    let rows: Vec<Vec<Datum>> = if want == 0 {
        vec![]
    } else {
        let found = nearest_all(searches).await;
        // A filter that fails while evaluated (a bad cast, % 0) is run
        // again by the planned path, which reports it as PostgreSQL would.
        let found = match found {
            Err(_) if filtered => return Ok(None),
            r => r?,
        };
        found
            .into_iter()
            .skip(shape.offset)
            .take(shape.k)
            .map(|(d, row)| {
                items
                    .iter()
                    .map(|it| match it {
                        Item::Column(i) => row.get(*i).cloned().unwrap_or(Datum::Null),
                        Item::Distance => Datum::F64(d),
                    })
                    .collect()
            })
            .collect()
    };
    let schema = Arc::new(Schema::new(fields));
    let batch = rows_to_batch(&schema, &rows)?;
    Ok(Some(Output::Rows {
        schema,
        batches: vec![batch],
        tag: "SELECT".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(sql: &str) -> Option<Shape> {
        let stmt = crate::sql::parse(sql).unwrap().pop().unwrap();
        let Statement::Query(q) = stmt else { panic!() };
        shape(&q)
    }

    #[test]
    fn recognises_plain_knn() {
        let s = shape_of("SELECT * FROM t ORDER BY v <-> '[1,2]' LIMIT 5").unwrap();
        assert_eq!((s.k, s.offset, s.metric), (5, 0, Metric::L2));
        assert_eq!(s.query, QueryArg::Text("[1,2]".into()));
        let s = shape_of(
            "SELECT i.id, i.v <=> CAST('[1,2]'::text AS vector) AS d FROM s.items AS i \
             ORDER BY d LIMIT 3 OFFSET 2",
        )
        .unwrap();
        assert_eq!((s.k, s.offset, s.metric), (3, 2, Metric::Cosine));
        assert_eq!(
            (s.table, s.qualifier),
            (vec!["s".into(), "items".into()], "i".into())
        );
        assert!(matches!(
            s.items.as_slice(),
            [ShapeItem::Column(_), ShapeItem::Distance]
        ));
        let s = shape_of(
            "SELECT id, '[1,2]'::vector <#> v FROM t ORDER BY v <#> '[1,2]'::vector LIMIT 1",
        );
        assert_eq!(s.unwrap().metric, Metric::NegInnerProduct);
    }

    #[test]
    fn keeps_the_where_clause_for_the_filter_compiler() {
        let s = shape_of("SELECT id FROM t WHERE c = 1 ORDER BY v <-> '[1,2]' LIMIT 5").unwrap();
        assert_eq!(s.filter.unwrap().to_string(), "c = 1");
    }

    #[test]
    fn leaves_everything_else_to_the_planner() {
        for sql in [
            "SELECT id FROM t ORDER BY v <-> '[1,2]' DESC LIMIT 5",
            "SELECT id FROM t ORDER BY v <-> '[1,2]'",
            "SELECT id FROM t ORDER BY id LIMIT 5",
            "SELECT id + 1 FROM t ORDER BY v <-> '[1,2]' LIMIT 5",
            "SELECT id, v <=> '[1,2]' FROM t ORDER BY v <-> '[1,2]' LIMIT 5",
            "SELECT DISTINCT id FROM t ORDER BY v <-> '[1,2]' LIMIT 5",
            "SELECT id FROM t, u ORDER BY v <-> '[1,2]' LIMIT 5",
            "SELECT id FROM t ORDER BY v <-> '[1,2]'::halfvec LIMIT 5",
            "SELECT id FROM t ORDER BY v::halfvec(2) <-> '[1,2]' LIMIT 5",
            "SELECT count(*) FROM t ORDER BY v <-> '[1,2]' LIMIT 5",
            "WITH x AS (SELECT 1) SELECT id FROM t ORDER BY v <-> '[1,2]' LIMIT 5",
        ] {
            assert!(shape_of(sql).is_none(), "{sql}");
        }
    }
}
