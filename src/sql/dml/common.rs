//! What INSERT, UPDATE and DELETE share: the target table, row checks,
//! row keys and index entries, constraint errors, RETURNING.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{Insert, SelectItem, TableFactor, TableObject};

use crate::catalog::locks::LockMode;
use crate::catalog::{Index, Table};
use crate::dataplane::write::RowWrite;
use crate::encoding::{encode_key, encode_row};
use crate::error::{PgError, PgResult, codes};
use crate::exec::GrapeTable;
use crate::exec::catalog_provider::SCRATCH_SCHEMA;
use crate::sql::errors::df_error;
use crate::sql::session::Session;
use crate::sql::{Engine, object_parts};
use crate::types::Datum;
use crate::types::datum::{batch_row, rows_to_batch};
use crate::types::text::quote_ident;

/// The table an INSERT writes.
pub(super) fn table_of_insert(ins: &Insert) -> PgResult<Vec<String>> {
    match &ins.table {
        TableObject::TableName(n) => Ok(object_parts(n)),
        _ => Err(PgError::unsupported("INSERT into a table function")),
    }
}

/// How many times a statement is re-run when a row it read changed before its write.
pub(super) const MAX_RETRIES: usize = 20;

/// The table `parts` names, as this session sees the catalog (its
/// block's uncommitted DDL included).
pub fn resolve_table(
    _engine: &Engine,
    session: &Session,
    parts: &[String],
) -> PgResult<Arc<Table>> {
    let cat = session.catalog();
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

/// [`resolve_table`], then lock the table in `mode` for the rest of the
/// statement (or block) and read its definition again: a DDL that
/// committed while we waited (a TRUNCATE gives the table new ids) wins.
pub async fn lock_table(
    engine: &Engine,
    session: &Session,
    parts: &[String],
    mode: LockMode,
) -> PgResult<Arc<Table>> {
    let mut table = resolve_table(engine, session, parts)?;
    loop {
        session.locks().acquire(table.id, mode).await?;
        let now = resolve_table(engine, session, parts)?;
        if now.id == table.id {
            return Ok(now);
        }
        table = now;
    }
}

/// Check NOT NULL and length limits of a full row.
pub(super) fn check_row(table: &Table, row: &[Datum]) -> PgResult<()> {
    for (c, v) in table.columns.iter().zip(row) {
        if c.not_null && v.is_null() {
            return Err(PgError::new(
                codes::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    c.name, table.name
                ),
            )
            .with_detail(format!("Failing row contains ({}).", row_text(row)))
            .on_column(&table.schema, &table.name, &c.name));
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

pub(super) fn datum_text(d: &Datum) -> String {
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

pub fn row_text(row: &[Datum]) -> String {
    row.iter().map(datum_text).collect::<Vec<_>>().join(", ")
}

/// The row key: primary key values, or a fresh hidden row id.
pub(super) async fn row_key(engine: &Engine, table: &Table, row: &[Datum]) -> PgResult<Vec<u8>> {
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

/// The writes that change a row (UPDATE), also under a changed table
/// definition (ALTER COLUMN TYPE: `old` and `new` differ): `stored` is
/// the row's value under `key` by `old`'s definition, `new_row` its
/// values by `new`'s. The row moves when its key changes; index entries
/// change where they differ. Returns the row's new key and the writes.
pub fn row_change_writes(
    (old, new): (&Table, &Table),
    key: Vec<u8>,
    stored: Vec<u8>,
    old_row: &[Datum],
    new_row: &[Datum],
) -> PgResult<(Vec<u8>, Vec<RowWrite>)> {
    let new_key = if new.primary_key.is_empty() {
        key.clone()
    } else {
        let vals: Vec<Datum> = new
            .pk_positions()
            .iter()
            .map(|&i| new_row[i].clone())
            .collect();
        encode_key(new.id, &vals)?
    };
    let mut writes = Vec::new();
    for (idx_old, idx_new) in secondary(old).zip(secondary(new)) {
        let before = index_entry(old, idx_old, old_row, &key)?;
        let after = index_entry(new, idx_new, new_row, &new_key)?;
        if before != after {
            if let Some((k, v)) = before {
                writes.push(entry_write(idx_old, k, Some(v), None));
            }
            if let Some((k, v)) = after {
                writes.push(entry_write(idx_new, k, None, Some(v)));
            }
        }
    }
    let bytes = encode_row(new, new_row)?;
    if new_key != key {
        writes.push(RowWrite {
            key,
            expect: Some(stored),
            new: None,
            blind: false,
        });
        writes.push(RowWrite {
            key: new_key.clone(),
            expect: None,
            new: Some(bytes),
            blind: false,
        });
    } else {
        writes.push(RowWrite {
            key,
            expect: Some(stored),
            new: Some(bytes),
            blind: false,
        });
    }
    Ok((new_key, writes))
}

/// Index entry of a row: key and value (None when the row has NULL in the index).
pub fn index_entry(
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

/// The write of an index entry. For an index being built online it is
/// blind (the build may or may not have written the entry yet), except
/// a unique entry's insert, which still checks that the value is free.
pub fn entry_write(
    idx: &Index,
    key: Vec<u8>,
    expect: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
) -> RowWrite {
    let blind = idx.building && !(idx.unique && new.is_some());
    RowWrite {
        key,
        expect,
        new,
        blind,
    }
}

pub fn secondary(table: &Table) -> impl Iterator<Item = &Index> {
    table
        .indexes
        .iter()
        .filter(|i| !i.primary && i.vector.is_none())
}

pub(super) fn unique_violation(
    table: &Table,
    idx_name: &str,
    cols: &[String],
    vals: &[Datum],
) -> PgError {
    PgError::new(
        codes::UNIQUE_VIOLATION,
        format!("duplicate key value violates unique constraint \"{idx_name}\""),
    )
    .with_detail(format!(
        "Key ({})=({}) already exists.",
        cols.join(", "),
        row_text(vals)
    ))
    .on_constraint(&table.schema, &table.name, idx_name)
}

/// Describe which constraint a failed write precondition belongs to.
pub(super) fn conflict_error(
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
        return Some(unique_violation(table, &name, &cols, &vals));
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
                return Some(unique_violation(table, &idx.name, &cols, &vals));
            }
        }
    }
    Some(
        PgError::new(
            codes::UNIQUE_VIOLATION,
            format!(
                "duplicate key value violates unique constraint \"{}\"",
                idx.name
            ),
        )
        .on_constraint(&table.schema, &table.name, &idx.name),
    )
}

/// Execute a planned query and collect its rows.
pub(super) async fn collect(session: &Session, plan: LogicalPlan) -> PgResult<Vec<RecordBatch>> {
    let df = session
        .ctx
        .execute_logical_plan(plan)
        .await
        .map_err(df_error)?;
    df.collect().await.map_err(df_error)
}

pub async fn run_sql(engine: &Engine, session: &Session, sql: &str) -> PgResult<Vec<RecordBatch>> {
    let mut stmts = crate::sql::parse(sql)?;
    let stmt = stmts
        .pop()
        .ok_or_else(|| PgError::internal("empty internal statement"))?;
    let plan = engine.plan(session, stmt).await?;
    collect(session, plan).await
}

pub(super) fn register_scratch(
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
pub(super) async fn returning(
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
        quote_ident(SCRATCH_SCHEMA),
        quote_ident(alias)
    );
    let mut stmts = crate::sql::parse(&sql)?;
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

/// `SELECT alias.* FROM <scratch>."target" AS alias`: the DML scan of the
/// table [`register_target`] registered (callers add FROM and WHERE).
pub(super) fn target_scan_sql(alias: &str) -> String {
    format!(
        "SELECT {}.* FROM {}.\"target\" AS {}",
        quote_ident(alias),
        quote_ident(SCRATCH_SCHEMA),
        quote_ident(alias)
    )
}

/// Register the target table (with key and value columns) for a DML scan.
pub(super) fn register_target(session: &Session, table: &Arc<Table>) -> PgResult<()> {
    let provider = GrapeTable::new(
        table.clone(),
        session.grape.data(),
        true,
        session.grape.overlay(),
    );
    register_scratch(session, "target", Arc::new(provider))
}

/// Rows of a DML scan as (row key, stored bytes, selected values), each row
/// once; the key and bytes are the two columns after the table's own.
pub(super) fn target_rows(
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

/// The table an UPDATE, DELETE or FOR UPDATE names, and its alias.
pub(super) fn target_of(tf: &TableFactor) -> PgResult<(Vec<String>, Option<String>)> {
    match tf {
        TableFactor::Table { name, alias, .. } => Ok((
            object_parts(name),
            alias.as_ref().map(|a| a.name.value.clone()),
        )),
        _ => Err(PgError::unsupported("UPDATE/DELETE of a derived table")),
    }
}
