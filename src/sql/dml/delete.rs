//! DELETE.

use datafusion::sql::sqlparser::ast::{Delete, FromTable};

use crate::catalog::locks::LockMode;
use crate::dataplane::write::{RowWrite, WriteError};
use crate::encoding::decode_row;
use crate::error::{PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, Output};

use super::common::*;
use super::update::*;

pub async fn delete(engine: &Engine, session: &mut Session, del: Delete) -> PgResult<Output> {
    let tables = match &del.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [target] = tables.as_slice() else {
        return Err(PgError::unsupported("DELETE from several tables"));
    };
    let (parts, alias) = target_of(&target.relation)?;
    let table = lock_table(engine, session, &parts, LockMode::RowExclusive).await?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let ncols = table.columns.len();
    for attempt in 0..MAX_RETRIES {
        if attempt > 0 {
            // The row changed since the statement's snapshot: re-read it.
            engine.fresh_snapshot(session).await;
        }
        register_target(session, &table)?;
        let mut sql = target_scan_sql(&alias);
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
                    writes.push(entry_write(idx, k, Some(v), None));
                }
            }
            writes.push(RowWrite {
                key,
                expect: Some(stored),
                new: None,
                blind: false,
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
