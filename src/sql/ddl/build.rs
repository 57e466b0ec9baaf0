//! CREATE INDEX outside a transaction block, while writes go on: F1's
//! schema-change states (docs/transactions.md).
//!
//! 1. The index is committed as `building` (write-only): writers maintain
//!    its entries, blindly (the build may or may not have written an entry
//!    yet; a unique entry's insert still checks the value is free), and
//!    queries do not use it.
//! 2. Wait for the sessions that hold the table for writing now: they may
//!    have planned without the index.
//! 3. Backfill the rows of a snapshot taken after that, page by page: each
//!    page is one transaction that locks every row at its newest version
//!    and writes its entry (a row changed meanwhile: the page is read
//!    again).
//! 4. Check at a new snapshot that the entries and the rows agree one to
//!    one, then make the index public.
//!
//! An error or a cancel drops the index again; a crash leaves a `building`
//! index that the next start drops. No query ever uses it before step 4.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::locks::LockMode;
use crate::catalog::{CatalogStore, Index, Table};
use crate::dataplane::write::{RowWrite, WriteError, on_every_shard};
use crate::dataplane::{AtSnapshot, Op, ShardAccess, Txn};
use crate::encoding::{decode_row, prefix_successor, table_prefix};
use crate::error::{PgError, PgResult, codes};
use crate::sql::Engine;
use crate::sql::dml::index_entry;
use crate::sql::session::Session;

/// Rows per backfill transaction (small: rows that writers change while
/// the page is written make it go again).
const PAGE: usize = 256;
/// Times a page is tried again after rows in it changed.
const PAGE_TRIES: usize = 1000;

/// Drops the index unless the build finished (an error, or the statement
/// cancelled mid-way).
struct Unfinished {
    catalog: Arc<CatalogStore>,
    data: Arc<dyn ShardAccess>,
    table: u32,
    index: u32,
    done: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (catalog, data, table, index) = (
            self.catalog.clone(),
            self.data.clone(),
            self.table,
            self.index,
        );
        tokio::spawn(async move {
            let prefix = table_prefix(index);
            let dropped = catalog
                .update_and_purge(|cat| {
                    if let Some(t) = cat.tables.get_mut(&table) {
                        t.indexes.retain(|i| i.id != index);
                    }
                    Ok(((), vec![prefix.clone()]))
                })
                .await;
            let purged = match dropped {
                Ok(()) => on_every_shard(
                    data.as_ref(),
                    vec![Op::DeletePrefix {
                        prefix: prefix.clone(),
                    }],
                )
                .await
                .map_err(PgError::from),
                Err(e) => Err(e),
            };
            match purged {
                Ok(()) => {
                    let _ = catalog.purged(&[prefix]).await;
                }
                Err(e) => {
                    tracing::warn!("dropping unfinished index {index}: {e} (finished at start)")
                }
            }
        });
    }
}

/// Build `index` (not yet in the catalog) on `table` while writes go on.
pub(super) async fn online(
    engine: &Engine,
    session: &Session,
    table: &Table,
    mut index: Index,
) -> PgResult<()> {
    index.building = true;
    let index = engine
        .catalog
        .update(|cat| {
            let t = cat
                .tables
                .get_mut(&table.id)
                .ok_or_else(|| PgError::undefined_table(&table.name))?;
            let mut idx = index.clone();
            idx.id = cat.next_table_id;
            cat.next_table_id += 1;
            t.indexes.push(idx.clone());
            Ok(idx)
        })
        .await?;
    let mut guard = Unfinished {
        catalog: engine.catalog.clone(),
        data: engine.data.clone(),
        table: table.id,
        index: index.id,
        done: false,
    };
    // Writers that hold the table now may have planned without the index.
    session
        .locks()
        .wait_for_holders(table.id, LockMode::Share)
        .await;
    // Every write from here on maintains the index.
    let table = engine
        .catalog
        .current()
        .tables
        .get(&table.id)
        .cloned()
        .ok_or_else(|| PgError::undefined_table(&table.name))?;
    let snapshot = engine.data.snapshot().await;
    let at: Arc<dyn ShardAccess> = Arc::new(AtSnapshot {
        inner: engine.data.clone(),
        snapshot,
    });
    let prefix = table_prefix(table.id);
    let end = prefix_successor(&prefix).expect("table prefix");
    for shard in at.shards() {
        let mut from = prefix.clone();
        loop {
            let page = at.scan(shard, &from, Some(&end), PAGE)?;
            let done = page.len() < PAGE;
            if let Some((k, _)) = page.last() {
                from = k.clone();
                from.push(0);
            }
            backfill(
                engine,
                &table,
                &index,
                page.into_iter().map(|(k, _)| k).collect(),
            )
            .await?;
            crate::failpoint::hit("index-backfill");
            if done {
                break;
            }
        }
    }
    validate(engine, &table, &index).await?;
    engine
        .catalog
        .update(|cat| {
            if let Some(i) = cat
                .tables
                .get_mut(&table.id)
                .and_then(|t| t.indexes.iter_mut().find(|i| i.id == index.id))
            {
                i.building = false;
            }
            Ok(())
        })
        .await?;
    guard.done = true;
    Ok(())
}

pub(super) fn duplicated(index: &Index, table: &Table, row: &[crate::types::Datum]) -> PgError {
    let (cols, vals): (Vec<String>, Vec<crate::types::Datum>) = index
        .columns
        .iter()
        .filter_map(|c| {
            let pos = table.columns.iter().position(|x| x.id == *c)?;
            Some((table.columns[pos].name.clone(), row[pos].clone()))
        })
        .unzip();
    PgError::new(
        codes::UNIQUE_VIOLATION,
        format!("could not create unique index \"{}\"", index.name),
    )
    .with_detail(format!(
        "Key ({})=({}) is duplicated.",
        cols.join(", "),
        crate::sql::dml::row_text(&vals)
    ))
}

/// The newest version of each row of `keys` (rows deleted since are left out).
fn latest(
    engine: &Engine,
    keys: impl Iterator<Item = Vec<u8>>,
) -> PgResult<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut rows = BTreeMap::new();
    for k in keys {
        if let Some(v) = engine.data.get(engine.data.shard_of(&k), &k)? {
            rows.insert(k, v);
        }
    }
    Ok(rows)
}

/// Write the entries of the rows of `keys` (a page of the snapshot) in one
/// transaction that also locks each row at the newest version read (rows
/// inserted after the snapshot were indexed by their writers). A row
/// changed meanwhile is taken as it is now and the page goes again; a
/// unique entry already written for the same row is left alone; one for
/// another row is a duplicate.
async fn backfill(
    engine: &Engine,
    table: &Table,
    index: &Index,
    keys: Vec<Vec<u8>>,
) -> PgResult<()> {
    let mut rows = latest(engine, keys.into_iter())?;
    let mut written_by_others: std::collections::HashSet<Vec<u8>> = Default::default();
    for _ in 0..PAGE_TRIES {
        let mut writes = Vec::with_capacity(rows.len() * 2);
        let mut entry_row: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (key, stored) in &rows {
            let row = decode_row(table, stored)?;
            writes.push(RowWrite {
                key: key.clone(),
                expect: Some(stored.clone()),
                new: Some(stored.clone()),
                blind: false,
            });
            if let Some((k, v)) = index_entry(table, index, &row, key)? {
                if written_by_others.contains(&k) {
                    continue;
                }
                entry_row.insert(k.clone(), key.clone());
                writes.push(RowWrite {
                    key: k,
                    expect: None,
                    new: Some(v),
                    blind: !index.unique,
                });
            }
        }
        let mut t = Txn::begin(engine.data.clone());
        let outcome = t.write_waiting(writes).await;

        let c = match outcome {
            Ok(()) => match t.commit().await {
                Ok(()) => return Ok(()),
                Err(WriteError::Conflict(c)) => c,
                Err(WriteError::Failed(e)) => return Err(e),
            },
            Err(WriteError::Conflict(c)) => {
                t.abort().await;
                c
            }
            Err(WriteError::Failed(e)) => {
                t.abort().await;
                return Err(e);
            }
        };
        if let Some(row_key) = entry_row.get(&c.key) {
            // The unique value is taken: by this very row (a writer wrote
            // its entry), or by another row (a duplicate).
            if c.actual.as_deref() == Some(row_key.as_slice()) {
                written_by_others.insert(c.key.clone());
                continue;
            }
            let row = decode_row(table, &rows[row_key])?;
            return Err(duplicated(index, table, &row));
        }
        // A row changed since it was read (its writer maintained the
        // index): take the version it has now.
        match c.actual {
            Some(v) => rows.insert(c.key, v),
            None => rows.remove(&c.key),
        };
    }
    Err(PgError::serialization_failure())
}

/// At a snapshot taken after the backfill: every row's entry is there and
/// names the row, and there are no other entries.
async fn validate(engine: &Engine, table: &Table, index: &Index) -> PgResult<()> {
    let snapshot = engine.data.snapshot().await;
    let at: Arc<dyn ShardAccess> = Arc::new(AtSnapshot {
        inner: engine.data.clone(),
        snapshot,
    });
    let broken = || {
        PgError::new(
            codes::INTERNAL_ERROR,
            format!(
                "could not create index \"{}\": its entries and the rows disagree",
                index.name
            ),
        )
    };
    let mut rows_indexed = 0usize;
    let prefix = table_prefix(table.id);
    let end = prefix_successor(&prefix).expect("table prefix");
    let mut failed = None;
    crate::dataplane::write::for_each_kv(at.as_ref(), &prefix, &end, |key, stored| {
        let row = decode_row(table, &stored)?;
        if let Some((k, v)) = index_entry(table, index, &row, &key)? {
            rows_indexed += 1;
            if at.get(at.shard_of(&k), &k)?.as_deref() != Some(v.as_slice()) && failed.is_none() {
                failed = Some(if index.unique {
                    duplicated(index, table, &row)
                } else {
                    broken()
                });
            }
        }
        Ok(())
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    let iprefix = table_prefix(index.id);
    let iend = prefix_successor(&iprefix).expect("index prefix");
    let mut entries = 0usize;
    crate::dataplane::write::for_each_kv(at.as_ref(), &iprefix, &iend, |_, _| {
        entries += 1;
        Ok(())
    })?;
    if entries != rows_indexed {
        return Err(broken());
    }
    Ok(())
}
