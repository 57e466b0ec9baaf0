//! What the DDL statements share: names, column definitions, reading and
//! purging a table's rows.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{ColumnDef, ColumnOption, GeneratedAs};

use crate::catalog::locks::LockMode;
use crate::catalog::{Catalog, Column, Table};
use crate::dataplane::Op;
use crate::dataplane::write::{for_each_kv, on_every_shard};
use crate::encoding::{decode_row, table_prefix};
use crate::error::{PgError, PgResult, codes};
use crate::sql::session::BlockDdl;
use crate::sql::session::Session;
use crate::sql::{Engine, Output};
use crate::types::SqlType;

pub(super) fn split_name(session: &Session, parts: &[String]) -> PgResult<(String, String)> {
    match parts {
        [name] => Ok((session.creation_schema()?, name.clone())),
        [schema, name] | [_, schema, name] => Ok((schema.clone(), name.clone())),
        _ => Err(PgError::syntax("improper qualified name")),
    }
}

/// A column's type: a built-in one, or an enum type of the catalog.
pub(super) fn column_type(
    cat: &Catalog,
    search_path: &[String],
    dt: &datafusion::sql::sqlparser::ast::DataType,
) -> PgResult<(SqlType, bool)> {
    match SqlType::from_ast(dt) {
        Ok(found) => Ok(found),
        Err(e) => match crate::sql::rewrite::enum_casts::enum_target(dt, cat, search_path) {
            Some(t) => Ok((
                SqlType::Enum {
                    schema: t.schema.clone(),
                    name: t.name.clone(),
                },
                false,
            )),
            None => Err(e),
        },
    }
}

/// A column definition: the column, whether it is (part of) the primary
/// key, whether it is UNIQUE, and its CHECK constraints (name if given,
/// expression).
pub(super) struct ColumnSpec {
    pub col: Column,
    pub pk: bool,
    pub unique: bool,
    /// `CONSTRAINT name` written before PRIMARY KEY / UNIQUE.
    pub pk_name: Option<String>,
    pub unique_name: Option<String>,
    pub checks: Vec<(Option<String>, String)>,
    /// REFERENCES clauses.
    pub fks: Vec<datafusion::sql::sqlparser::ast::ForeignKeyConstraint>,
    /// An identity column's sequence options.
    pub seq_options: Vec<datafusion::sql::sqlparser::ast::SequenceOptions>,
}

/// Build a column from its definition.
pub(super) fn column_from_def(
    (cat, search_path): (&Catalog, &[String]),
    table_id: u32,
    id: u32,
    def: &ColumnDef,
) -> PgResult<ColumnSpec> {
    let (ty, serial) = column_type(cat, search_path, &def.data_type)?;
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
        identity_by_default: false,
        generated: None,
    };
    let (mut pk, mut unique) = (false, false);
    let (mut pk_name, mut unique_name) = (None, None);
    let mut checks = Vec::new();
    let mut fks = Vec::new();
    let mut seq_options = Vec::new();
    for opt in &def.options {
        match &opt.option {
            ColumnOption::NotNull => col.not_null = true,
            ColumnOption::Null => {}
            ColumnOption::Default(e) => {
                // `'new'::public.status` on a column of that enum (pg_dump
                // writes its defaults so): the label, as `DEFAULT 'new'`.
                let e = match e {
                    datafusion::sql::sqlparser::ast::Expr::Cast {
                        expr, data_type, ..
                    } if matches!(
                        (&col.ty, crate::sql::rewrite::enum_casts::enum_target(data_type, cat, search_path)),
                        (SqlType::Enum { schema, name }, Some(t)) if *schema == t.schema && *name == t.name
                    ) && matches!(
                        expr.as_ref(),
                        datafusion::sql::sqlparser::ast::Expr::Value(_)
                    ) =>
                    {
                        expr.as_ref()
                    }
                    other => other,
                };
                crate::exec::provider::default_expr(&e.to_string(), &col.ty)?;
                col.default = Some(e.to_string());
            }
            ColumnOption::PrimaryKey(_) => {
                pk = true;
                pk_name = opt.name.as_ref().map(ident_name);
                col.not_null = true;
            }
            ColumnOption::Unique(_) => {
                unique = true;
                unique_name = opt.name.as_ref().map(ident_name);
            }
            ColumnOption::ForeignKey(fk) => fks.push(fk.clone()),
            ColumnOption::Check(c) => {
                checks.push((c.name.as_ref().map(ident_name), c.expr.to_string()));
            }
            ColumnOption::Generated {
                generation_expr: Some(e),
                ..
            } => {
                if col.default.is_some() {
                    return Err(PgError::syntax(format!(
                        "both default and generation expression specified for column \"{}\"",
                        col.name
                    )));
                }
                col.generated = Some(e.to_string());
            }
            ColumnOption::Generated {
                generated_as,
                generation_expr: None,
                sequence_options,
                ..
            } => {
                seq_options = sequence_options.clone().unwrap_or_default();
                if !matches!(col.ty, SqlType::Int2 | SqlType::Int4 | SqlType::Int8) {
                    return Err(PgError::new(
                        codes::DATATYPE_MISMATCH,
                        format!("identity column type must be smallint, integer, or bigint"),
                    ));
                }
                col.sequence = Some(format!("{table_id}.{id}"));
                col.not_null = true;
                col.identity_always = matches!(generated_as, GeneratedAs::Always);
                col.identity_by_default = !col.identity_always;
            }
            other => return Err(PgError::unsupported(format!("column option {other}"))),
        }
    }
    Ok(ColumnSpec {
        col,
        pk,
        unique,
        pk_name,
        unique_name,
        checks,
        fks,
        seq_options,
    })
}

/// An identifier as PostgreSQL folds it (unquoted: lower case).
pub(super) fn ident_name(i: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
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
pub async fn purge(engine: &Engine, prefixes: Vec<Vec<u8>>) -> PgResult<()> {
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

/// Every row of `table` as this session sees it, as key and stored
/// bytes: committed rows, with the open block's own writes over them.
pub(super) async fn visible_stored_rows(
    engine: &Engine,
    session: &Session,
    table: &Table,
) -> PgResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let prefix = table_prefix(table.id);
    let end = crate::encoding::prefix_successor(&prefix).unwrap();
    let own = session.block().map(|b| &b.writes);
    let mut rows = Vec::new();
    for_each_kv(engine.data.as_ref(), &prefix, &end, |k, v| {
        if !own.is_some_and(|w| w.contains_key(&k)) {
            rows.push((k, v));
        }
        Ok(())
    })?;
    for (k, w) in own.into_iter().flatten() {
        if let (true, Some(v)) = (k.starts_with(&prefix), &w.new) {
            rows.push((k.clone(), v.clone()));
        }
    }
    Ok(rows)
}

/// [`visible_stored_rows`], decoded.
pub(super) async fn visible_rows(
    engine: &Engine,
    session: &Session,
    table: &Table,
) -> PgResult<Vec<(Vec<u8>, Vec<crate::types::Datum>)>> {
    visible_stored_rows(engine, session, table)
        .await?
        .into_iter()
        .map(|(k, v)| Ok((k, decode_row(table, &v)?)))
        .collect()
}

/// Run one statement given as SQL text inside the current one (DDL that
/// implies writes: CREATE TABLE AS's fill, RENAME VALUE's row rewrite,
/// DROP TYPE CASCADE's column drops).
pub(super) async fn run_nested(
    engine: &Engine,
    session: &mut Session,
    sql: &str,
) -> PgResult<Output> {
    let stmt = crate::sql::parse(sql)?
        .pop()
        .ok_or_else(|| PgError::internal("empty internal statement"))?;
    Box::pin(engine.execute_nested(session, stmt)).await
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

/// Ids a block reserves at a time for the tables and indexes it creates.
const RESERVE_IDS: u32 = 64;

/// Change the catalog as this session's transaction block sees it: `f`
/// edits the block's copy (ids it allocates from `next_table_id` are
/// reserved for the block); the change is committed with the block's
/// writes at COMMIT, or vanishes at ROLLBACK.
pub(super) async fn change<T>(
    engine: &Engine,
    session: &mut Session,
    f: impl FnOnce(&mut Catalog) -> PgResult<T>,
) -> PgResult<T> {
    change_and_purge(engine, session, |cat| f(cat).map(|out| (out, Vec::new()))).await
}

/// [`change`] whose `f` also returns key prefixes to delete once the block
/// has committed (a dropped or truncated table's old rows).
pub(super) async fn change_and_purge<T>(
    engine: &Engine,
    session: &mut Session,
    f: impl FnOnce(&mut Catalog) -> PgResult<(T, Vec<Vec<u8>>)>,
) -> PgResult<T> {
    let low = session
        .block()
        .ok_or_else(|| PgError::internal("DDL outside a transaction block"))?
        .ddl
        .as_ref()
        .is_none_or(|d| d.ids.1 - d.ids.0 < RESERVE_IDS / 4);
    let reserved = if low {
        Some(engine.catalog.reserve_ids(RESERVE_IDS).await?)
    } else {
        None
    };
    let current = engine.catalog.current();
    let block = session.block_mut().expect("checked above");
    let ddl = block
        .ddl
        .get_or_insert_with(|| BlockDdl::new(current.clone()));
    ddl.rebase(&current)?;
    if let Some(start) = reserved {
        ddl.ids = (start, start + RESERVE_IDS);
    }
    let mut copy = ddl.mine.clone();
    copy.next_table_id = ddl.ids.0;
    let (out, purges) = f(&mut copy)?;
    if copy.next_table_id > ddl.ids.1 {
        return Err(PgError::new(
            "54000",
            "too many indexes created by one statement",
        ));
    }
    ddl.ids.0 = copy.next_table_id;
    copy.next_table_id = ddl.mine.next_table_id.max(current.next_table_id);
    ddl.mine = copy;
    ddl.purges.extend(purges);
    session.show_block_catalog();
    Ok(out)
}

/// Lock the tables a DDL statement changes for the rest of its block.
pub(super) async fn lock_for_ddl(
    engine: &Engine,
    session: &Session,
    parts: &[String],
) -> PgResult<Arc<Table>> {
    crate::sql::dml::lock_table(engine, session, parts, LockMode::AccessExclusive).await
}

/// PostgreSQL's notice for what a DROP ... CASCADE also drops.
pub(super) fn cascade_notice(objects: Vec<String>) -> crate::error::Notice {
    if let [one] = objects.as_slice() {
        return crate::error::Notice::notice(
            codes::SUCCESSFUL_COMPLETION,
            format!("drop cascades to {one}"),
        );
    }
    let mut n = crate::error::Notice::notice(
        codes::SUCCESSFUL_COMPLETION,
        format!("drop cascades to {} other objects", objects.len()),
    );
    n.detail = Some(
        objects
            .iter()
            .map(|o| format!("drop cascades to {o}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    n
}
