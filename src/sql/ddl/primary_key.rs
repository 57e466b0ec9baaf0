//! ALTER TABLE ... ADD [CONSTRAINT name] PRIMARY KEY (columns): what
//! pg_dump writes after a table's rows are loaded. A table without a
//! primary key keys its rows by a hidden row id; with one, by the key's
//! values. So, as TRUNCATE does, the table gets new ids (empty key spaces)
//! in the statement's block: every row is written again under its key,
//! with its secondary index entries, and the old key spaces are purged
//! once the block commits. NULLs (23502) and repeated keys (23505) are
//! found before anything is written, as PostgreSQL's index build finds
//! them.

use std::collections::HashSet;

use super::common::{change_and_purge, table_prefixes, visible_stored_rows};
use crate::catalog::{Index, Table};
use crate::dataplane::rows::WriteError;
use crate::encoding::{decode_row, encode_key, encode_row};
use crate::error::{PgError, PgResult, codes};
use crate::sql::Engine;
use crate::sql::session::Session;

pub(super) async fn add_primary_key(
    engine: &Engine,
    session: &mut Session,
    table: &Table,
    name: Option<String>,
    columns: &[String],
) -> PgResult<()> {
    if !table.primary_key.is_empty() {
        return Err(PgError::new(
            codes::INVALID_TABLE_DEFINITION,
            format!(
                "multiple primary keys for table \"{}\" are not allowed",
                table.name
            ),
        ));
    }
    // As PostgreSQL: not under deferred foreign-key checks of its rows.
    let pending = session.block().is_some_and(|b| {
        b.pending_fks.iter().any(|p| {
            let (crate::sql::session::PendingFk::References { table: t, .. }
            | crate::sql::session::PendingFk::Referenced { table: t, .. }) = p;
            *t == table.id
        })
    });
    if pending {
        return Err(PgError::new(
            "55006",
            format!(
                "cannot ALTER TABLE \"{}\" because it has pending trigger events",
                table.name
            ),
        ));
    }
    // A vector index keeps the rows' keys in its graph.
    if table.indexes.iter().any(|i| i.vector.is_some()) {
        return Err(
            PgError::unsupported("adding a primary key to a table with a vector index")
                .with_hint("Add the primary key first, then create the vector index."),
        );
    }
    let mut ids = Vec::new();
    for c in columns {
        let col = table.column(c).ok_or_else(|| {
            PgError::new(
                codes::UNDEFINED_COLUMN,
                format!(
                    "column \"{c}\" of relation \"{}\" does not exist",
                    table.name
                ),
            )
        })?;
        if ids.contains(&col.id) {
            return Err(PgError::new(
                codes::DUPLICATE_COLUMN,
                format!("column \"{c}\" appears twice in primary key constraint"),
            ));
        }
        ids.push(col.id);
    }
    let cat = session.catalog();
    let name = name.unwrap_or_else(|| {
        super::constraint::constraint_name(&cat, &table.schema, &table.name, &[], "pkey", &[])
    });
    if cat
        .tables_in(&table.schema)
        .any(|t| t.indexes.iter().any(|i| i.name == name))
        || cat.relation_exists(&table.schema, &name)
        || cat.table(&table.schema, &name).is_some()
    {
        return Err(PgError::new(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let positions: Vec<usize> = ids
        .iter()
        .map(|id| {
            table
                .columns
                .iter()
                .position(|c| c.id == *id)
                .expect("found above")
        })
        .collect();
    let index = Index {
        id: table.id,
        name: name.clone(),
        columns: ids.clone(),
        unique: true,
        primary: true,
        vector: None,
        building: false,
        constraint: true,
    };

    // Every row, checked before anything is written.
    let stored = visible_stored_rows(engine, session, table).await?;
    let rows: Vec<Vec<crate::types::Datum>> = stored
        .iter()
        .map(|(_, v)| decode_row(table, v))
        .collect::<PgResult<_>>()?;
    let mut seen = HashSet::new();
    for row in &rows {
        if let Some(&p) = positions.iter().find(|&&p| row[p].is_null()) {
            return Err(PgError::new(
                codes::NOT_NULL_VIOLATION,
                format!(
                    "column \"{}\" of relation \"{}\" contains null values",
                    table.columns[p].name, table.name
                ),
            )
            .on_column(&table.schema, &table.name, &table.columns[p].name));
        }
        let key: Vec<crate::types::Datum> = positions.iter().map(|&p| row[p].clone()).collect();
        if !seen.insert(encode_key(0, &key)?) {
            return Err(super::build::duplicated(&index, table, row));
        }
    }

    // The table under new ids, keyed by the primary key.
    let (old_id, new) = change_and_purge(engine, session, |cat| {
        let Some(now) = cat.tables.get(&table.id) else {
            return Err(PgError::undefined_table(&table.name));
        };
        if now.columns != table.columns || now.indexes != table.indexes {
            return Err(PgError::new(
                codes::SERIALIZATION_FAILURE,
                format!("table \"{}\" was changed concurrently", table.name),
            ));
        }
        let prefixes = table_prefixes(now);
        let new_id = cat.move_to_new_ids(table.id).expect("found above");
        let now = cat.tables.get_mut(&new_id).expect("just moved");
        let mut pk = index.clone();
        pk.id = new_id;
        now.indexes.insert(0, pk);
        now.primary_key = ids.clone();
        for c in now.columns.iter_mut() {
            if ids.contains(&c.id) {
                c.not_null = true;
            }
        }
        Ok(((table.id, now.clone()), prefixes))
    })
    .await?;
    if let Some(b) = session.block_mut() {
        crate::sql::session::PendingFk::renumber(&mut b.pending_fks, old_id, new.id);
    }

    let mut writes = Vec::new();
    for row in &rows {
        let key_values: Vec<crate::types::Datum> =
            positions.iter().map(|&p| row[p].clone()).collect();
        let key = encode_key(new.id, &key_values)?;
        for idx in crate::sql::dml::secondary(&new) {
            if let Some((k, v)) = crate::sql::dml::index_entry(&new, idx, row, &key)? {
                writes.push(crate::sql::dml::entry_write(idx, k, None, Some(v)));
            }
        }
        writes.push(crate::dataplane::rows::RowWrite {
            key,
            expect: None,
            new: Some(encode_row(&new, row)?),
            blind: false,
        });
    }
    match engine.write(session, writes).await {
        Ok(()) => Ok(()),
        Err(WriteError::Conflict(_)) => Err(PgError::new(
            codes::UNIQUE_VIOLATION,
            format!("could not create unique index \"{name}\""),
        )),
        Err(WriteError::Failed(e)) => Err(e),
    }
}
