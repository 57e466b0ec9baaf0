//! DDL: schema, table and index changes, committed to the catalog through the
//! meta group. Data changes that DDL implies (dropping rows, backfilling
//! index entries) go to the data groups afterwards.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, CreateIndex, CreateTable,
    GeneratedAs, ObjectType, RenameTableNameKind, SchemaName, Statement, TableConstraint,
};

use super::dml::resolve_table;
use super::session::Session;
use super::{Engine, Output, object_parts};
use crate::catalog::{Catalog, Column, Index, SqlType, Table};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::exec::codec::{decode_row, encode_key, table_prefix};
use crate::exec::write::{RowWrite, WriteError, apply_writes};
use crate::shard::{Command, Op};

pub async fn execute(engine: &Engine, session: &mut Session, stmt: Statement) -> PgResult<Output> {
    match stmt {
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => {
            let name = match &schema_name {
                SchemaName::Simple(n) => object_parts(n).join("."),
                SchemaName::UnnamedAuthorization(a) => a.value.clone(),
                SchemaName::NamedAuthorization(n, _) => object_parts(n).join("."),
            };
            let created = engine
                .catalog
                .update(|cat| {
                    if cat.schemas.contains(&name) {
                        if if_not_exists {
                            return Ok(false);
                        }
                        return Err(PgError::new(
                            codes::DUPLICATE_SCHEMA,
                            format!("schema \"{name}\" already exists"),
                        ));
                    }
                    cat.schemas.insert(name.clone());
                    Ok(true)
                })
                .await?;
            if !created {
                session.notices.push(Notice::notice(
                    codes::DUPLICATE_SCHEMA,
                    format!("schema \"{name}\" already exists, skipping"),
                ));
            }
            Ok(Output::Command("CREATE SCHEMA".into()))
        }
        Statement::CreateTable(ct) => create_table(engine, session, ct).await,
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => match object_type {
            ObjectType::Table => {
                for n in &names {
                    drop_table(engine, session, &object_parts(n), if_exists).await?;
                }
                Ok(Output::Command("DROP TABLE".into()))
            }
            ObjectType::Schema => {
                for n in &names {
                    let name = object_parts(n).join(".");
                    let mut skipped = false;
                    let dropped = engine
                        .catalog
                        .update(|cat| {
                            if !cat.schemas.contains(&name) {
                                if if_exists {
                                    skipped = true;
                                    return Ok(vec![]);
                                }
                                return Err(PgError::new(codes::INVALID_SCHEMA_NAME, format!("schema \"{name}\" does not exist")));
                            }
                            let tables: Vec<Table> = cat.tables_in(&name).cloned().collect();
                            if !tables.is_empty() && !cascade {
                                return Err(PgError::new(
                                    codes::DEPENDENT_OBJECTS_STILL_EXIST,
                                    format!("cannot drop schema {name} because other objects depend on it"),
                                )
                                .with_detail(format!("table {}.{} depends on schema {name}", name, tables[0].name)));
                            }
                            for t in &tables {
                                cat.tables.remove(&t.id);
                            }
                            cat.schemas.remove(&name);
                            Ok(tables)
                        })
                        .await?;
                    if skipped {
                        session.notices.push(Notice::notice(
                            codes::SUCCESSFUL_COMPLETION,
                            format!("schema \"{name}\" does not exist, skipping"),
                        ));
                    }
                    for t in dropped {
                        purge_table_data(engine, &t).await?;
                    }
                }
                Ok(Output::Command("DROP SCHEMA".into()))
            }
            ObjectType::Index => {
                for n in &names {
                    drop_index(engine, session, &object_parts(n), if_exists).await?;
                }
                Ok(Output::Command("DROP INDEX".into()))
            }
            other => Err(PgError::unsupported(format!("DROP {other}"))),
        },
        Statement::Truncate(t) => {
            let mut tables = Vec::new();
            for target in &t.table_names {
                tables.push(resolve_table(engine, session, &object_parts(&target.name))?);
            }
            for table in tables {
                purge_table_data(engine, &table).await?;
            }
            Ok(Output::Command("TRUNCATE TABLE".into()))
        }
        Statement::CreateIndex(ci) => create_index(engine, session, ci).await,
        Statement::AlterTable(at) => {
            let parts = object_parts(&at.name);
            let table = match resolve_table(engine, session, &parts) {
                Ok(t) => t,
                Err(_) if at.if_exists => return Ok(Output::Command("ALTER TABLE".into())),
                Err(e) => return Err(e),
            };
            for op in at.operations {
                alter_table(engine, session, &table, op).await?;
            }
            Ok(Output::Command("ALTER TABLE".into()))
        }
        _ => Err(PgError::internal("not a DDL statement")),
    }
}

fn split_name(session: &Session, parts: &[String]) -> PgResult<(String, String)> {
    match parts {
        [name] => Ok((session.creation_schema()?, name.clone())),
        [schema, name] | [_, schema, name] => Ok((schema.clone(), name.clone())),
        _ => Err(PgError::syntax("improper qualified name")),
    }
}

/// Build a column from its definition; the second value says it is part of
/// the primary key, the third that it is UNIQUE.
fn column_from_def(table_id: u32, id: u32, def: &ColumnDef) -> PgResult<(Column, bool, bool)> {
    let (ty, serial) = SqlType::from_ast(&def.data_type)?;
    let name = def.name.value.clone();
    let name = if def.name.quote_style.is_some() {
        name
    } else {
        name.to_lowercase()
    };
    let mut col = Column {
        id,
        name,
        ty,
        not_null: serial,
        default: None,
        sequence: if serial {
            Some(format!("{table_id}.{id}"))
        } else {
            None
        },
        identity_always: false,
    };
    let (mut pk, mut unique) = (false, false);
    for opt in &def.options {
        match &opt.option {
            ColumnOption::NotNull => col.not_null = true,
            ColumnOption::Null => {}
            ColumnOption::Default(e) => {
                crate::exec::provider::default_expr(&e.to_string(), &col.ty)?;
                col.default = Some(e.to_string());
            }
            ColumnOption::PrimaryKey(_) => {
                pk = true;
                col.not_null = true;
            }
            ColumnOption::Unique(_) => unique = true,
            ColumnOption::Generated {
                generated_as,
                generation_expr: None,
                ..
            } => {
                if !matches!(col.ty, SqlType::Int2 | SqlType::Int4 | SqlType::Int8) {
                    return Err(PgError::new(
                        codes::DATATYPE_MISMATCH,
                        format!("identity column type must be smallint, integer, or bigint"),
                    ));
                }
                col.sequence = Some(format!("{table_id}.{id}"));
                col.not_null = true;
                col.identity_always = matches!(generated_as, GeneratedAs::Always);
            }
            other => return Err(PgError::unsupported(format!("column option {other}"))),
        }
    }
    Ok((col, pk, unique))
}

async fn create_table(engine: &Engine, session: &mut Session, ct: CreateTable) -> PgResult<Output> {
    if ct.query.is_some() {
        return Err(PgError::unsupported("CREATE TABLE AS"));
    }
    let (schema, name) = split_name(session, &object_parts(&ct.name))?;
    let created = engine
        .catalog
        .update(|cat: &mut Catalog| {
            if !cat.schemas.contains(&schema) {
                return Err(PgError::new(
                    codes::INVALID_SCHEMA_NAME,
                    format!("schema \"{schema}\" does not exist"),
                ));
            }
            if cat.table(&schema, &name).is_some() {
                if ct.if_not_exists {
                    return Ok(false);
                }
                return Err(PgError::new(
                    codes::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists"),
                ));
            }
            let id = cat.next_table_id;
            cat.next_table_id += 1;
            let mut columns: Vec<Column> = Vec::new();
            let mut pk_cols: Vec<u32> = Vec::new();
            let mut uniques: Vec<Vec<u32>> = Vec::new();
            for (i, def) in ct.columns.iter().enumerate() {
                let (col, pk, unique) = column_from_def(id, i as u32 + 1, def)?;
                if columns.iter().any(|c| c.name == col.name) {
                    return Err(PgError::new(
                        codes::DUPLICATE_COLUMN,
                        format!("column \"{}\" specified more than once", col.name),
                    ));
                }
                if pk {
                    if !pk_cols.is_empty() {
                        return Err(PgError::new(
                            codes::INVALID_TABLE_DEFINITION,
                            format!("multiple primary keys for table \"{name}\" are not allowed"),
                        ));
                    }
                    pk_cols.push(col.id);
                }
                if unique {
                    uniques.push(vec![col.id]);
                }
                columns.push(col);
            }
            let col_id = |cols: &[Column], n: &str| -> PgResult<u32> {
                cols.iter()
                    .find(|c| c.name == n)
                    .map(|c| c.id)
                    .ok_or_else(|| {
                        PgError::new(
                            codes::UNDEFINED_COLUMN,
                            format!("column \"{n}\" named in key does not exist"),
                        )
                    })
            };
            for c in &ct.constraints {
                match c {
                    TableConstraint::PrimaryKey(pk) => {
                        if !pk_cols.is_empty() {
                            return Err(PgError::new(
                                codes::INVALID_TABLE_DEFINITION,
                                format!(
                                    "multiple primary keys for table \"{name}\" are not allowed"
                                ),
                            ));
                        }
                        for ic in &pk.columns {
                            let n = ic.column.expr.to_string().trim_matches('"').to_lowercase();
                            let id = col_id(&columns, &n)?;
                            columns.iter_mut().find(|c| c.id == id).unwrap().not_null = true;
                            pk_cols.push(id);
                        }
                    }
                    TableConstraint::Unique(u) => {
                        let mut ids = Vec::new();
                        for ic in &u.columns {
                            let n = ic.column.expr.to_string().trim_matches('"').to_lowercase();
                            ids.push(col_id(&columns, &n)?);
                        }
                        uniques.push(ids);
                    }
                    other => return Err(PgError::unsupported(format!("constraint {other}"))),
                }
            }
            let mut indexes = Vec::new();
            if !pk_cols.is_empty() {
                indexes.push(Index {
                    id,
                    name: format!("{name}_pkey"),
                    columns: pk_cols.clone(),
                    unique: true,
                    primary: true,
                    vector: None,
                });
            }
            for u in uniques {
                let cols: Vec<String> = u
                    .iter()
                    .map(|id| columns.iter().find(|c| c.id == *id).unwrap().name.clone())
                    .collect();
                let idx_id = cat.next_table_id;
                cat.next_table_id += 1;
                indexes.push(Index {
                    id: idx_id,
                    name: format!("{name}_{}_key", cols.join("_")),
                    columns: u,
                    unique: true,
                    primary: false,
                    vector: None,
                });
            }
            let next_column_id = columns.len() as u32 + 1;
            cat.tables.insert(
                id,
                Table {
                    id,
                    schema: schema.clone(),
                    name: name.clone(),
                    columns,
                    primary_key: pk_cols,
                    indexes,
                    next_column_id,
                },
            );
            Ok(true)
        })
        .await?;
    if !created {
        session.notices.push(Notice::notice(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists, skipping"),
        ));
    }
    Ok(Output::Command("CREATE TABLE".into()))
}

/// Delete every row and index entry of a table on every shard.
async fn purge_table_data(engine: &Engine, table: &Table) -> PgResult<()> {
    let mut prefixes = vec![table_prefix(table.id)];
    for idx in &table.indexes {
        if !idx.primary {
            prefixes.push(table_prefix(idx.id));
        }
    }
    for g in engine.node.groups.values() {
        let ops = prefixes
            .iter()
            .map(|p| Op::DeletePrefix { prefix: p.clone() })
            .collect();
        g.propose(Command { ops }).await?;
    }
    Ok(())
}

async fn drop_table(
    engine: &Engine,
    session: &mut Session,
    parts: &[String],
    if_exists: bool,
) -> PgResult<()> {
    let table = match resolve_table(engine, session, parts) {
        Ok(t) => t,
        Err(_) if if_exists => {
            let name = parts.last().cloned().unwrap_or_default();
            session.notices.push(Notice::notice(
                codes::SUCCESSFUL_COMPLETION,
                format!("table \"{name}\" does not exist, skipping"),
            ));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    engine
        .catalog
        .update(|cat| {
            cat.tables.remove(&table.id);
            Ok(())
        })
        .await?;
    for idx in table.indexes.iter().filter(|i| i.vector.is_some()) {
        engine.vindexes.drop_index(idx.id);
    }
    purge_table_data(engine, &table).await
}

async fn drop_index(
    engine: &Engine,
    session: &mut Session,
    parts: &[String],
    if_exists: bool,
) -> PgResult<()> {
    let (schema, name) = match parts {
        [n] => (None, n.clone()),
        [s, n] | [_, s, n] => (Some(s.clone()), n.clone()),
        _ => return Err(PgError::syntax("improper qualified name")),
    };
    let cat = engine.catalog.current();
    let search = session.search_path();
    let owner = match &schema {
        Some(s) => cat.index_owner(s, &name),
        None => search.iter().find_map(|s| cat.index_owner(s, &name)),
    };
    let Some(owner) = owner.cloned() else {
        if if_exists {
            session.notices.push(Notice::notice(
                codes::SUCCESSFUL_COMPLETION,
                format!("index \"{name}\" does not exist, skipping"),
            ));
            return Ok(());
        }
        return Err(PgError::new(
            codes::UNDEFINED_OBJECT,
            format!("index \"{name}\" does not exist"),
        ));
    };
    let idx = owner
        .indexes
        .iter()
        .find(|i| i.name == name)
        .unwrap()
        .clone();
    if idx.primary {
        return Err(PgError::new(
            "2BP01",
            format!(
                "cannot drop index {name} because constraint {name} on table {} requires it",
                owner.name
            ),
        ));
    }
    engine
        .catalog
        .update(|cat| {
            if let Some(t) = cat.tables.get_mut(&owner.id) {
                t.indexes.retain(|i| i.name != name);
            }
            Ok(())
        })
        .await?;
    if idx.vector.is_some() {
        engine.vindexes.drop_index(idx.id);
        return Ok(());
    }
    for g in engine.node.groups.values() {
        g.propose(Command {
            ops: vec![Op::DeletePrefix {
                prefix: table_prefix(idx.id),
            }],
        })
        .await?;
    }
    Ok(())
}

/// Read every row of a table (for backfills and checks).
async fn for_each_row(
    engine: &Engine,
    table: &Table,
    mut f: impl FnMut(Vec<u8>, Vec<crate::exec::codec::Datum>) -> PgResult<()>,
) -> PgResult<()> {
    let prefix = table_prefix(table.id);
    let end = crate::shard::store::prefix_successor(&prefix).unwrap();
    for g in engine.node.groups.values() {
        let mut start = prefix.clone();
        loop {
            let kvs = g.scan(&start, Some(&end), 4096)?;
            let done = kvs.len() < 4096;
            for (k, v) in kvs {
                start = k.clone();
                start.push(0);
                let row = decode_row(table, &v)?;
                f(k, row)?;
            }
            if done {
                break;
            }
        }
    }
    Ok(())
}

async fn create_index(engine: &Engine, session: &mut Session, ci: CreateIndex) -> PgResult<Output> {
    if let Some(using) = &ci.using {
        let u = using.to_string().to_lowercase();
        if u == "hnsw" || u == "ivfflat" {
            return super::vector_index::create(engine, session, ci, &u).await;
        }
        if u != "btree" {
            return Err(PgError::unsupported(format!("index access method \"{u}\"")));
        }
    }
    if ci.predicate.is_some() {
        return Err(PgError::unsupported("partial indexes"));
    }
    let table = resolve_table(engine, session, &object_parts(&ci.table_name))?;
    let mut cols = Vec::new();
    for ic in &ci.columns {
        let n = ic.column.expr.to_string().trim_matches('"').to_lowercase();
        let c = table
            .column(&n)
            .ok_or_else(|| PgError::undefined_column(&n))?;
        cols.push(c.id);
    }
    let name = match &ci.name {
        Some(n) => object_parts(n).last().cloned().unwrap(),
        None => {
            let names: Vec<String> = cols
                .iter()
                .map(|c| table.column_by_id(*c).unwrap().name.clone())
                .collect();
            unused_index_name(
                engine,
                &table,
                &format!("{}_{}", table.name, names.join("_")),
            )
        }
    };
    let cat = engine.catalog.current();
    if cat
        .tables_in(&table.schema)
        .any(|t| t.name == name || t.indexes.iter().any(|i| i.name == name))
    {
        if ci.if_not_exists {
            return Ok(Output::Command("CREATE INDEX".into()));
        }
        return Err(PgError::new(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let index = engine
        .catalog
        .update(|cat| {
            let id = cat.next_table_id;
            cat.next_table_id += 1;
            let idx = Index {
                id,
                name: name.clone(),
                columns: cols.clone(),
                unique: ci.unique,
                primary: false,
                vector: None,
            };
            let t = cat
                .tables
                .get_mut(&table.id)
                .ok_or_else(|| PgError::undefined_table(&table.name))?;
            t.indexes.push(idx.clone());
            Ok(idx)
        })
        .await?;
    // Backfill entries for existing rows.
    let mut writes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut dup = None;
    for_each_row(engine, &table, |key, row| {
        let mut vals = Vec::new();
        for cid in &index.columns {
            let pos = table.columns.iter().position(|c| c.id == *cid).unwrap();
            vals.push(row[pos].clone());
        }
        if vals.iter().any(|v| v.is_null()) {
            return Ok(());
        }
        let mut ikey = encode_key(index.id, &vals)?;
        if index.unique {
            if !seen.insert(ikey.clone()) && dup.is_none() {
                dup = Some(vals);
            }
            writes.push(RowWrite {
                key: ikey,
                expect: None,
                new: Some(key),
            });
        } else {
            ikey.extend_from_slice(&key);
            writes.push(RowWrite {
                key: ikey,
                expect: None,
                new: Some(key),
            });
        }
        Ok(())
    })
    .await?;
    let failed = if let Some(vals) = dup {
        Some(
            PgError::new(
                codes::UNIQUE_VIOLATION,
                format!("could not create unique index \"{name}\""),
            )
            .with_detail(format!("Key ({:?}) is duplicated.", vals)),
        )
    } else {
        match apply_writes(&engine.node, writes).await {
            Ok(_) => None,
            Err(WriteError::Conflict(_)) => Some(PgError::new(
                codes::UNIQUE_VIOLATION,
                format!("could not create unique index \"{name}\""),
            )),
            Err(WriteError::Failed(e)) => Some(e),
        }
    };
    if let Some(e) = failed {
        engine
            .catalog
            .update(|cat| {
                if let Some(t) = cat.tables.get_mut(&table.id) {
                    t.indexes.retain(|i| i.id != index.id);
                }
                Ok(())
            })
            .await?;
        for g in engine.node.groups.values() {
            g.propose(Command {
                ops: vec![Op::DeletePrefix {
                    prefix: table_prefix(index.id),
                }],
            })
            .await?;
        }
        return Err(e);
    }
    Ok(Output::Command("CREATE INDEX".into()))
}

async fn alter_table(
    engine: &Engine,
    session: &mut Session,
    table: &Arc<Table>,
    op: AlterTableOperation,
) -> PgResult<()> {
    let tid = table.id;
    match op {
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => {
            let n = column_def.name.value.to_lowercase();
            if table.column(&n).is_some() {
                if if_not_exists {
                    return Ok(());
                }
                return Err(PgError::new(
                    codes::DUPLICATE_COLUMN,
                    format!(
                        "column \"{n}\" of relation \"{}\" already exists",
                        table.name
                    ),
                ));
            }
            let (col, pk, unique) = column_from_def(tid, table.next_column_id, &column_def)?;
            if pk || unique {
                return Err(PgError::unsupported(
                    "ADD COLUMN with PRIMARY KEY or UNIQUE",
                ));
            }
            let mut has_rows = false;
            for_each_row(engine, table, |_, _| {
                has_rows = true;
                Ok(())
            })
            .await?;
            if has_rows && col.not_null && col.default.is_none() && col.sequence.is_none() {
                return Err(PgError::new(
                    codes::NOT_NULL_VIOLATION,
                    format!(
                        "column \"{}\" of relation \"{}\" contains null values",
                        col.name, table.name
                    ),
                ));
            }
            let fill = col.default.clone();
            let name = col.name.clone();
            engine
                .catalog
                .update(|cat| {
                    let t = cat
                        .tables
                        .get_mut(&tid)
                        .ok_or_else(|| PgError::undefined_table(&table.name))?;
                    t.next_column_id += 1;
                    let mut c = col.clone();
                    c.not_null = false; // enforced below once existing rows are filled
                    t.columns.push(c);
                    Ok(())
                })
                .await?;
            if has_rows {
                if let Some(fill) = fill {
                    let sql = format!(
                        "UPDATE {}.{} SET \"{name}\" = {fill}",
                        quote(&table.schema),
                        quote(&table.name)
                    );
                    let stmt = super::parse(&sql)?.pop().unwrap();
                    Box::pin(engine.execute(session, stmt)).await?;
                }
            }
            if col.not_null {
                engine
                    .catalog
                    .update(|cat| {
                        if let Some(c) = cat
                            .tables
                            .get_mut(&tid)
                            .and_then(|t| t.columns.iter_mut().find(|c| c.name == name))
                        {
                            c.not_null = true;
                        }
                        Ok(())
                    })
                    .await?;
            }
            Ok(())
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            ..
        } => {
            for c in column_names {
                let n = c.value.to_lowercase();
                let Some(col) = table.column(&n) else {
                    if if_exists {
                        continue;
                    }
                    return Err(PgError::new(
                        codes::UNDEFINED_COLUMN,
                        format!(
                            "column \"{n}\" of relation \"{}\" does not exist",
                            table.name
                        ),
                    ));
                };
                if table.primary_key.contains(&col.id) {
                    return Err(PgError::unsupported("dropping a primary-key column"));
                }
                let cid = col.id;
                let dropped_idx: Vec<u32> = table
                    .indexes
                    .iter()
                    .filter(|i| i.columns.contains(&cid))
                    .map(|i| i.id)
                    .collect();
                engine
                    .catalog
                    .update(|cat| {
                        let t = cat.tables.get_mut(&tid).unwrap();
                        t.columns.retain(|c| c.id != cid);
                        t.indexes.retain(|i| !i.columns.contains(&cid));
                        Ok(())
                    })
                    .await?;
                for id in dropped_idx {
                    for g in engine.node.groups.values() {
                        g.propose(Command {
                            ops: vec![Op::DeletePrefix {
                                prefix: table_prefix(id),
                            }],
                        })
                        .await?;
                    }
                }
            }
            Ok(())
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let old = old_column_name.value.to_lowercase();
            let new = new_column_name.value.clone();
            if table.column(&old).is_none() {
                return Err(PgError::undefined_column(&old));
            }
            if table.column(&new).is_some() {
                return Err(PgError::new(
                    codes::DUPLICATE_COLUMN,
                    format!(
                        "column \"{new}\" of relation \"{}\" already exists",
                        table.name
                    ),
                ));
            }
            engine
                .catalog
                .update(|cat| {
                    let t = cat.tables.get_mut(&tid).unwrap();
                    t.columns.iter_mut().find(|c| c.name == old).unwrap().name = new.clone();
                    Ok(())
                })
                .await
        }
        AlterTableOperation::RenameTable { table_name } => {
            let n = match table_name {
                RenameTableNameKind::As(n) | RenameTableNameKind::To(n) => {
                    object_parts(&n).last().cloned().unwrap()
                }
            };
            engine
                .catalog
                .update(|cat| {
                    if cat.table(&table.schema, &n).is_some() {
                        return Err(PgError::new(
                            codes::DUPLICATE_TABLE,
                            format!("relation \"{n}\" already exists"),
                        ));
                    }
                    cat.tables.get_mut(&tid).unwrap().name = n.clone();
                    Ok(())
                })
                .await
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let n = column_name.value.to_lowercase();
            let col = table
                .column(&n)
                .ok_or_else(|| PgError::undefined_column(&n))?
                .clone();
            match op {
                AlterColumnOperation::SetNotNull => {
                    let pos = table.column_index(&n).unwrap();
                    let mut has_null = false;
                    for_each_row(engine, table, |_, row| {
                        has_null |= row[pos].is_null();
                        Ok(())
                    })
                    .await?;
                    if has_null {
                        return Err(PgError::new(
                            codes::NOT_NULL_VIOLATION,
                            format!(
                                "column \"{n}\" of relation \"{}\" contains null values",
                                table.name
                            ),
                        ));
                    }
                }
                AlterColumnOperation::DropNotNull => {
                    if table.primary_key.contains(&col.id) {
                        return Err(PgError::new(
                            codes::INVALID_TABLE_DEFINITION,
                            format!("column \"{n}\" is in a primary key"),
                        ));
                    }
                }
                AlterColumnOperation::SetDefault { ref value } => {
                    crate::exec::provider::default_expr(&value.to_string(), &col.ty)?;
                }
                AlterColumnOperation::DropDefault => {}
                other => return Err(PgError::unsupported(format!("ALTER COLUMN {other}"))),
            }
            engine
                .catalog
                .update(|cat| {
                    let c = cat
                        .tables
                        .get_mut(&tid)
                        .unwrap()
                        .columns
                        .iter_mut()
                        .find(|c| c.name == n)
                        .unwrap();
                    match &op {
                        AlterColumnOperation::SetNotNull => c.not_null = true,
                        AlterColumnOperation::DropNotNull => c.not_null = false,
                        AlterColumnOperation::SetDefault { value } => {
                            c.default = Some(value.to_string())
                        }
                        AlterColumnOperation::DropDefault => c.default = None,
                        _ => {}
                    }
                    Ok(())
                })
                .await
        }
        other => Err(PgError::unsupported(format!("ALTER TABLE {other}"))),
    }
}

fn quote(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// PostgreSQL's name for an unnamed index: `<base>_idx`, or `<base>_idx1`,
/// `<base>_idx2`, ... when that is taken in the table's schema.
pub fn unused_index_name(engine: &Engine, table: &crate::catalog::Table, base: &str) -> String {
    let cat = engine.catalog.current();
    let taken = |n: &str| {
        cat.tables_in(&table.schema)
            .any(|t| t.name == n || t.indexes.iter().any(|i| i.name == n))
    };
    let mut name = format!("{base}_idx");
    let mut i = 1;
    while taken(&name) {
        name = format!("{base}_idx{i}");
        i += 1;
    }
    name
}
