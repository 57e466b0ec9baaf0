//! CREATE INDEX (secondary indexes: backfilled, then in use) and DROP INDEX;
//! vector indexes are `vector_index`.

use datafusion::sql::sqlparser::ast::CreateIndex;

use super::common::*;
use super::vector_index::unused_index_name;
use crate::catalog::Index;
use crate::dataplane::Op;
use crate::dataplane::write::{RowWrite, WriteError, apply_writes, on_every_shard};
use crate::encoding::{encode_key, table_prefix};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::dml::resolve_table;
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
        match apply_writes(&engine.data, writes, None).await {
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
        let prefix = table_prefix(index.id);
        on_every_shard(engine.data.as_ref(), vec![Op::DeletePrefix { prefix }]).await?;
        return Err(e);
    }
    Ok(Output::Command("CREATE INDEX".into()))
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
    let prefixes = match idx.vector {
        Some(_) => vec![],
        None => vec![table_prefix(idx.id)],
    };
    engine
        .catalog
        .update_and_purge(|cat| {
            if let Some(t) = cat.tables.get_mut(&owner.id) {
                t.indexes.retain(|i| i.name != name);
            }
            Ok(((), prefixes.clone()))
        })
        .await?;
    if idx.vector.is_some() {
        engine.vindexes.drop_index(idx.id);
    }
    super::common::purge(engine, prefixes).await
}
