//! ALTER TABLE.

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, Ident, NullsDistinctOption, RenameTableNameKind,
    TableConstraint,
};

use super::common::*;
use super::constraint::*;
use super::sequence::{bind_nextval_default, own_sequences};
use crate::catalog::Table;
use crate::encoding::table_prefix;
use crate::error::{PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, object_parts};
use crate::types::text::quote_ident;

/// 2BP01 for DROP COLUMN of a column something else reads (`detail`).
fn column_in_use(column: &str, table: &str, detail: String) -> PgError {
    PgError::new(
        codes::DEPENDENT_OBJECTS_STILL_EXIST,
        format!("cannot drop column {column} of table {table} because other objects depend on it"),
    )
    .with_detail(detail)
    .with_hint("Use DROP ... CASCADE to drop the dependent objects too.")
}

/// Views that read table `tid` follow a rename of it or of its columns.
fn rename_in_views(
    cat: &mut crate::catalog::Catalog,
    tid: u32,
    relation: Option<(&str, &str)>,
    column: Option<(&str, &str)>,
) -> PgResult<()> {
    for r in cat.relations.values_mut() {
        if let crate::catalog::Relation::View(v) = r {
            if v.depends_on.contains(&tid) {
                v.query = crate::sql::rewrite::views::renamed(v, relation, column)?;
            }
        }
    }
    Ok(())
}

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
            let ColumnSpec {
                col,
                pk,
                unique,
                checks,
                fks,
                seq_options,
                ..
            } = column_from_def(
                (&session.catalog(), &session.search_path()),
                tid,
                table.next_column_id,
                &column_def,
            )?;
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
                let t = t.clone();
                own_sequences(cat, &t, &[(col.id, seq_options.clone())])
            })
            .await?;
            // A generated column is computed by rewriting every row.
            let fill = if col.generated.is_some() {
                Some("DEFAULT".to_string())
            } else {
                fill
            };
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
            if col.generated.is_some() || !checks.is_empty() || !fks.is_empty() {
                let now = crate::sql::dml::resolve_table(
                    engine,
                    session,
                    &[table.schema.clone(), table.name.clone()],
                )?;
                validate_rules(engine, session, &now).await?;
                for (cname, expr) in checks {
                    let expr = parse_expr(&expr)?;
                    let cname = cname.map(|n| Ident::with_quote('"', n));
                    add_check(engine, session, &now, cname.as_ref(), &expr, false).await?;
                }
                for mut f in fks {
                    f.columns = vec![Ident::with_quote('"', name.clone())];
                    let now = crate::sql::dml::resolve_table(
                        engine,
                        session,
                        &[table.schema.clone(), table.name.clone()],
                    )?;
                    add_foreign_key(engine, session, &now, &f, false).await?;
                }
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
                for g in &table.columns {
                    let Some(gen_expr) = &g.generated else {
                        continue;
                    };
                    if g.id != cid
                        && referenced_columns(&table.columns, &parse_expr(gen_expr)?).contains(&cid)
                    {
                        return Err(column_in_use(
                            &n,
                            &table.name,
                            format!(
                                "column {} of table {} depends on column {n}",
                                g.name, table.name
                            ),
                        ));
                    }
                }
                let cat = session.catalog();
                if let Some((child, f)) = cat.referencing(tid).find(|(c, f)| {
                    f.ref_columns.contains(&cid) && !(c.id == tid && f.columns.contains(&cid))
                }) {
                    return Err(column_in_use(
                        &n,
                        &table.name,
                        format!(
                            "constraint {} on table {} depends on column {n} of table {}",
                            f.name, child.name, table.name
                        ),
                    ));
                }
                if let Some(v) = cat.relations.values().find_map(|r| match r {
                    crate::catalog::Relation::View(v)
                        if v.depends_on.contains(&tid)
                            && crate::sql::rewrite::views::reads_column(v, &n) =>
                    {
                        Some(v)
                    }
                    _ => None,
                }) {
                    return Err(column_in_use(
                        &n,
                        &table.name,
                        format!(
                            "view {} depends on column {n} of table {}",
                            v.name, table.name
                        ),
                    ));
                }
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
                    // As in PostgreSQL, a CHECK reading the column goes with it.
                    t.checks.retain(|c| !c.columns.contains(&cid));
                    t.foreign_keys.retain(|f| !f.columns.contains(&cid));
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
                // Expressions name columns: they follow the rename.
                for c in &mut t.checks {
                    c.expr = rename_column_in(&c.expr, &old, &new)?;
                }
                for c in &mut t.columns {
                    if let Some(g) = &c.generated {
                        c.generated = Some(rename_column_in(g, &old, &new)?);
                    }
                }
                rename_in_views(cat, tid, None, Some((&old, &new)))
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
                rename_in_views(cat, tid, Some((&table.name, &n)), None)
            })
            .await
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let n = column_name.value.to_lowercase();
            let col = table
                .column(&n)
                .ok_or_else(|| {
                    PgError::new(
                        codes::UNDEFINED_COLUMN,
                        format!(
                            "column \"{n}\" of relation \"{}\" does not exist",
                            table.name
                        ),
                    )
                })?
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
                AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::DropDefault
                    if col.identity().is_some() =>
                {
                    return Err(PgError::new(
                        codes::SYNTAX_ERROR,
                        format!(
                            "column \"{n}\" of relation \"{}\" is an identity column",
                            table.name
                        ),
                    )
                    .with_hint("Use ALTER TABLE ... ALTER COLUMN ... DROP IDENTITY instead."));
                }
                AlterColumnOperation::SetDefault { ref value } => {
                    crate::exec::provider::default_expr(&value.to_string(), &col.ty)?;
                }
                AlterColumnOperation::DropDefault => {}
                AlterColumnOperation::SetDataType {
                    ref data_type,
                    ref using,
                    ..
                } => {
                    return super::alter_type::alter_column_type(
                        engine,
                        session,
                        table,
                        &n,
                        data_type,
                        using.as_ref(),
                    )
                    .await;
                }
                other => return Err(PgError::unsupported(format!("ALTER COLUMN {other}"))),
            }
            // A nextval('s') default makes the column take values from s.
            let mut bound = col.clone();
            if let AlterColumnOperation::SetDefault { value } = &op {
                bound.default = Some(value.to_string());
                bound.sequence = None;
                bind_nextval_default(&session.catalog(), &session.search_path(), &mut bound)?;
            }
            let owned = session.catalog().relations.values().any(|r| {
                matches!(r, crate::catalog::Relation::Sequence(s) if s.owned_by == Some((tid, col.id)))
            });
            change(engine, session, |cat| {
                let c = column_mut(table_mut(cat, tid, &table.name)?, &n)?;
                // (A column's own sequence stays bound, except that a
                // SET DEFAULT nextval(..) binds the one it names: pg_dump
                // sets it after ALTER SEQUENCE ... OWNED BY.)
                let rebinds = matches!(op, AlterColumnOperation::SetDefault { .. })
                    && bound.sequence.is_some();
                if (!owned || rebinds)
                    && matches!(
                        op,
                        AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::DropDefault
                    )
                {
                    c.sequence = bound
                        .sequence
                        .clone()
                        .filter(|_| matches!(op, AlterColumnOperation::SetDefault { .. }));
                }
                match &op {
                    AlterColumnOperation::SetNotNull => c.not_null = true,
                    AlterColumnOperation::DropNotNull => c.not_null = false,
                    AlterColumnOperation::SetDefault { value } => {
                        c.default = Some(value.to_string());
                    }
                    AlterColumnOperation::DropDefault => c.default = None,
                    _ => {}
                }
                Ok(())
            })
            .await
        }
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::Check(c),
            not_valid,
        } => add_check(engine, session, table, c.name.as_ref(), &c.expr, not_valid).await,
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::ForeignKey(f),
            not_valid,
        } => add_foreign_key(engine, session, table, &f, not_valid).await,
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::Unique(u),
            not_valid: false,
        } if u.index_type.is_none()
            && u.characteristics.is_none()
            && u.index_options.is_empty()
            && u.index_name.is_none()
            && !matches!(u.nulls_distinct, NullsDistinctOption::NotDistinct) =>
        {
            // The unique index behind it, built as CREATE UNIQUE INDEX
            // builds one (23505 when rows already repeat a key).
            let spec = super::index::BtreeIndex {
                name: u.name.as_ref().map(ident_name),
                columns: u.columns.iter().map(super::index::column_name).collect(),
                unique: true,
                constraint: true,
                if_not_exists: false,
            };
            let parts = [table.schema.clone(), table.name.clone()];
            super::index::create_btree(engine, session, &parts, spec).await
        }
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::PrimaryKey(pk),
            not_valid: false,
        } if pk.index_type.is_none()
            && pk.characteristics.is_none()
            && pk.index_options.is_empty()
            && pk.index_name.is_none() =>
        {
            let columns: Vec<String> = pk.columns.iter().map(super::index::column_name).collect();
            super::primary_key::add_primary_key(
                engine,
                session,
                table,
                pk.name.as_ref().map(ident_name),
                &columns,
            )
            .await
        }
        AlterTableOperation::ValidateConstraint { name } => {
            validate_check(engine, session, table, &name).await
        }
        AlterTableOperation::RenameConstraint { old_name, new_name } => {
            rename_constraint(engine, session, table, &old_name, &new_name).await
        }
        AlterTableOperation::DropConstraint {
            if_exists, name, ..
        } => {
            let n = ident_name(&name);
            if drop_check(engine, session, table, &n).await? {
                return Ok(());
            }
            match table.indexes.iter().find(|i| i.name == n) {
                Some(i) if i.primary => Err(PgError::unsupported("dropping a primary key")),
                Some(i) if i.unique && i.vector.is_none() => {
                    super::index::drop_index(engine, session, &[table.schema.clone(), n], false)
                        .await
                }
                _ if if_exists => {
                    session.notices.push(crate::error::Notice::notice(
                        codes::SUCCESSFUL_COMPLETION,
                        format!(
                            "constraint \"{n}\" of relation \"{}\" does not exist, skipping",
                            table.name
                        ),
                    ));
                    Ok(())
                }
                _ => Err(PgError::new(
                    codes::UNDEFINED_OBJECT,
                    format!(
                        "constraint \"{n}\" of relation \"{}\" does not exist",
                        table.name
                    ),
                )),
            }
        }
        other => Err(PgError::unsupported(format!("ALTER TABLE {other}"))),
    }
}
