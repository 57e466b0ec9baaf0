//! INSERT (with ON CONFLICT), and the plain insert COPY uses; PostgreSQL's
//! assignment-cast rules for the values.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{Insert, OnConflictAction, OnInsert, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::catalog::Table;
use crate::catalog::locks::LockMode;
use crate::dataplane::Txn;
use crate::dataplane::write::{RowWrite, WriteError};
use crate::encoding::encode_row;
use crate::error::{PgError, PgResult, codes};
use crate::exec::GrapeTable;
use crate::exec::catalog_provider::SCRATCH_SCHEMA;
use crate::sql::errors::df_error;
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use crate::types::Datum;
use crate::types::datum::{batch_row, rows_to_batch};
use crate::types::text::quote_ident;

use super::common::*;
use super::fk;
use super::row_rules::{self, RowRules};
use super::update::*;

pub async fn insert(engine: &Engine, session: &mut Session, mut ins: Insert) -> PgResult<Output> {
    let parts = table_of_insert(&ins)?;
    let table = lock_table(engine, session, &parts, LockMode::RowExclusive).await?;
    let alias = ins
        .table_alias
        .as_ref()
        .map(|a| a.alias.value.clone())
        .unwrap_or_else(|| table.name.clone());
    let returning_items = ins.returning.take();
    let on = ins.on.take();
    ins.table_alias = None;
    expand_defaults(&table, &mut ins)?;
    if let Some(src) = &ins.source {
        if let datafusion::sql::sqlparser::ast::SetExpr::Values(v) = src.body.as_ref() {
            check_values_types(&table, &ins.columns, v)?;
        }
    }
    cast_typed_values(&table, &mut ins);
    // PostgreSQL fills trailing columns with their defaults when VALUES rows
    // are shorter than the table; DataFusion wants the column list spelled out.
    if ins.columns.is_empty() {
        if let Some(src) = &ins.source {
            if let datafusion::sql::sqlparser::ast::SetExpr::Values(v) = src.body.as_ref() {
                let width = v.rows.iter().map(|r| r.content.len()).max().unwrap_or(0);
                if width > table.columns.len() {
                    return Err(PgError::syntax(
                        "INSERT has more expressions than target columns",
                    ));
                }
                if width < table.columns.len() {
                    ins.columns = table.columns[..width]
                        .iter()
                        .map(|c| {
                            datafusion::sql::sqlparser::ast::ObjectName::from(vec![
                                datafusion::sql::sqlparser::ast::Ident::with_quote(
                                    '"',
                                    c.name.clone(),
                                ),
                            ])
                        })
                        .collect();
                }
            }
        }
    }

    // Identity ALWAYS and generated columns reject explicit values.
    for (pos, c) in table.columns.iter().enumerate() {
        if !(c.identity_always || c.generated.is_some()) || !gives_value(&ins, pos, &c.name) {
            continue;
        }
        let detail = if c.generated.is_some() {
            format!("Column \"{}\" is a generated column.", c.name)
        } else {
            format!(
                "Column \"{}\" is an identity column defined as GENERATED ALWAYS.",
                c.name
            )
        };
        return Err(PgError::new(
            codes::GENERATED_ALWAYS,
            format!(
                "cannot insert a non-DEFAULT value into column \"{}\"",
                c.name
            ),
        )
        .with_detail(detail));
    }
    let plan = engine.plan(session, Statement::Insert(ins)).await?;
    let LogicalPlan::Dml(dml) = plan else {
        return Err(PgError::internal("INSERT did not plan as DML"));
    };
    check_assignment_types(&table, &dml.input)?;
    let rules = RowRules::compile(engine, session, &table).await?;
    let batches = collect(session, (*dml.input).clone()).await?;

    // Build the full rows (serial values, constraints, keys).
    let mut rows: Vec<Vec<Datum>> = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            let mut row = batch_row(b, r)?;
            for (i, c) in table.columns.iter().enumerate() {
                if row[i].is_null() {
                    if let Some(seq) = &c.sequence {
                        let v = nextval_in(engine, session, seq).await?;
                        session.sequences.lock().took(seq, v);
                        row[i] = match c.ty {
                            crate::types::SqlType::Int2 => Datum::I16(v as i16),
                            crate::types::SqlType::Int4 => Datum::I32(v as i32),
                            _ => Datum::I64(v),
                        };
                    }
                }
            }
            row_rules::apply(rules.as_ref(), &table, &mut row)?;
            rows.push(row);
        }
    }

    if let Some(OnInsert::OnConflict(oc)) = &on {
        check_conflict_target(&table, oc)?;
    }
    let (do_nothing, do_update) = match &on {
        None => (false, None),
        Some(OnInsert::OnConflict(oc)) => match &oc.action {
            OnConflictAction::DoNothing => (true, None),
            OnConflictAction::DoUpdate(du) => {
                if table.primary_key.is_empty() {
                    return Err(PgError::new(
                        codes::INVALID_COLUMN_REFERENCE,
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                    ));
                }
                (false, Some(du.clone()))
            }
        },
        Some(other) => return Err(PgError::unsupported(format!("{other}"))),
    };

    for attempt in 0..MAX_RETRIES {
        if attempt > 0 {
            // A conflicting row changed since the snapshot: re-read it.
            engine.fresh_snapshot(session).await;
        }
        let mut writes = Vec::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut inserted: Vec<Vec<Datum>> = Vec::new();
        let mut conflicting: Vec<(Vec<u8>, Vec<Datum>)> = Vec::new();
        let mut by_key: HashMap<Vec<u8>, Vec<Datum>> = HashMap::new();
        for row in &rows {
            let key = row_key(engine, &table, row).await?;
            let mut entries = Vec::new();
            for idx in secondary(&table) {
                if let Some(e) = index_entry(&table, idx, row, &key)? {
                    entries.push((idx, e));
                }
            }
            let exists = !table.primary_key.is_empty() && engine.read_key(session, &key)?.is_some();
            let dup_in_stmt = seen.contains(&key);
            let idx_conflict = entries.iter().any(|(idx, (k, _))| {
                idx.unique
                    && (seen.contains(k) || engine.read_key(session, k).ok().flatten().is_some())
            });
            if exists || dup_in_stmt || idx_conflict {
                if do_nothing {
                    continue;
                }
                if do_update.is_some() && (exists || dup_in_stmt) {
                    if dup_in_stmt {
                        return Err(PgError::new(
                            codes::CARDINALITY_VIOLATION,
                            "ON CONFLICT DO UPDATE command cannot affect row a second time",
                        )
                        .with_detail("Ensure that no rows proposed for insertion within the same command have duplicate constrained values."));
                    }
                    seen.insert(key.clone());
                    conflicting.push((key, row.clone()));
                    continue;
                }
                by_key.insert(key.clone(), row.clone());
                if dup_in_stmt || exists {
                    return Err(conflict_error(&table, &key, &by_key).unwrap());
                }
                for (idx, (k, _)) in &entries {
                    if idx.unique && (seen.contains(k) || engine.read_key(session, k)?.is_some()) {
                        let mut m = by_key.clone();
                        m.insert(key.clone(), row.clone());
                        return Err(conflict_error(&table, k, &m).unwrap());
                    }
                }
            }
            seen.insert(key.clone());
            for (idx, (k, v)) in entries {
                writes.push(entry_write(idx, k, None, Some(v)));
            }
            writes.push(RowWrite {
                key: key.clone(),
                expect: None,
                new: Some(encode_row(&table, row)?),
                blind: false,
            });
            by_key.insert(key, row.clone());
            inserted.push(row.clone());
        }
        match engine.write(session, writes).await {
            Ok(()) => {}
            Err(WriteError::Conflict(c)) => {
                if (do_nothing || do_update.is_some()) && attempt + 1 < MAX_RETRIES {
                    continue;
                }
                return Err(conflict_error(&table, &c.key, &by_key).unwrap_or_else(|| {
                    PgError::new(
                        codes::UNIQUE_VIOLATION,
                        "duplicate key value violates unique constraint",
                    )
                }));
            }
            Err(WriteError::Failed(e)) => return Err(e),
        }
        if !table.foreign_keys.is_empty() {
            fk::check_references(engine, session, &table, &inserted, None, None).await?;
        }
        let mut count = inserted.len();
        let mut out_rows = inserted;
        if let Some(du) = &do_update {
            if !conflicting.is_empty() {
                // Rows proposed for insertion, addressed as `excluded`.
                let schema =
                    GrapeTable::new(table.clone(), engine.data.clone(), true, None).schema_ref();
                let ex_rows: Vec<Vec<Datum>> = conflicting
                    .iter()
                    .map(|(k, r)| {
                        let mut r = r.clone();
                        r.push(Datum::Bytes(k.clone()));
                        r.push(Datum::Bytes(Vec::new()));
                        r
                    })
                    .collect();
                let batch = rows_to_batch(&schema, &ex_rows)?;
                let mem = MemTable::try_new(schema, vec![vec![batch]]).map_err(df_error)?;
                register_scratch(session, "excluded", Arc::new(mem))?;
                let mut selection = format!(
                    "{}.\"__grape_key\" = \"excluded\".\"__grape_key\"",
                    quote_ident(&alias)
                );
                if let Some(sel) = &du.selection {
                    selection = format!("{selection} AND ({sel})");
                }
                let from = format!(
                    "{}.\"excluded\" AS \"excluded\"",
                    quote_ident(SCRATCH_SCHEMA)
                );
                match update_rows(
                    engine,
                    session,
                    &table,
                    &alias,
                    &du.assignments,
                    Some(from),
                    Some(selection),
                )
                .await
                {
                    Ok(updated) => {
                        count += updated.len();
                        out_rows.extend(updated);
                    }
                    Err(UpdateError::Retry) if attempt + 1 < MAX_RETRIES => continue,
                    Err(UpdateError::Retry) => {
                        return Err(PgError::serialization_failure());
                    }
                    Err(UpdateError::Pg(e)) => return Err(e),
                }
            }
        }
        let ret = match &returning_items {
            Some(items) => {
                Some(returning(engine, session, &table, &alias, items, &out_rows).await?)
            }
            None => None,
        };
        // With RETURNING the frontend appends the row count to "INSERT 0".
        return Ok(match ret {
            Some((schema, batches)) => Output::Rows {
                schema,
                batches,
                tag: "INSERT 0".into(),
            },
            None => Output::Command(format!("INSERT 0 {count}")),
        });
    }
    Err(PgError::serialization_failure())
}

/// Insert full rows (table column order) with no conflict handling, as COPY
/// does: fill sequences, check constraints, write rows and index entries.
/// Outside a transaction block the rows go into `txn` (COPY's own
/// transaction, committed when all data has arrived).
pub async fn plain_insert(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    rows: Vec<(u64, Vec<Datum>)>,
    txn: Option<&mut Txn>,
) -> PgResult<()> {
    let rules = RowRules::compile(engine, session, table).await?;
    let mut writes = Vec::with_capacity(rows.len());
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut by_key: HashMap<Vec<u8>, Vec<Datum>> = HashMap::new();
    for (line, mut row) in rows {
        let with_line = |e: PgError| {
            let d = e.detail.clone();
            let mut e = e;
            e.detail = Some(match d {
                Some(d) => format!("{d} (COPY line {line})"),
                None => format!("COPY {}, line {line}", table.name),
            });
            e
        };
        for (i, c) in table.columns.iter().enumerate() {
            if row[i].is_null() {
                if let Some(seq) = &c.sequence {
                    let v = nextval_in(engine, session, seq).await?;
                    session.sequences.lock().took(seq, v);
                    row[i] = match c.ty {
                        crate::types::SqlType::Int2 => Datum::I16(v as i16),
                        crate::types::SqlType::Int4 => Datum::I32(v as i32),
                        _ => Datum::I64(v),
                    };
                }
            }
        }
        row_rules::apply(rules.as_ref(), table, &mut row).map_err(with_line)?;
        let key = row_key(engine, table, &row).await?;
        if !seen.insert(key.clone()) {
            by_key.insert(key.clone(), row.clone());
            return Err(with_line(conflict_error(table, &key, &by_key).unwrap()));
        }
        for idx in secondary(table) {
            if let Some((k, v)) = index_entry(table, idx, &row, &key)? {
                if idx.unique && !seen.insert(k.clone()) {
                    by_key.insert(key.clone(), row.clone());
                    return Err(with_line(conflict_error(table, &k, &by_key).unwrap()));
                }
                writes.push(entry_write(idx, k, None, Some(v)));
            }
        }
        writes.push(RowWrite {
            key: key.clone(),
            expect: None,
            new: Some(encode_row(table, &row)?),
            blind: false,
        });
        by_key.insert(key, row);
    }
    let fk_rows: Vec<Vec<Datum>> = if table.foreign_keys.is_empty() {
        Vec::new()
    } else {
        by_key.values().cloned().collect()
    };
    let mut txn = txn;
    let written = match txn.as_deref_mut() {
        Some(t) => t.write_waiting(writes).await,
        None => engine.write(session, writes).await,
    };
    match written {
        Ok(()) => fk::check_references(engine, session, table, &fk_rows, None, txn).await,
        Err(WriteError::Conflict(c)) => {
            Err(conflict_error(table, &c.key, &by_key).unwrap_or_else(|| {
                PgError::new(
                    codes::UNIQUE_VIOLATION,
                    "duplicate key value violates unique constraint",
                )
            }))
        }
        Err(WriteError::Failed(e)) => Err(e),
    }
}

/// Broad type families for PostgreSQL's assignment-cast rules.
#[derive(PartialEq, Clone, Copy, Debug)]
pub(super) enum Family {
    Numeric,
    String,
    Bool,
    Temporal,
    Time,
    Interval,
    Binary,
    List,
    Null,
    Other,
}

pub(super) fn family(dt: &datafusion::arrow::datatypes::DataType) -> Family {
    use datafusion::arrow::datatypes::DataType as D;
    match dt {
        D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Float16
        | D::Float32
        | D::Float64
        | D::Decimal128(..)
        | D::Decimal256(..) => Family::Numeric,
        D::Utf8 | D::LargeUtf8 | D::Utf8View => Family::String,
        D::Boolean => Family::Bool,
        D::Date32 | D::Date64 | D::Timestamp(..) => Family::Temporal,
        D::Time32(_) | D::Time64(_) => Family::Time,
        D::Interval(_) | D::Duration(_) => Family::Interval,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => Family::Binary,
        D::List(_) | D::LargeList(_) | D::FixedSizeList(..) => Family::List,
        D::Null => Family::Null,
        _ => Family::Other,
    }
}

/// Reject INSERT values whose type PostgreSQL would not assign to the
/// column (42804), before DataFusion's casts turn `true` into `1`.
pub(super) fn check_assignment_types(table: &Table, input: &LogicalPlan) -> PgResult<()> {
    use datafusion::logical_expr::{Expr as DfExpr, ExprSchemable};
    let LogicalPlan::Projection(p) = input else {
        return Ok(());
    };
    for (i, e) in p.expr.iter().enumerate() {
        let inner = match e {
            DfExpr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        let DfExpr::Cast(c) = inner else { continue };
        if !matches!(c.expr.as_ref(), DfExpr::Column(_)) {
            continue;
        }
        let Ok(src) = c.expr.get_type(p.input.schema()) else {
            continue;
        };
        let Some(col) = table.columns.get(i) else {
            continue;
        };
        let (from, to) = (family(&src), family(&col.ty.arrow_type()));
        let ok =
            from == to || from == Family::Null || from == Family::String || to == Family::String;
        if !ok {
            return Err(PgError::new(
                codes::DATATYPE_MISMATCH,
                format!(
                    "column \"{}\" is of type {} but expression is of type {}",
                    col.name,
                    col.ty.pg_name(),
                    crate::sql::errors::pg_type_name(&src.to_string())
                ),
            )
            .with_hint("You will need to rewrite or cast the expression."));
        }
    }
    Ok(())
}

/// VALUES for vector columns go through the vector cast (text literals and
/// arrays become vectors, typmods are checked), as PostgreSQL's assignment
/// cast does; DataFusion has no cast from text to a vector. String constants
/// for array columns are read as array text.
pub(super) fn cast_typed_values(table: &Table, ins: &mut Insert) {
    use datafusion::sql::sqlparser::ast::{Expr as E, SetExpr};
    let targets: Vec<Option<&crate::catalog::Column>> = if ins.columns.is_empty() {
        table.columns.iter().map(Some).collect()
    } else {
        ins.columns
            .iter()
            .map(|n| object_parts(n).last().and_then(|c| table.column(c)))
            .collect()
    };
    let typed = |c: &crate::catalog::Column| {
        c.ty.vector().is_some() || matches!(c.ty, crate::types::SqlType::Array(_))
    };
    if !targets.iter().flatten().any(|c| typed(c)) {
        return;
    }
    let Some(src) = ins.source.as_mut() else {
        return;
    };
    let SetExpr::Values(values) = src.body.as_mut() else {
        return;
    };
    for row in values.rows.iter_mut() {
        for (e, col) in row.content.iter_mut().zip(&targets) {
            let Some(col) = col else { continue };
            // A string constant for an array column is the array's text
            // form (`'{1,2}'`), as PostgreSQL reads an unknown-typed literal
            // for its target; DataFusion would make it a one-element array.
            if let (crate::types::SqlType::Array(_), E::Value(v)) = (&col.ty, &*e) {
                if crate::sql::rewrite::array_text::string_literal(&v.value).is_some() {
                    if let Ok(data_type) = Parser::new(&PostgreSqlDialect {})
                        .try_with_sql(&col.ty.cast_name())
                        .and_then(|mut p| p.parse_data_type())
                    {
                        let lit = std::mem::replace(
                            e,
                            E::value(datafusion::sql::sqlparser::ast::Value::Null),
                        );
                        *e = E::Cast {
                            kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                            expr: Box::new(lit),
                            data_type,
                            format: None,
                            array: false,
                        };
                    }
                }
                continue;
            }
            let Some((kind, typmod)) = col.ty.vector() else {
                continue;
            };
            if matches!(e, E::Identifier(i) if i.value.eq_ignore_ascii_case("default")) {
                continue;
            }
            let name = match (&col.ty, kind) {
                (crate::types::SqlType::VarBit(_), _) => "varbit",
                (_, k) => k.name(),
            };
            let inner =
                std::mem::replace(e, E::value(datafusion::sql::sqlparser::ast::Value::Null));
            *e = crate::sql::rewrite::vector_casts::cast_call(
                inner,
                name,
                typmod.map_or(-1, |t| t as i64),
            );
        }
    }
}

/// The next value of sequence `key` as this session's catalog defines it
/// (a serial or identity column created in the open block included).
async fn nextval_in(engine: &Engine, session: &Session, key: &str) -> PgResult<i64> {
    match session.catalog().sequence_by_key(key).cloned() {
        Some(seq) => engine.catalog.next_of(&seq).await,
        None => engine.catalog.nextval(key).await,
    }
}

/// DEFAULT in VALUES, and DEFAULT VALUES: DataFusion fills only the
/// columns a statement leaves out, so a column that is DEFAULT in every
/// row is left out, and elsewhere DEFAULT becomes the column's default
/// expression (NULL when it has none: a sequence or generation fills it).
fn expand_defaults(table: &Table, ins: &mut Insert) -> PgResult<()> {
    use datafusion::sql::sqlparser::ast::{Expr as E, Ident, ObjectName, SetExpr, Value};
    if ins.source.is_none() {
        let defaults = vec!["DEFAULT"; table.columns.len()].join(", ");
        if let Some(Statement::Insert(i)) =
            crate::sql::parse(&format!("INSERT INTO t VALUES ({defaults})"))?.pop()
        {
            ins.source = i.source;
            ins.columns.clear();
        }
    }
    let Some(src) = ins.source.as_mut() else {
        return Ok(());
    };
    let SetExpr::Values(values) = src.body.as_mut() else {
        return Ok(());
    };
    let is_default = |e: &E| matches!(e, E::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
    if !values.rows.iter().flat_map(|r| &r.content).any(is_default) {
        return Ok(());
    }
    let names: Vec<String> = if ins.columns.is_empty() {
        table.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        ins.columns
            .iter()
            .map(|n| object_parts(n).pop().unwrap_or_default())
            .collect()
    };
    let width = values
        .rows
        .iter()
        .map(|r| r.content.len())
        .max()
        .unwrap_or(0);
    if width > names.len() || values.rows.iter().any(|r| r.content.len() != width) {
        return Ok(()); // the planner reports the mismatch
    }
    let all_default = |p: usize| {
        values
            .rows
            .iter()
            .all(|r| r.content.get(p).is_some_and(is_default))
    };
    let mut keep: Vec<usize> = (0..width).filter(|&p| !all_default(p)).collect();
    if keep.is_empty() {
        keep.push(0); // VALUES needs a column
    }
    let default_of = |name: &str| -> PgResult<E> {
        match table.column(name).and_then(|c| c.default.as_ref()) {
            Some(d) => crate::sql::parse::parse_expr(d),
            None => Ok(E::value(Value::Null)),
        }
    };
    for row in values.rows.iter_mut() {
        let mut content = Vec::with_capacity(keep.len());
        for &p in &keep {
            let e = &row.content[p];
            content.push(if is_default(e) {
                default_of(&names[p])?
            } else {
                e.clone()
            });
        }
        row.content = content;
    }
    ins.columns = keep
        .iter()
        .map(|&p| ObjectName::from(vec![Ident::with_quote('"', names[p].clone())]))
        .collect();
    Ok(())
}

/// Whether INSERT `ins` gives column `name` (at `pos` in the table) a
/// value other than DEFAULT.
fn gives_value(ins: &Insert, pos: usize, name: &str) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr as E, SetExpr};
    let at = if ins.columns.is_empty() {
        Some(pos)
    } else {
        ins.columns
            .iter()
            .position(|n| object_parts(n).last().map(String::as_str) == Some(name))
    };
    let Some(at) = at else { return false };
    let Some(src) = &ins.source else { return false };
    match src.body.as_ref() {
        SetExpr::Values(v) => v.rows.iter().any(|r| match r.content.get(at) {
            Some(E::Identifier(i)) => !i.value.eq_ignore_ascii_case("default"),
            Some(_) => true,
            None => false,
        }),
        // INSERT ... SELECT naming the column. (Without a column list the
        // SELECT's width is not known here; a value it gives is replaced
        // by the generated one.)
        _ => !ins.columns.is_empty(),
    }
}

/// VALUES literals whose type PostgreSQL would not assign to the column
/// (`true` into an integer, `5` into a date): 42804.
pub(super) fn check_values_types(
    table: &Table,
    columns: &[datafusion::sql::sqlparser::ast::ObjectName],
    values: &datafusion::sql::sqlparser::ast::Values,
) -> PgResult<()> {
    use datafusion::arrow::datatypes::DataType as D;
    use datafusion::sql::sqlparser::ast::{Expr as E, Value as V};
    let targets: Vec<Option<&crate::catalog::Column>> = if columns.is_empty() {
        table.columns.iter().map(Some).collect()
    } else {
        columns
            .iter()
            .map(|n| object_parts(n).last().and_then(|c| table.column(c)))
            .collect()
    };
    for row in &values.rows {
        for (e, col) in row.content.iter().zip(&targets) {
            let Some(col) = col else { continue };
            let (fam, name) = match e {
                E::Value(v) => match &v.value {
                    V::Boolean(_) => (family(&D::Boolean), "boolean"),
                    V::Number(n, _) => (
                        family(&D::Int64),
                        if n.contains('.') {
                            "numeric"
                        } else {
                            "integer"
                        },
                    ),
                    _ => continue,
                },
                _ => continue,
            };
            let to = family(&col.ty.arrow_type());
            if fam != to && to != Family::String {
                return Err(PgError::new(
                    codes::DATATYPE_MISMATCH,
                    format!(
                        "column \"{}\" is of type {} but expression is of type {name}",
                        col.name,
                        col.ty.pg_name()
                    ),
                )
                .with_hint("You will need to rewrite or cast the expression."));
            }
        }
    }
    Ok(())
}

/// An ON CONFLICT target must name a unique constraint of the table, by its
/// columns (in any order) or by name, as PostgreSQL infers its arbiter;
/// DO UPDATE needs one.
fn check_conflict_target(
    table: &crate::catalog::Table,
    oc: &datafusion::sql::sqlparser::ast::OnConflict,
) -> PgResult<()> {
    use datafusion::sql::sqlparser::ast::ConflictTarget;
    let no_match = || {
        PgError::new(
            codes::INVALID_COLUMN_REFERENCE,
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        )
    };
    match &oc.conflict_target {
        None => {
            if matches!(oc.action, OnConflictAction::DoUpdate(_)) {
                return Err(PgError::syntax(
                    "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                )
                .with_hint("For example, ON CONFLICT (column_name)."));
            }
            Ok(())
        }
        Some(ConflictTarget::Columns(cols)) => {
            let mut ids = Vec::new();
            for c in cols {
                let name = crate::sql::parse::folded(c);
                let col = table
                    .columns
                    .iter()
                    .find(|col| col.name == name)
                    .ok_or_else(|| PgError::undefined_column(&name))?;
                ids.push(col.id);
            }
            ids.sort_unstable();
            ids.dedup();
            let same = |cols: &[crate::catalog::ColumnId]| {
                let mut c = cols.to_vec();
                c.sort_unstable();
                c == ids
            };
            let pk = !table.primary_key.is_empty() && same(&table.primary_key);
            let unique = table
                .indexes
                .iter()
                .any(|i| i.unique && !i.building && i.vector.is_none() && same(&i.columns));
            if pk || unique {
                Ok(())
            } else {
                Err(no_match())
            }
        }
        Some(ConflictTarget::OnConstraint(name)) => {
            let name = crate::sql::object_parts(name).pop().unwrap_or_default();
            // A constraint's index (CREATE UNIQUE INDEX makes none, and
            // a renamed primary key answers to its new name only); a
            // catalog without the primary key's index answers to `t_pkey`.
            let found = table
                .indexes
                .iter()
                .any(|i| i.name == name && (i.primary || (i.constraint && i.unique)))
                || (!table.primary_key.is_empty()
                    && !table.indexes.iter().any(|i| i.primary)
                    && name == format!("{}_pkey", table.name));
            if found {
                Ok(())
            } else {
                Err(PgError::new(
                    codes::UNDEFINED_OBJECT,
                    format!(
                        "constraint \"{name}\" for table \"{}\" does not exist",
                        table.name
                    ),
                ))
            }
        }
    }
}
