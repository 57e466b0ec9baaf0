//! CREATE TABLE and DROP TABLE.

use datafusion::sql::sqlparser::ast::{CreateTable, TableConstraint};

use super::common::*;
use super::constraint::{new_check, new_foreign_key, validate_rules};
use super::sequence::{bind_nextval_default, own_sequences};
use crate::catalog::{Catalog, Column, Index, Table};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};

pub(super) async fn create_table(
    engine: &Engine,
    session: &mut Session,
    ct: CreateTable,
) -> PgResult<Output> {
    let (schema, name) = split_name(session, &object_parts(&ct.name))?;
    let search_path = session.search_path();
    let created = change(engine, session, |cat: &mut Catalog| {
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
        // UNIQUE constraints: their names when given, and columns.
        let mut uniques: Vec<(Option<String>, Vec<u32>)> = Vec::new();
        let mut pk_name = None;
        // CHECKs in the order PostgreSQL names them: columns' first.
        let mut check_defs: Vec<(Option<String>, String)> = Vec::new();
        let mut fk_defs = Vec::new();
        let mut seq_defs = Vec::new();
        for (i, def) in ct.columns.iter().enumerate() {
            let ColumnSpec {
                col,
                pk,
                unique,
                pk_name: given_pk_name,
                unique_name,
                checks,
                fks,
                seq_options,
            } = column_from_def((cat, &search_path), id, i as u32 + 1, def)?;
            seq_defs.push((col.id, seq_options));
            check_defs.extend(checks);
            fk_defs.extend(fks.into_iter().map(|f| (f, vec![col.name.clone()])));
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
                pk_name = given_pk_name;
            }
            if unique {
                uniques.push((unique_name, vec![col.id]));
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
                            format!("multiple primary keys for table \"{name}\" are not allowed"),
                        ));
                    }
                    pk_name = pk.name.as_ref().map(ident_name);
                    for ic in &pk.columns {
                        let id = col_id(&columns, &super::index::column_name(ic))?;
                        columns.iter_mut().find(|c| c.id == id).unwrap().not_null = true;
                        pk_cols.push(id);
                    }
                }
                TableConstraint::Unique(u) => {
                    let mut ids = Vec::new();
                    for ic in &u.columns {
                        ids.push(col_id(&columns, &super::index::column_name(ic))?);
                    }
                    uniques.push((u.name.as_ref().map(ident_name), ids));
                }
                TableConstraint::ForeignKey(f) => {
                    let local = f.columns.iter().map(ident_name).collect();
                    fk_defs.push((f.clone(), local));
                }
                TableConstraint::Check(c) => {
                    check_defs.push((c.name.as_ref().map(ident_name), c.expr.to_string()));
                }
                other => return Err(PgError::unsupported(format!("constraint {other}"))),
            }
        }
        let mut indexes = Vec::new();
        if !pk_cols.is_empty() {
            indexes.push(Index {
                id,
                name: pk_name.unwrap_or_else(|| format!("{name}_pkey")),
                columns: pk_cols.clone(),
                unique: true,
                primary: true,
                vector: None,
                building: false,
                constraint: true,
            });
        }
        for (given, u) in uniques {
            let cols: Vec<String> = u
                .iter()
                .map(|id| columns.iter().find(|c| c.id == *id).unwrap().name.clone())
                .collect();
            let name = match given {
                Some(n) => n,
                // PostgreSQL numbers a name an earlier index took.
                None => {
                    let base = format!("{name}_{}_key", cols.join("_"));
                    let mut n = base.clone();
                    let mut i = 0;
                    while indexes.iter().any(|x| x.name == n) {
                        i += 1;
                        n = format!("{base}{i}");
                    }
                    n
                }
            };
            let idx_id = cat.next_table_id;
            cat.next_table_id += 1;
            indexes.push(Index {
                id: idx_id,
                name,
                columns: u,
                unique: true,
                primary: false,
                vector: None,
                building: false,
                constraint: true,
            });
        }
        // The constraints' indexes are relations: a name given twice, or
        // taken in the schema, is 42P07 as in PostgreSQL.
        for (i, ix) in indexes.iter().enumerate() {
            let taken = ix.name == name
                || indexes[..i].iter().any(|x| x.name == ix.name)
                || cat
                    .tables_in(&schema)
                    .any(|t| t.name == ix.name || t.indexes.iter().any(|x| x.name == ix.name))
                || cat.relations.values().any(|r| {
                    r.schema() == schema
                        && r.name() == ix.name
                        && !matches!(r, crate::catalog::Relation::Type(_))
                });
            if taken {
                return Err(PgError::new(
                    codes::DUPLICATE_TABLE,
                    format!("relation \"{}\" already exists", ix.name),
                ));
            }
        }
        let mut checks: Vec<crate::catalog::Check> = Vec::new();
        for (cname, expr) in check_defs {
            let taken: Vec<String> = checks
                .iter()
                .map(|c| c.name.clone())
                .chain(indexes.iter().map(|i| i.name.clone()))
                .collect();
            checks.push(new_check(
                cat, &schema, &name, &columns, cname, &expr, &taken,
            )?);
        }
        let next_column_id = columns.len() as u32 + 1;
        let mut table = Table {
            id,
            schema: schema.clone(),
            name: name.clone(),
            columns,
            primary_key: pk_cols,
            indexes,
            next_column_id,
            checks,
            foreign_keys: Vec::new(),
        };
        for (def, local) in &fk_defs {
            let taken: Vec<String> = table
                .checks
                .iter()
                .map(|c| c.name.clone())
                .chain(table.foreign_keys.iter().map(|f| f.name.clone()))
                .collect();
            let fk = new_foreign_key(cat, &search_path, &table, def, local, &taken)?;
            table.foreign_keys.push(fk);
        }
        for c in &mut table.columns {
            bind_nextval_default(cat, &search_path, c)?;
        }
        own_sequences(cat, &table, &seq_defs)?;
        cat.tables.insert(id, table);
        Ok(true)
    })
    .await?;
    if created {
        let table =
            crate::sql::dml::resolve_table(engine, session, &[schema.clone(), name.clone()])?;
        validate_rules(engine, session, &table).await?;
    }
    if !created {
        session.notices.push(Notice::notice(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists, skipping"),
        ));
    }
    Ok(Output::Command("CREATE TABLE".into()))
}

pub(super) async fn drop_table(
    engine: &Engine,
    session: &mut Session,
    parts: &[String],
    if_exists: bool,
    cascade: bool,
    dropping: &[u32],
) -> PgResult<()> {
    let name_ref = datafusion::sql::sqlparser::ast::ObjectName::from(
        parts
            .iter()
            .map(|p| datafusion::sql::sqlparser::ast::Ident::with_quote('"', p.clone()))
            .collect::<Vec<_>>(),
    );
    if crate::sql::rewrite::views::view_named(&session.catalog(), &session.search_path(), &name_ref)
        .is_some()
    {
        return Err(PgError::new(
            codes::WRONG_OBJECT_TYPE,
            format!(
                "\"{}\" is not a table",
                parts.last().cloned().unwrap_or_default()
            ),
        )
        .with_hint("Use DROP VIEW to remove a view."));
    }
    let table = match lock_for_ddl(engine, session, parts).await {
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
    // The table leaves the catalog at COMMIT, which also records its data
    // as to be purged (a crash before the purge ends finishes it at start).
    // Foreign keys of other tables that reference this one: 2BP01, or
    // with CASCADE they go (the tables keep their rows).
    let cat = session.catalog();
    let deps: Vec<(u32, String, String)> = cat
        .referencing(table.id)
        .filter(|(t, _)| t.id != table.id && !dropping.contains(&t.id))
        .map(|(t, f)| (t.id, t.name.clone(), f.name.clone()))
        .collect();
    if !deps.is_empty() {
        let lines: Vec<String> = deps
            .iter()
            .map(|(_, t, f)| {
                format!(
                    "constraint {f} on table {t} depends on table {}",
                    table.name
                )
            })
            .collect();
        if !cascade {
            return Err(PgError::new(
                codes::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop table {} because other objects depend on it",
                    table.name
                ),
            )
            .with_detail(lines.join("\n"))
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        session.notices.push(cascade_notice(
            deps.iter()
                .map(|(_, t, f)| format!("constraint {f} on table {t}"))
                .collect(),
        ));
    }
    let views = super::view::views_in_the_way(
        session,
        &cat,
        table.id,
        &format!("table {}", table.name),
        cascade,
        dropping,
    )?;
    let prefixes = table_prefixes(&table);
    change_and_purge(engine, session, |cat| {
        cat.tables.remove(&table.id);
        for v in &views {
            cat.relations.remove(v);
        }
        // Sequences of its serial and identity columns go with it.
        cat.relations.retain(|_, r| {
            !matches!(r, crate::catalog::Relation::Sequence(s) if s.owned_by.is_some_and(|(t, _)| t == table.id))
        });
        for (tid, _, fk) in &deps {
            if let Some(t) = cat.tables.get_mut(tid) {
                t.foreign_keys.retain(|f| &f.name != fk);
            }
        }
        Ok(((), prefixes))
    })
    .await
}
