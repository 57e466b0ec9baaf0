//! ALTER TABLE.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, RenameTableNameKind,
};

use super::common::*;
use crate::catalog::Table;
use crate::encoding::table_prefix;
use crate::error::{PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, object_parts};
use crate::types::text::quote_ident;

pub(super) async fn alter_table(
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
            let has_rows = !visible_rows(engine, session, table).await?.is_empty();
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
            change(engine, session, |cat| {
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
                        quote_ident(&table.schema),
                        quote_ident(&table.name)
                    );
                    let stmt = crate::sql::parse(&sql)?.pop().unwrap();
                    Box::pin(engine.execute(session, stmt)).await?;
                }
            }
            if col.not_null {
                change(engine, session, |cat| {
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
                let prefixes: Vec<Vec<u8>> = dropped_idx.into_iter().map(table_prefix).collect();
                change_and_purge(engine, session, |cat| {
                    let t = table_mut(cat, tid, &table.name)?;
                    t.columns.retain(|c| c.id != cid);
                    t.indexes.retain(|i| !i.columns.contains(&cid));
                    Ok(((), prefixes))
                })
                .await?;
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
            change(engine, session, |cat| {
                let t = table_mut(cat, tid, &table.name)?;
                column_mut(t, &old)?.name = new.clone();
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
            change(engine, session, |cat| {
                if cat.table(&table.schema, &n).is_some() {
                    return Err(PgError::new(
                        codes::DUPLICATE_TABLE,
                        format!("relation \"{n}\" already exists"),
                    ));
                }
                table_mut(cat, tid, &table.name)?.name = n.clone();
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
                    let has_null = visible_rows(engine, session, table)
                        .await?
                        .iter()
                        .any(|(_, row)| row[pos].is_null());
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
            change(engine, session, |cat| {
                let c = column_mut(table_mut(cat, tid, &table.name)?, &n)?;
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
