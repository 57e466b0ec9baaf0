//! CREATE INDEX (secondary indexes: backfilled, then in use) and DROP INDEX;
//! vector indexes are `vector_index`.

use datafusion::sql::sqlparser::ast::{CreateIndex, Expr, IndexColumn};

use super::common::*;
use super::vector_index::unused_index_name;
use crate::catalog::Index;
use crate::catalog::locks::LockMode;
use crate::dataplane::write::{RowWrite, WriteError};
use crate::encoding::{encode_key, table_prefix};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::dml::lock_table;
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};

pub(super) async fn create_index(
    engine: &Engine,
    session: &mut Session,
    ci: CreateIndex,
) -> PgResult<Output> {
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
    if ci.concurrently && session.block().is_some_and(|b| !b.implicit) {
        return Err(PgError::new(
            codes::ACTIVE_SQL_TRANSACTION,
            "CREATE INDEX CONCURRENTLY cannot run inside a transaction block",
        ));
    }
    let columns = ci.columns.iter().map(column_name).collect();
    let spec = BtreeIndex {
        name: ci.name.as_ref().and_then(|n| object_parts(n).pop()),
        columns,
        unique: ci.unique,
        constraint: false,
        if_not_exists: ci.if_not_exists,
    };
    create_btree(engine, session, &object_parts(&ci.table_name), spec).await?;
    Ok(Output::Command("CREATE INDEX".into()))
}

/// The column an index key names (folded unless quoted).
pub(super) fn column_name(ic: &IndexColumn) -> String {
    match &ic.column.expr {
        Expr::Identifier(i) => ident_name(i),
        other => other.to_string().trim_matches('"').to_lowercase(),
    }
}

/// A B-tree index to build: CREATE INDEX's, or the one behind a UNIQUE
/// constraint ALTER TABLE adds (`constraint`: pg_constraint lists it).
pub(super) struct BtreeIndex {
    /// None: PostgreSQL's name for it (`t_a_b_idx`, `t_a_b_key`).
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub unique: bool,
    pub constraint: bool,
    pub if_not_exists: bool,
}

/// Build a B-tree index on the table `table` names: its entries for the
/// rows there are, a unique one refused (23505) if two rows share a key.
pub(super) async fn create_btree(
    engine: &Engine,
    session: &mut Session,
    table: &[String],
    spec: BtreeIndex,
) -> PgResult<()> {
    // Outside a block (its own implicit one) CREATE INDEX builds the
    // index while writes go on (`build`); in a block, writers wait until
    // the index commits with its entries (PostgreSQL's CREATE INDEX lock).
    // A constraint's index is always built with its ALTER TABLE (which
    // holds the table exclusively anyway): it commits or fails with the
    // statement's other changes.
    let online = !spec.constraint && session.block().is_some_and(|b| b.implicit);
    let mode = if online {
        LockMode::ShareUpdateExclusive
    } else {
        LockMode::Share
    };
    let table = lock_table(engine, session, table, mode).await?;
    let mut cols = Vec::new();
    for n in &spec.columns {
        let c = table
            .column(n)
            .ok_or_else(|| PgError::undefined_column(n))?;
        cols.push(c.id);
    }
    let name = match spec.name {
        Some(n) => n,
        None => unused_index_name(
            session,
            &table,
            &format!("{}_{}", table.name, spec.columns.join("_")),
            if spec.constraint { "key" } else { "idx" },
        ),
    };
    let cat = session.catalog();
    if cat
        .tables_in(&table.schema)
        .any(|t| t.name == name || t.indexes.iter().any(|i| i.name == name))
    {
        if spec.if_not_exists {
            return Ok(());
        }
        return Err(PgError::new(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    if spec.constraint && table.has_constraint(&name) {
        return Err(PgError::new(
            codes::DUPLICATE_OBJECT,
            format!(
                "constraint \"{name}\" for relation \"{}\" already exists",
                table.name
            ),
        ));
    }
    if online {
        let index = Index {
            id: 0,
            name: name.clone(),
            columns: cols.clone(),
            unique: spec.unique,
            primary: false,
            vector: None,
            building: true,
            constraint: spec.constraint,
        };
        return super::build::online(engine, session, &table, index).await;
    }
    let index = change(engine, session, |cat| {
        let id = cat.next_table_id;
        cat.next_table_id += 1;
        let idx = Index {
            id,
            name: name.clone(),
            columns: cols.clone(),
            unique: spec.unique,
            primary: false,
            vector: None,
            building: false,
            constraint: spec.constraint,
        };
        let t = cat
            .tables
            .get_mut(&table.id)
            .ok_or_else(|| PgError::undefined_table(&table.name))?;
        t.indexes.push(idx.clone());
        Ok(idx)
    })
    .await?;
    // Entries for the rows as this block sees them, written with the
    // block: the index and its entries commit together, so a crash or an
    // error leaves no index (and no half-filled one) behind.
    let mut writes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (key, row) in visible_rows(engine, session, &table).await? {
        let mut vals = Vec::new();
        for cid in &index.columns {
            let pos = table.columns.iter().position(|c| c.id == *cid).unwrap();
            vals.push(row[pos].clone());
        }
        if vals.iter().any(|v| v.is_null()) {
            continue;
        }
        let mut ikey = encode_key(index.id, &vals)?;
        if index.unique {
            if !seen.insert(ikey.clone()) {
                let cols: Vec<String> = index
                    .columns
                    .iter()
                    .filter_map(|c| table.column_by_id(*c))
                    .map(|c| c.name.clone())
                    .collect();
                return Err(PgError::new(
                    codes::UNIQUE_VIOLATION,
                    format!("could not create unique index \"{name}\""),
                )
                .with_detail(format!(
                    "Key ({})=({}) is duplicated.",
                    cols.join(", "),
                    crate::sql::dml::row_text(&vals)
                ))
                .on_constraint(&table.schema, &table.name, &name));
            }
        } else {
            ikey.extend_from_slice(&key);
        }
        writes.push(RowWrite {
            key: ikey,
            expect: None,
            new: Some(key),
            blind: false,
        });
    }
    match engine.write(session, writes).await {
        Ok(()) => Ok(()),
        Err(WriteError::Conflict(_)) => Err(PgError::new(
            codes::UNIQUE_VIOLATION,
            format!("could not create unique index \"{name}\""),
        )
        .on_constraint(&table.schema, &table.name, &name)),
        Err(WriteError::Failed(e)) => Err(e),
    }
}

pub(super) async fn drop_index(
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
    let cat = session.catalog();
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
    // A foreign key's referenced key needs its unique index.
    if let Some((child, fk)) = cat.referencing(owner.id).find(|(_, f)| {
        idx.unique
            && f.ref_columns.len() == idx.columns.len()
            && f.ref_columns.iter().all(|c| idx.columns.contains(c))
    }) {
        return Err(PgError::new(
            codes::DEPENDENT_OBJECTS_STILL_EXIST,
            format!(
                "cannot drop constraint {name} on table {} because other objects depend on it",
                owner.name
            ),
        )
        .with_detail(format!(
            "constraint {} on table {} depends on index {name}",
            fk.name, child.name
        ))
        .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
    }
    if idx.primary {
        return Err(PgError::new(
            "2BP01",
            format!(
                "cannot drop index {name} because constraint {name} on table {} requires it",
                owner.name
            ),
        ));
    }
    lock_for_ddl(engine, session, &[owner.schema.clone(), owner.name.clone()]).await?;
    let prefixes = match idx.vector {
        Some(_) => vec![],
        None => vec![table_prefix(idx.id)],
    };
    change_and_purge(engine, session, |cat| {
        if let Some(t) = cat.tables.get_mut(&owner.id) {
            t.indexes.retain(|i| i.name != name);
        }
        Ok(((), prefixes))
    })
    .await
}
