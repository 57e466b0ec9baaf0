//! INSERT, UPDATE and DELETE.
//!
//! DataFusion plans the rows a statement produces (the VALUES/SELECT of an
//! INSERT with defaults and casts; for UPDATE/DELETE a SELECT over the target
//! table that also returns each row's key and stored bytes). This module turns
//! those rows into [`RowWrite`]s with preconditions, checks constraints, keeps
//! indexes in step, and evaluates RETURNING.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, FromTable, Insert, OnConflictAction, OnInsert,
    SelectItem, Statement, TableFactor, TableObject, Update, UpdateTableFromKind,
};

use super::errors::df_error;
use super::session::Session;
use super::{Engine, Output, object_parts};
use crate::catalog::{Index, Table};
use crate::error::{PgError, PgResult, codes};
use crate::exec::GrapeTable;
use crate::exec::catalog_provider::SCRATCH_SCHEMA;
use crate::exec::codec::{Datum, batch_row, decode_row, encode_key, encode_row, rows_to_batch};
use crate::exec::write::{RowWrite, WriteError};

/// How many times a statement is re-run when a row it read changed before its write.
const MAX_RETRIES: usize = 20;

pub fn resolve_table(engine: &Engine, session: &Session, parts: &[String]) -> PgResult<Arc<Table>> {
    let cat = engine.catalog.current();
    let (schema, name) = match parts {
        [name] => (None, name.as_str()),
        [schema, name] => (Some(schema.as_str()), name.as_str()),
        [_, schema, name] => (Some(schema.as_str()), name.as_str()),
        _ => return Err(PgError::syntax("improper qualified name")),
    };
    cat.resolve(schema, name, &session.search_path())
        .map(|t| Arc::new(t.clone()))
        .ok_or_else(|| PgError::undefined_table(&parts.join(".")))
}

fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// Check NOT NULL and length limits of a full row.
fn check_row(table: &Table, row: &[Datum]) -> PgResult<()> {
    for (c, v) in table.columns.iter().zip(row) {
        if c.not_null && v.is_null() {
            return Err(PgError::new(
                codes::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    c.name, table.name
                ),
            )
            .with_detail(format!("Failing row contains ({}).", row_text(row))));
        }
        if let (Some((_, Some(dims))), Datum::Vector(v)) = (c.ty.vector(), v) {
            crate::vector::check_expected_dim(Some(dims), v.len())?;
        }
        if let (Some((_, Some(dims))), Datum::HalfVec(v)) = (c.ty.vector(), v) {
            crate::vector::check_expected_dim(Some(dims), v.len())?;
        }
        if let (Some((crate::vector::Kind::SparseVec, _)), Datum::Bytes(b)) = (c.ty.vector(), v) {
            let in_hnsw = table.indexes.iter().any(|i| {
                i.vector
                    .as_ref()
                    .is_some_and(|d| d.column == c.id && d.method == "hnsw" && d.expr.is_none())
            });
            if in_hnsw && crate::vector::sparsevec_nnz(b) > crate::vector::SPARSEVEC_HNSW_MAX_NNZ {
                return Err(crate::vector::sparsevec_hnsw_nnz_error());
            }
        }
        if let (Some(max), Datum::Text(s)) = (c.ty.max_chars(), v) {
            if s.chars().count() > max as usize {
                return Err(PgError::new(
                    codes::STRING_DATA_RIGHT_TRUNCATION,
                    format!("value too long for type {}", c.ty.pg_name()),
                ));
            }
        }
    }
    Ok(())
}

fn datum_text(d: &Datum) -> String {
    match d {
        Datum::Null => "null".into(),
        Datum::Bool(b) => {
            if *b {
                "t".into()
            } else {
                "f".into()
            }
        }
        Datum::I16(i) => i.to_string(),
        Datum::I32(i) => i.to_string(),
        Datum::I64(i) => i.to_string(),
        Datum::F32(f) => f.to_string(),
        Datum::F64(f) => f.to_string(),
        Datum::Text(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn row_text(row: &[Datum]) -> String {
    row.iter().map(datum_text).collect::<Vec<_>>().join(", ")
}

/// The row key: primary key values, or a fresh hidden row id.
async fn row_key(engine: &Engine, table: &Table, row: &[Datum]) -> PgResult<Vec<u8>> {
    if table.primary_key.is_empty() {
        let id = engine.catalog.nextval(&table.rowid_sequence()).await?;
        return encode_key(table.id, &[Datum::I64(id)]);
    }
    let vals: Vec<Datum> = table
        .pk_positions()
        .iter()
        .map(|&i| row[i].clone())
        .collect();
    encode_key(table.id, &vals)
}

/// Index entry of a row: key and value (None when the row has NULL in the index).
fn index_entry(
    table: &Table,
    idx: &Index,
    row: &[Datum],
    row_key: &[u8],
) -> PgResult<Option<(Vec<u8>, Vec<u8>)>> {
    let mut vals = Vec::new();
    for cid in &idx.columns {
        let pos = table
            .columns
            .iter()
            .position(|c| c.id == *cid)
            .expect("index column exists");
        if row[pos].is_null() {
            return Ok(None);
        }
        vals.push(row[pos].clone());
    }
    let mut key = encode_key(idx.id, &vals)?;
    // The value is the row key, so lookups need not decode entry keys.
    if !idx.unique {
        key.extend_from_slice(row_key);
    }
    Ok(Some((key, row_key.to_vec())))
}

fn secondary(table: &Table) -> impl Iterator<Item = &Index> {
    table
        .indexes
        .iter()
        .filter(|i| !i.primary && i.vector.is_none())
}

fn unique_violation(idx_name: &str, cols: &[String], vals: &[Datum]) -> PgError {
    PgError::new(
        codes::UNIQUE_VIOLATION,
        format!("duplicate key value violates unique constraint \"{idx_name}\""),
    )
    .with_detail(format!(
        "Key ({})=({}) already exists.",
        cols.join(", "),
        row_text(vals)
    ))
}

/// Describe which constraint a failed write precondition belongs to.
fn conflict_error(
    table: &Table,
    key: &[u8],
    rows_by_key: &HashMap<Vec<u8>, Vec<Datum>>,
) -> Option<PgError> {
    let id = u32::from_be_bytes(key.get(..4)?.try_into().ok()?);
    if id == table.id {
        let pk = table.indexes.iter().find(|i| i.primary);
        let name = pk
            .map(|i| i.name.clone())
            .unwrap_or_else(|| format!("{}_pkey", table.name));
        let row = rows_by_key.get(key)?;
        let cols: Vec<String> = table
            .pk_positions()
            .iter()
            .map(|&i| table.columns[i].name.clone())
            .collect();
        let vals: Vec<Datum> = table
            .pk_positions()
            .iter()
            .map(|&i| row[i].clone())
            .collect();
        return Some(unique_violation(&name, &cols, &vals));
    }
    let idx = table.indexes.iter().find(|i| i.id == id && i.unique)?;
    let cols: Vec<String> = idx
        .columns
        .iter()
        .filter_map(|c| table.column_by_id(*c))
        .map(|c| c.name.clone())
        .collect();
    // Find the row whose entry this is to show its values.
    for (rk, row) in rows_by_key {
        if let Ok(Some((k, _))) = index_entry(table, idx, row, rk) {
            if k == key {
                let vals: Vec<Datum> = idx
                    .columns
                    .iter()
                    .map(|c| row[table.columns.iter().position(|x| x.id == *c).unwrap()].clone())
                    .collect();
                return Some(unique_violation(&idx.name, &cols, &vals));
            }
        }
    }
    Some(PgError::new(
        codes::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            idx.name
        ),
    ))
}

/// Execute a planned query and collect its rows.
async fn collect(session: &Session, plan: LogicalPlan) -> PgResult<Vec<RecordBatch>> {
    let df = session
        .ctx
        .execute_logical_plan(plan)
        .await
        .map_err(df_error)?;
    df.collect().await.map_err(df_error)
}

async fn run_sql(engine: &Engine, session: &Session, sql: &str) -> PgResult<Vec<RecordBatch>> {
    let mut stmts = super::parse(sql)?;
    let stmt = stmts
        .pop()
        .ok_or_else(|| PgError::internal("empty internal statement"))?;
    let plan = engine.plan(session, stmt).await?;
    collect(session, plan).await
}

fn register_scratch(
    session: &Session,
    name: &str,
    provider: Arc<dyn datafusion::datasource::TableProvider>,
) -> PgResult<()> {
    use datafusion::catalog::SchemaProvider;
    let scratch = session.grape.scratch();
    let _ = scratch.deregister_table(name);
    scratch
        .register_table(name.to_string(), provider)
        .map_err(df_error)?;
    Ok(())
}

/// Evaluate RETURNING items over the written rows.
async fn returning(
    engine: &Engine,
    session: &Session,
    table: &Table,
    alias: &str,
    items: &[SelectItem],
    rows: &[Vec<Datum>],
) -> PgResult<(SchemaRef, Vec<RecordBatch>)> {
    let schema: SchemaRef = Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| c.ty.field(&c.name, true))
            .collect::<Vec<_>>(),
    ));
    let batch = rows_to_batch(&schema, rows)?;
    let mem = MemTable::try_new(schema, vec![vec![batch]]).map_err(df_error)?;
    register_scratch(session, "returning", Arc::new(mem))?;
    let list: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {} FROM {}.\"returning\" AS {}",
        list.join(", "),
        quote(SCRATCH_SCHEMA),
        quote(alias)
    );
    let mut stmts = super::parse(&sql)?;
    let plan = engine.plan(session, stmts.pop().unwrap()).await?;
    let out_schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let batches = collect(session, plan).await?;
    Ok((out_schema, batches))
}

/// Schema RETURNING would produce, without running anything (for Describe).
pub async fn returning_schema(
    engine: &Engine,
    session: &Session,
    table: &Table,
    alias: &str,
    items: &[SelectItem],
) -> PgResult<SchemaRef> {
    let (schema, _) = returning(engine, session, table, alias, items, &[]).await?;
    Ok(schema)
}

fn table_of_insert(ins: &Insert) -> PgResult<Vec<String>> {
    match &ins.table {
        TableObject::TableName(n) => Ok(object_parts(n)),
        _ => Err(PgError::unsupported("INSERT into a table function")),
    }
}

pub async fn insert(engine: &Engine, session: &mut Session, mut ins: Insert) -> PgResult<Output> {
    let parts = table_of_insert(&ins)?;
    let table = resolve_table(engine, session, &parts)?;
    let alias = ins
        .table_alias
        .as_ref()
        .map(|a| a.alias.value.clone())
        .unwrap_or_else(|| table.name.clone());
    let returning_items = ins.returning.take();
    let on = ins.on.take();
    ins.table_alias = None;
    if let Some(src) = &ins.source {
        if let datafusion::sql::sqlparser::ast::SetExpr::Values(v) = src.body.as_ref() {
            check_values_types(&table, &ins.columns, v)?;
        }
    }
    cast_vector_values(&table, &mut ins);
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

    // Identity ALWAYS columns reject explicit values.
    for c in &table.columns {
        if c.identity_always
            && ins
                .columns
                .iter()
                .any(|n| object_parts(n).last() == Some(&c.name))
        {
            return Err(PgError::new(
                "428C9",
                format!(
                    "cannot insert a non-DEFAULT value into column \"{}\"",
                    c.name
                ),
            )
            .with_detail(format!(
                "Column \"{}\" is an identity column defined as GENERATED ALWAYS.",
                c.name
            )));
        }
    }
    let plan = engine.plan(session, Statement::Insert(ins)).await?;
    let LogicalPlan::Dml(dml) = plan else {
        return Err(PgError::internal("INSERT did not plan as DML"));
    };
    check_assignment_types(&table, &dml.input)?;
    let batches = collect(session, (*dml.input).clone()).await?;

    // Build the full rows (serial values, constraints, keys).
    let mut rows: Vec<Vec<Datum>> = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            let mut row = batch_row(b, r)?;
            for (i, c) in table.columns.iter().enumerate() {
                if row[i].is_null() {
                    if let Some(seq) = &c.sequence {
                        let v = engine.catalog.nextval(seq).await?;
                        row[i] = match c.ty {
                            crate::catalog::SqlType::Int2 => Datum::I16(v as i16),
                            crate::catalog::SqlType::Int4 => Datum::I32(v as i32),
                            _ => Datum::I64(v),
                        };
                    }
                }
            }
            check_row(&table, &row)?;
            rows.push(row);
        }
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
            for (_, (k, v)) in entries {
                seen.insert(k.clone());
                writes.push(RowWrite {
                    key: k,
                    expect: None,
                    new: Some(v),
                });
            }
            writes.push(RowWrite {
                key: key.clone(),
                expect: None,
                new: Some(encode_row(&table, row)?),
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
        let mut count = inserted.len();
        let mut out_rows = inserted;
        if let Some(du) = &do_update {
            if !conflicting.is_empty() {
                // Rows proposed for insertion, addressed as `excluded`.
                let schema =
                    GrapeTable::new(table.clone(), engine.node.clone(), true, None).schema_ref();
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
                    quote(&alias)
                );
                if let Some(sel) = &du.selection {
                    selection = format!("{selection} AND ({sel})");
                }
                let from = format!("{}.\"excluded\" AS \"excluded\"", quote(SCRATCH_SCHEMA));
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
                        return Err(PgError::new(
                            codes::SERIALIZATION_FAILURE,
                            "could not serialize access due to concurrent update",
                        ));
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
    Err(PgError::new(
        codes::SERIALIZATION_FAILURE,
        "could not serialize access due to concurrent update",
    ))
}

enum UpdateError {
    /// A row changed between read and write: run the statement again.
    Retry,
    Pg(PgError),
}

impl From<PgError> for UpdateError {
    fn from(e: PgError) -> Self {
        UpdateError::Pg(e)
    }
}

/// Register the target table (with key and value columns) for a DML scan.
fn register_target(engine: &Engine, session: &Session, table: &Arc<Table>) -> PgResult<()> {
    let provider = GrapeTable::new(
        table.clone(),
        engine.node.clone(),
        true,
        session.grape.overlay(),
    );
    register_scratch(session, "target", Arc::new(provider))
}

/// Core of UPDATE: returns the new rows.
async fn update_rows(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    alias: &str,
    assignments: &[Assignment],
    from: Option<String>,
    selection: Option<String>,
) -> Result<Vec<Vec<Datum>>, UpdateError> {
    register_target(engine, session, table)?;
    let ncols = table.columns.len();
    let mut set_cols = Vec::new();
    let mut exprs = Vec::new();
    for (i, a) in assignments.iter().enumerate() {
        let names: Vec<String> = match &a.target {
            AssignmentTarget::ColumnName(n) => {
                vec![object_parts(n).last().cloned().unwrap_or_default()]
            }
            AssignmentTarget::Tuple(_) => {
                return Err(PgError::unsupported("multiple-column UPDATE SET").into());
            }
        };
        let name = &names[0];
        let pos = table.column_index(name).ok_or_else(|| {
            PgError::new(
                codes::UNDEFINED_COLUMN,
                format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    table.name
                ),
            )
        })?;
        let col = &table.columns[pos];
        if col.identity_always {
            return Err(PgError::new(
                "428C9",
                format!("column \"{}\" can only be updated to DEFAULT", col.name),
            )
            .into());
        }
        let value = a.value.to_string();
        let value = if value.eq_ignore_ascii_case("default") {
            col.default.clone().unwrap_or_else(|| "NULL".into())
        } else {
            value
        };
        exprs.push(format!(
            "CAST(({value}) AS {}) AS \"__set_{i}\"",
            col.ty.cast_name()
        ));
        set_cols.push(pos);
    }
    let mut sql = format!("SELECT {}.*", quote(alias));
    for e in &exprs {
        sql.push_str(", ");
        sql.push_str(e);
    }
    sql.push_str(&format!(
        " FROM {}.\"target\" AS {}",
        quote(SCRATCH_SCHEMA),
        quote(alias)
    ));
    if let Some(f) = from {
        sql.push_str(", ");
        sql.push_str(&f);
    }
    if let Some(s) = selection {
        sql.push_str(" WHERE ");
        sql.push_str(&s);
    }
    let batches = run_sql(engine, session, &sql).await?;
    let mut writes = Vec::new();
    let mut new_rows = Vec::new();
    let mut by_key: HashMap<Vec<u8>, Vec<Datum>> = HashMap::new();
    // UPDATE ... FROM can match a row more than once: it is updated once.
    for (key, stored, vals) in target_rows(&batches, ncols)? {
        let old: Vec<Datum> = decode_row(table, &stored)?;
        let mut new = old.clone();
        for (j, &pos) in set_cols.iter().enumerate() {
            new[pos] = vals[ncols + 2 + j].clone();
        }
        check_row(table, &new)?;
        let pk_changed = table.pk_positions().iter().any(|&p| old[p] != new[p]);
        let new_key = if pk_changed {
            row_key(engine, table, &new).await?
        } else {
            key.clone()
        };
        for idx in secondary(table) {
            let before = index_entry(table, idx, &old, &key)?;
            let after = index_entry(table, idx, &new, &new_key)?;
            if before != after {
                if let Some((k, v)) = before {
                    writes.push(RowWrite {
                        key: k,
                        expect: Some(v),
                        new: None,
                    });
                }
                if let Some((k, v)) = after {
                    writes.push(RowWrite {
                        key: k,
                        expect: None,
                        new: Some(v),
                    });
                }
            }
        }
        let bytes = encode_row(table, &new)?;
        if pk_changed {
            writes.push(RowWrite {
                key: key.clone(),
                expect: Some(stored),
                new: None,
            });
            writes.push(RowWrite {
                key: new_key.clone(),
                expect: None,
                new: Some(bytes),
            });
        } else {
            writes.push(RowWrite {
                key: key.clone(),
                expect: Some(stored),
                new: Some(bytes),
            });
        }
        by_key.insert(new_key, new.clone());
        new_rows.push(new);
    }
    // Moving a row onto a key (or unique value) that another changed row frees is
    // not supported in one statement; the precondition catches it.
    match engine.write(session, writes).await {
        Ok(()) => Ok(new_rows),
        Err(WriteError::Conflict(c)) => {
            if c.expected.is_none() {
                // A unique key or index value that is taken.
                Err(UpdateError::Pg(
                    conflict_error(table, &c.key, &by_key).unwrap_or_else(|| {
                        PgError::new(
                            codes::UNIQUE_VIOLATION,
                            "duplicate key value violates unique constraint",
                        )
                    }),
                ))
            } else {
                Err(UpdateError::Retry)
            }
        }
        Err(WriteError::Failed(e)) => Err(UpdateError::Pg(e)),
    }
}

fn target_of(tf: &TableFactor) -> PgResult<(Vec<String>, Option<String>)> {
    match tf {
        TableFactor::Table { name, alias, .. } => Ok((
            object_parts(name),
            alias.as_ref().map(|a| a.name.value.clone()),
        )),
        _ => Err(PgError::unsupported("UPDATE/DELETE of a derived table")),
    }
}

pub async fn update(engine: &Engine, session: &mut Session, upd: Update) -> PgResult<Output> {
    let (parts, alias) = target_of(&upd.table.relation)?;
    if !upd.table.joins.is_empty() {
        return Err(PgError::unsupported("JOIN in UPDATE target"));
    }
    let table = resolve_table(engine, session, &parts)?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let from = match &upd.from {
        Some(UpdateTableFromKind::AfterSet(f)) | Some(UpdateTableFromKind::BeforeSet(f)) => Some(
            f.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => None,
    };
    let selection = upd.selection.as_ref().map(|s| s.to_string());
    for _ in 0..MAX_RETRIES {
        match update_rows(
            engine,
            session,
            &table,
            &alias,
            &upd.assignments,
            from.clone(),
            selection.clone(),
        )
        .await
        {
            Ok(rows) => {
                let n = rows.len();
                let ret = match &upd.returning {
                    Some(items) => {
                        Some(returning(engine, session, &table, &alias, items, &rows).await?)
                    }
                    None => None,
                };
                return Ok(match ret {
                    Some((schema, batches)) => Output::Rows {
                        schema,
                        batches,
                        tag: "UPDATE".into(),
                    },
                    None => Output::Command(format!("UPDATE {n}")),
                });
            }
            Err(UpdateError::Retry) => continue,
            Err(UpdateError::Pg(e)) => return Err(e),
        }
    }
    Err(PgError::new(
        codes::SERIALIZATION_FAILURE,
        "could not serialize access due to concurrent update",
    ))
}

pub async fn delete(engine: &Engine, session: &mut Session, del: Delete) -> PgResult<Output> {
    let tables = match &del.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [target] = tables.as_slice() else {
        return Err(PgError::unsupported("DELETE from several tables"));
    };
    let (parts, alias) = target_of(&target.relation)?;
    let table = resolve_table(engine, session, &parts)?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let ncols = table.columns.len();
    for _ in 0..MAX_RETRIES {
        register_target(engine, session, &table)?;
        let mut sql = format!(
            "SELECT {}.* FROM {}.\"target\" AS {}",
            quote(&alias),
            quote(SCRATCH_SCHEMA),
            quote(&alias)
        );
        if let Some(using) = &del.using {
            for u in using {
                sql.push_str(&format!(", {u}"));
            }
        }
        if let Some(sel) = &del.selection {
            sql.push_str(&format!(" WHERE {sel}"));
        }
        let batches = run_sql(engine, session, &sql).await?;
        let mut writes = Vec::new();
        let mut rows = Vec::new();
        for (key, stored, _) in target_rows(&batches, ncols)? {
            let old = decode_row(&table, &stored)?;
            for idx in secondary(&table) {
                if let Some((k, v)) = index_entry(&table, idx, &old, &key)? {
                    writes.push(RowWrite {
                        key: k,
                        expect: Some(v),
                        new: None,
                    });
                }
            }
            writes.push(RowWrite {
                key,
                expect: Some(stored),
                new: None,
            });
            rows.push(old);
        }
        match engine.write(session, writes).await {
            Ok(()) => {}
            Err(WriteError::Conflict(_)) => continue,
            Err(WriteError::Failed(e)) => return Err(e),
        }
        let n = rows.len();
        let ret = match &del.returning {
            Some(items) => Some(returning(engine, session, &table, &alias, items, &rows).await?),
            None => None,
        };
        return Ok(match ret {
            Some((schema, batches)) => Output::Rows {
                schema,
                batches,
                tag: "DELETE".into(),
            },
            None => Output::Command(format!("DELETE {n}")),
        });
    }
    Err(PgError::new(
        codes::SERIALIZATION_FAILURE,
        "could not serialize access due to concurrent update",
    ))
}

/// Insert full rows (table column order) with no conflict handling, as COPY
/// does: fill sequences, check constraints, write rows and index entries.
/// Returns every key written (rows and index entries), for undo.
pub async fn plain_insert(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    rows: Vec<(u64, Vec<Datum>)>,
) -> PgResult<Vec<Vec<u8>>> {
    let mut writes = Vec::with_capacity(rows.len());
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut by_key: HashMap<Vec<u8>, Vec<Datum>> = HashMap::new();
    let mut keys = Vec::with_capacity(rows.len());
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
                    let v = engine.catalog.nextval(seq).await?;
                    row[i] = match c.ty {
                        crate::catalog::SqlType::Int2 => Datum::I16(v as i16),
                        crate::catalog::SqlType::Int4 => Datum::I32(v as i32),
                        _ => Datum::I64(v),
                    };
                }
            }
        }
        check_row(table, &row).map_err(with_line)?;
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
                keys.push(k.clone());
                writes.push(RowWrite {
                    key: k,
                    expect: None,
                    new: Some(v),
                });
            }
        }
        writes.push(RowWrite {
            key: key.clone(),
            expect: None,
            new: Some(encode_row(table, &row)?),
        });
        keys.push(key.clone());
        by_key.insert(key, row);
    }
    match engine.write(session, writes).await {
        Ok(()) => Ok(keys),
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
enum Family {
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

fn family(dt: &datafusion::arrow::datatypes::DataType) -> Family {
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
fn check_assignment_types(table: &Table, input: &LogicalPlan) -> PgResult<()> {
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
                    super::errors::pg_type_name(&src.to_string())
                ),
            )
            .with_hint("You will need to rewrite or cast the expression."));
        }
    }
    Ok(())
}

/// VALUES for vector columns go through the vector cast (text literals and
/// arrays become vectors, typmods are checked), as PostgreSQL's assignment
/// cast does; DataFusion has no cast from text to a vector.
fn cast_vector_values(table: &Table, ins: &mut Insert) {
    use datafusion::sql::sqlparser::ast::{Expr as E, SetExpr};
    let targets: Vec<Option<&crate::catalog::Column>> = if ins.columns.is_empty() {
        table.columns.iter().map(Some).collect()
    } else {
        ins.columns
            .iter()
            .map(|n| object_parts(n).last().and_then(|c| table.column(c)))
            .collect()
    };
    if !targets.iter().flatten().any(|c| c.ty.vector().is_some()) {
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
            let Some((kind, typmod)) = col.ty.vector() else {
                continue;
            };
            if matches!(e, E::Identifier(i) if i.value.eq_ignore_ascii_case("default")) {
                continue;
            }
            let name = match (&col.ty, kind) {
                (crate::catalog::SqlType::VarBit(_), _) => "varbit",
                (_, k) => k.name(),
            };
            let inner =
                std::mem::replace(e, E::value(datafusion::sql::sqlparser::ast::Value::Null));
            *e = super::vector::cast_call(inner, name, typmod.map_or(-1, |t| t as i64));
        }
    }
}

/// VALUES literals whose type PostgreSQL would not assign to the column
/// (`true` into an integer, `5` into a date): 42804.
fn check_values_types(
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

/// Rows of a DML scan as (row key, stored bytes, selected values), each row
/// once; the key and bytes are the two columns after the table's own.
fn target_rows(
    batches: &[RecordBatch],
    ncols: usize,
) -> PgResult<Vec<(Vec<u8>, Vec<u8>, Vec<Datum>)>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let vals = batch_row(b, r)?;
            let (Datum::Bytes(key), Datum::Bytes(stored)) =
                (vals[ncols].clone(), vals[ncols + 1].clone())
            else {
                continue;
            };
            if seen.insert(key.clone()) {
                out.push((key, stored, vals));
            }
        }
    }
    Ok(out)
}
