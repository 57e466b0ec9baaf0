//! CREATE TYPE ... AS ENUM, ALTER TYPE (ADD VALUE, RENAME VALUE, RENAME
//! TO) and DROP TYPE. An enum type is a catalog relation holding its
//! labels in order; columns of it store labels, so renaming a label
//! rewrites the rows that hold it.

use datafusion::sql::sqlparser::ast::{
    AlterType, AlterTypeAddValuePosition, AlterTypeOperation, Ident, ObjectName,
    UserDefinedTypeRepresentation,
};

use crate::catalog::{Catalog, EnumType, Relation, Table};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use crate::types::SqlType;
use crate::types::text::{quote_ident, quote_literal};

use super::common::{change, lock_for_ddl, run_nested, split_name};

/// PostgreSQL's limit on a label (NAMEDATALEN - 1 bytes).
const MAX_LABEL: usize = 63;

fn check_label(label: &str) -> PgResult<()> {
    if label.is_empty() || label.len() > MAX_LABEL {
        return Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            format!("invalid enum label \"{label}\""),
        )
        .with_detail("Labels must be 63 bytes or less."));
    }
    Ok(())
}

fn label_exists(label: &str) -> PgError {
    PgError::new(
        codes::DUPLICATE_OBJECT,
        format!("enum label \"{label}\" already exists"),
    )
}

fn not_a_label(label: &str) -> PgError {
    PgError::new(
        codes::INVALID_PARAMETER_VALUE,
        format!("\"{label}\" is not an existing enum label"),
    )
}

fn undefined_type(name: &str) -> PgError {
    PgError::new(
        codes::UNDEFINED_OBJECT,
        format!("type \"{name}\" does not exist"),
    )
}

/// The type a (possibly qualified) name resolves to: its id and value.
fn resolve(session: &Session, name: &ObjectName) -> PgResult<(u32, EnumType)> {
    let parts = object_parts(name);
    let (schema, n) = crate::sql::parse::schema_and_name(&parts)
        .ok_or_else(|| PgError::syntax("improper qualified name"))?;
    session
        .catalog()
        .resolve_type(schema, n, &session.search_path())
        .map(|(id, t)| (id, t.clone()))
        .ok_or_else(|| undefined_type(n))
}

/// Columns of the type: (table, column name).
fn columns_of<'a>(cat: &'a Catalog, t: &EnumType) -> Vec<(&'a Table, String)> {
    let is_it = |ty: &SqlType| matches!(ty, SqlType::Enum { schema, name } if *schema == t.schema && *name == t.name);
    cat.tables
        .values()
        .flat_map(|tab| {
            tab.columns
                .iter()
                .filter(|c| is_it(&c.ty))
                .map(move |c| (tab, c.name.clone()))
        })
        .collect()
}

fn label_text(i: &Ident) -> String {
    i.value.clone()
}

pub(super) async fn create_type(
    engine: &Engine,
    session: &mut Session,
    name: &ObjectName,
    representation: Option<UserDefinedTypeRepresentation>,
) -> PgResult<Output> {
    let labels: Vec<String> = match representation {
        Some(UserDefinedTypeRepresentation::Enum { labels }) => {
            labels.iter().map(label_text).collect()
        }
        _ => {
            return Err(PgError::unsupported(
                "CREATE TYPE other than AS ENUM (composite, range and base types)",
            ));
        }
    };
    for (i, l) in labels.iter().enumerate() {
        check_label(l)?;
        if labels[..i].contains(l) {
            // PostgreSQL's words: its pg_enum index catches the repeat.
            return Err(PgError::new(
                codes::UNIQUE_VIOLATION,
                "duplicate key value violates unique constraint \"pg_enum_typid_label_index\"",
            ));
        }
    }
    let (schema, name) = split_name(session, &object_parts(name))?;
    change(engine, session, |cat| {
        if !cat.schemas.contains(&schema) {
            return Err(PgError::new(
                codes::INVALID_SCHEMA_NAME,
                format!("schema \"{schema}\" does not exist"),
            ));
        }
        if cat.relation_exists(&schema, &name) {
            return Err(PgError::new(
                codes::DUPLICATE_OBJECT,
                format!("type \"{name}\" already exists"),
            ));
        }
        let id = cat.next_table_id;
        cat.next_table_id += 1;
        cat.relations.insert(
            id,
            Relation::Type(EnumType {
                schema: schema.clone(),
                name: name.clone(),
                labels,
            }),
        );
        Ok(())
    })
    .await?;
    Ok(Output::Command("CREATE TYPE".into()))
}

pub(super) async fn alter_type(
    engine: &Engine,
    session: &mut Session,
    at: AlterType,
) -> PgResult<Output> {
    let (id, t) = resolve(session, &at.name)?;
    match at.operation {
        AlterTypeOperation::AddValue(add) => {
            let label = label_text(&add.value);
            check_label(&label)?;
            if t.labels.contains(&label) {
                if add.if_not_exists {
                    session.notices.push(Notice::notice(
                        codes::DUPLICATE_OBJECT,
                        format!("enum label \"{label}\" already exists, skipping"),
                    ));
                    return Ok(Output::Command("ALTER TYPE".into()));
                }
                return Err(label_exists(&label));
            }
            let at_pos = match &add.position {
                None => t.labels.len(),
                Some(AlterTypeAddValuePosition::Before(n)) => position(&t, &label_text(n))?,
                Some(AlterTypeAddValuePosition::After(n)) => position(&t, &label_text(n))? + 1,
            };
            update(engine, session, id, &t, |e| e.labels.insert(at_pos, label)).await?;
        }
        AlterTypeOperation::RenameValue(r) => {
            let (from, to) = (label_text(&r.from), label_text(&r.to));
            let pos = position(&t, &from)?;
            check_label(&to)?;
            if t.labels.contains(&to) {
                return Err(label_exists(&to));
            }
            // Rows hold labels: the renamed one is rewritten where stored.
            let cat = session.catalog();
            let tables: Vec<(Table, String)> = columns_of(&cat, &t)
                .into_iter()
                .map(|(tab, c)| (tab.clone(), c))
                .collect();
            for (tab, _) in &tables {
                lock_for_ddl(engine, session, &[tab.schema.clone(), tab.name.clone()]).await?;
            }
            update(engine, session, id, &t, |e| e.labels[pos] = to.clone()).await?;
            for (tab, col) in tables {
                let sql = format!(
                    "UPDATE {}.{} SET {c} = {new} WHERE {c} = {old}",
                    quote_ident(&tab.schema),
                    quote_ident(&tab.name),
                    c = quote_ident(&col),
                    new = quote_literal(&to),
                    old = quote_literal(&from),
                );
                run_nested(engine, session, &sql).await?;
            }
        }
        AlterTypeOperation::Rename(r) => {
            let new = r.new_name.value.clone();
            change(engine, session, |cat| {
                if cat.relation_exists(&t.schema, &new) {
                    return Err(PgError::new(
                        codes::DUPLICATE_OBJECT,
                        format!("type \"{new}\" already exists"),
                    ));
                }
                if let Some(Relation::Type(e)) = cat.relations.get_mut(&id) {
                    e.name = new.clone();
                }
                for tab in cat.tables.values_mut() {
                    for c in &mut tab.columns {
                        if let SqlType::Enum { schema, name } = &mut c.ty {
                            if *schema == t.schema && *name == t.name {
                                *name = new.clone();
                            }
                        }
                    }
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(Output::Command("ALTER TYPE".into()))
}

fn position(t: &EnumType, label: &str) -> PgResult<usize> {
    t.labels
        .iter()
        .position(|l| l == label)
        .ok_or_else(|| not_a_label(label))
}

/// Change the type `id` as `f` does, if it is still as `seen`.
async fn update(
    engine: &Engine,
    session: &mut Session,
    id: u32,
    seen: &EnumType,
    f: impl FnOnce(&mut EnumType),
) -> PgResult<()> {
    change(engine, session, |cat| match cat.relations.get_mut(&id) {
        Some(Relation::Type(e)) if e == seen => {
            f(e);
            Ok(())
        }
        _ => Err(PgError::new(
            codes::SERIALIZATION_FAILURE,
            format!("type \"{}\" was changed concurrently", seen.name),
        )),
    })
    .await
}

pub(super) async fn drop_type(
    engine: &Engine,
    session: &mut Session,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> PgResult<Output> {
    for n in names {
        let (id, t) = match resolve(session, n) {
            Ok(found) => found,
            Err(e) if if_exists && e.code == codes::UNDEFINED_OBJECT => {
                let parts = object_parts(n);
                session.notices.push(Notice::notice(
                    codes::SUCCESSFUL_COMPLETION,
                    format!(
                        "type \"{}\" does not exist, skipping",
                        parts.last().cloned().unwrap_or_default()
                    ),
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        let cat = session.catalog();
        let users: Vec<(String, String, String)> = columns_of(&cat, &t)
            .into_iter()
            .map(|(tab, c)| (tab.schema.clone(), tab.name.clone(), c))
            .collect();
        if !users.is_empty() {
            if !cascade {
                let detail: Vec<String> = users
                    .iter()
                    .map(|(_, tab, c)| {
                        format!("column {c} of table {tab} depends on type {}", t.name)
                    })
                    .collect();
                return Err(PgError::new(
                    codes::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "cannot drop type {} because other objects depend on it",
                        t.name
                    ),
                )
                .with_detail(detail.join("\n"))
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            let lines: Vec<String> = users
                .iter()
                .map(|(_, tab, c)| format!("drop cascades to column {c} of table {tab}"))
                .collect();
            session.notices.push(Notice::notice(
                codes::SUCCESSFUL_COMPLETION,
                if lines.len() == 1 {
                    lines[0].clone()
                } else {
                    format!("drop cascades to {} other objects", lines.len())
                },
            ));
            for (schema, tab, c) in &users {
                let sql = format!(
                    "ALTER TABLE {}.{} DROP COLUMN {}",
                    quote_ident(schema),
                    quote_ident(tab),
                    quote_ident(c)
                );
                run_nested(engine, session, &sql).await?;
            }
        }
        change(engine, session, |cat| {
            cat.relations.remove(&id);
            Ok(())
        })
        .await?;
    }
    Ok(Output::Command("DROP TYPE".into()))
}
