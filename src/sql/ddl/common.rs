//! What the DDL statements share: names, column definitions, reading and
//! purging a table's rows.

use datafusion::sql::sqlparser::ast::{ColumnDef, ColumnOption, GeneratedAs};

use crate::catalog::{Column, Table};
use crate::dataplane::Op;
use crate::dataplane::write::{for_each_kv, on_every_shard};
use crate::encoding::{decode_row, table_prefix};
use crate::error::{PgError, PgResult, codes};
use crate::sql::Engine;
use crate::sql::session::Session;
use crate::types::SqlType;

pub(super) fn split_name(session: &Session, parts: &[String]) -> PgResult<(String, String)> {
    match parts {
        [name] => Ok((session.creation_schema()?, name.clone())),
        [schema, name] | [_, schema, name] => Ok((schema.clone(), name.clone())),
        _ => Err(PgError::syntax("improper qualified name")),
    }
}

/// Build a column from its definition; the second value says it is part of
/// the primary key, the third that it is UNIQUE.
pub(super) fn column_from_def(
    table_id: u32,
    id: u32,
    def: &ColumnDef,
) -> PgResult<(Column, bool, bool)> {
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

/// The key prefixes of a table's rows and its (non-vector) index entries.
pub(super) fn table_prefixes(table: &Table) -> Vec<Vec<u8>> {
    let mut prefixes = vec![table_prefix(table.id)];
    for idx in &table.indexes {
        if !idx.primary {
            prefixes.push(table_prefix(idx.id));
        }
    }
    prefixes
}

/// Delete every key under `prefixes` on every shard, then forget the purge
/// the catalog recorded for them (a crash before that finishes it at the
/// next start).
pub(super) async fn purge(engine: &Engine, prefixes: Vec<Vec<u8>>) -> PgResult<()> {
    if prefixes.is_empty() {
        return Ok(());
    }
    let ops = prefixes
        .iter()
        .map(|p| Op::DeletePrefix { prefix: p.clone() })
        .collect();
    on_every_shard(engine.data.as_ref(), ops).await?;
    engine.catalog.purged(&prefixes).await
}

/// Read every row of a table (for backfills and checks).
pub(super) async fn for_each_row(
    engine: &Engine,
    table: &Table,
    mut f: impl FnMut(Vec<u8>, Vec<crate::types::Datum>) -> PgResult<()>,
) -> PgResult<()> {
    let prefix = table_prefix(table.id);
    let end = crate::encoding::prefix_successor(&prefix).unwrap();
    for_each_kv(engine.data.as_ref(), &prefix, &end, |k, v| {
        let row = decode_row(table, &v)?;
        f(k, row)
    })
}

/// Table `tid` of a catalog being edited, or 42P01 when a concurrent DROP
/// removed it after this statement looked it up.
pub(super) fn table_mut<'a>(
    cat: &'a mut crate::catalog::Catalog,
    tid: u32,
    name: &str,
) -> PgResult<&'a mut Table> {
    cat.tables
        .get_mut(&tid)
        .ok_or_else(|| PgError::undefined_table(name))
}

/// Column `col` of `t` in a catalog being edited, or 42703 when a concurrent
/// ALTER removed it.
pub(super) fn column_mut<'a>(t: &'a mut Table, col: &str) -> PgResult<&'a mut Column> {
    t.columns
        .iter_mut()
        .find(|c| c.name == col)
        .ok_or_else(|| PgError::undefined_column(col))
}
