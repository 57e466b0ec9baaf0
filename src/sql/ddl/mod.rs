//! DDL: schema, table and index changes, committed to the catalog through the
//! meta group. Data changes that DDL implies (dropping rows, backfilling
//! index entries) go to the data groups afterwards.
//!
//! Files: `table` (CREATE/DROP TABLE), `index` (CREATE/DROP INDEX),
//! `vector_index` (HNSW and IVFFlat indexes, REINDEX), `alter` (ALTER
//! TABLE), `common` (what they share); this file classifies the statement.

mod alter;
mod alter_type;
mod build;
mod common;
mod constraint;
mod enum_type;
mod index;
mod primary_key;
mod sequence;
mod table;
pub mod vector_index;
mod view;

use datafusion::sql::sqlparser::ast::{CommentObject, ObjectType, SchemaName, Statement};

use crate::catalog::Table;
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use alter::alter_table;
pub use common::purge;
use common::{change, change_and_purge, lock_for_ddl, table_prefixes};
use index::{create_index, drop_index};
use table::{create_table, drop_table};

/// Run a DDL statement. Outside a transaction block it runs in a block of
/// its own, committed when it ends: every DDL step commits all or nothing
/// (the catalog change with the rows it writes and the data it drops).
pub async fn execute(engine: &Engine, session: &mut Session, stmt: Statement) -> PgResult<Output> {
    if session.in_block() {
        return run(engine, session, stmt).await;
    }
    crate::sql::txn::begin_implicit(session);
    let result = run(engine, session, stmt).await;
    crate::sql::txn::end_implicit(engine, session, result).await
}

async fn run(engine: &Engine, session: &mut Session, stmt: Statement) -> PgResult<Output> {
    match stmt {
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => {
            let name = match &schema_name {
                SchemaName::Simple(n) => object_parts(n).join("."),
                SchemaName::UnnamedAuthorization(a) => a.value.clone(),
                SchemaName::NamedAuthorization(n, _) => object_parts(n).join("."),
            };
            let created = change(engine, session, |cat| {
                if cat.schemas.contains(&name) {
                    if if_not_exists {
                        return Ok(false);
                    }
                    return Err(PgError::new(
                        codes::DUPLICATE_SCHEMA,
                        format!("schema \"{name}\" already exists"),
                    ));
                }
                cat.schemas.insert(name.clone());
                Ok(true)
            })
            .await?;
            if !created {
                session.notices.push(Notice::notice(
                    codes::DUPLICATE_SCHEMA,
                    format!("schema \"{name}\" already exists, skipping"),
                ));
            }
            Ok(Output::Command("CREATE SCHEMA".into()))
        }
        Statement::CreateTable(ct) if ct.query.is_some() => {
            view::create_table_as(engine, session, ct).await
        }
        Statement::CreateTable(ct) => create_table(engine, session, ct).await,
        Statement::CreateView(cv) => view::create_view(engine, session, cv).await,
        Statement::CreateType {
            name,
            representation,
        } => enum_type::create_type(engine, session, &name, representation).await,
        Statement::AlterType(at) => enum_type::alter_type(engine, session, at).await,
        Statement::Comment {
            object_type,
            object_name,
            comment,
            ..
        } => comment_on(engine, session, object_type, &object_name, comment).await,
        Statement::Call(f) => {
            // ALTER SEQUENCE and ADD ... AS IDENTITY, as the parser passes
            // them on (their text as arguments).
            let texts = crate::sql::parse::call_text_args(&f);
            if f.name.to_string() == crate::sql::parse::ADD_IDENTITY_CALL {
                let [table, column, kind, options] = texts.try_into().map_err(|_| {
                    PgError::new(codes::SYNTAX_ERROR, "syntax error in ADD ... AS IDENTITY")
                })?;
                sequence::add_identity(
                    engine,
                    session,
                    &table,
                    &column,
                    kind == "ALWAYS",
                    &options,
                )
                .await?;
                return Ok(Output::Command("ALTER TABLE".into()));
            }
            let text = texts.into_iter().next().unwrap_or_default();
            sequence::alter_sequence(engine, session, &text).await
        }
        Statement::CreateSequence {
            if_not_exists,
            name,
            data_type,
            sequence_options,
            ..
        } => {
            sequence::create_sequence(
                engine,
                session,
                &name,
                if_not_exists,
                data_type.as_ref(),
                &sequence_options,
            )
            .await
        }
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => {
            match object_type {
                ObjectType::Table => {
                    let dropping: Vec<u32> = names
                        .iter()
                        .filter_map(|n| {
                            crate::sql::dml::resolve_table(engine, session, &object_parts(n)).ok()
                        })
                        .map(|t| t.id)
                        .collect();
                    for n in &names {
                        let parts = object_parts(n);
                        drop_table(engine, session, &parts, if_exists, cascade, &dropping).await?;
                    }
                    Ok(Output::Command("DROP TABLE".into()))
                }
                ObjectType::Schema => {
                    for n in &names {
                        let name = object_parts(n).join(".");
                        let cat = session.catalog();
                        if cascade {
                            for t in cat.tables_in(&name) {
                                lock_for_ddl(engine, session, &[t.schema.clone(), t.name.clone()])
                                    .await?;
                            }
                        }
                        let mut skipped = false;
                        change_and_purge(engine, session, |cat| {
                        if !cat.schemas.contains(&name) {
                            if if_exists {
                                skipped = true;
                                return Ok(((), vec![]));
                            }
                            return Err(PgError::new(codes::INVALID_SCHEMA_NAME, format!("schema \"{name}\" does not exist")));
                        }
                        let tables: Vec<Table> = cat.tables_in(&name).cloned().collect();
                        let relations: Vec<u32> = cat
                            .relations
                            .iter()
                            .filter(|(_, r)| r.schema() == name)
                            .map(|(id, _)| *id)
                            .collect();
                        if let (Some(id), false, true) = (relations.first(), cascade, tables.is_empty()) {
                            let what = match &cat.relations[id] {
                                crate::catalog::Relation::View(v) => format!("view {name}.{}", v.name),
                                crate::catalog::Relation::Sequence(s) => format!("sequence {name}.{}", s.name),
                                crate::catalog::Relation::Type(t) => format!("type {name}.{}", t.name),
                            };
                            return Err(PgError::new(
                                codes::DEPENDENT_OBJECTS_STILL_EXIST,
                                format!("cannot drop schema {name} because other objects depend on it"),
                            )
                            .with_detail(format!("{what} depends on schema {name}")));
                        }
                        for id in &relations {
                            cat.relations.remove(id);
                        }
                        if !tables.is_empty() && !cascade {
                            return Err(PgError::new(
                                codes::DEPENDENT_OBJECTS_STILL_EXIST,
                                format!("cannot drop schema {name} because other objects depend on it"),
                            )
                            .with_detail(format!("table {}.{} depends on schema {name}", name, tables[0].name)));
                        }
                        let mut prefixes = Vec::new();
                        for t in &tables {
                            cat.tables.remove(&t.id);
                            prefixes.extend(table_prefixes(t));
                        }
                        cat.forget_dangling();
                        cat.schemas.remove(&name);
                        Ok(((), prefixes))
                    })
                    .await?;
                        if skipped {
                            session.notices.push(Notice::notice(
                                codes::SUCCESSFUL_COMPLETION,
                                format!("schema \"{name}\" does not exist, skipping"),
                            ));
                        }
                    }
                    Ok(Output::Command("DROP SCHEMA".into()))
                }
                ObjectType::View => {
                    view::drop_view(engine, session, &names, if_exists, cascade).await
                }
                ObjectType::Sequence => {
                    sequence::drop_sequence(engine, session, &names, if_exists).await
                }
                ObjectType::Type => {
                    enum_type::drop_type(engine, session, &names, if_exists, cascade).await
                }
                ObjectType::Index => {
                    for n in &names {
                        drop_index(engine, session, &object_parts(n), if_exists).await?;
                    }
                    Ok(Output::Command("DROP INDEX".into()))
                }
                other => Err(PgError::unsupported(format!("DROP {other}"))),
            }
        }
        Statement::Truncate(t) => {
            let mut tables = Vec::new();
            for target in &t.table_names {
                tables.push(lock_for_ddl(engine, session, &object_parts(&target.name)).await?);
            }
            let cat = session.catalog();
            for p in &tables {
                if let Some((child, _)) = cat
                    .referencing(p.id)
                    .find(|(c, _)| !tables.iter().any(|t| t.id == c.id))
                {
                    return Err(PgError::new(
                        codes::FEATURE_NOT_SUPPORTED,
                        "cannot truncate a table referenced in a foreign key constraint",
                    )
                    .with_detail(format!(
                        "Table \"{}\" references \"{}\".",
                        child.name, p.name
                    ))
                    .with_hint(format!(
                        "Truncate table \"{}\" at the same time, or use TRUNCATE ... CASCADE.",
                        child.name
                    )));
                }
            }
            // As PostgreSQL gives the table new files: new ids for the
            // table and its indexes (empty key spaces) at COMMIT, and the
            // old rows are purged after it.
            let moved = change_and_purge(engine, session, |cat| {
                let mut prefixes = Vec::new();
                let mut moved = Vec::new();
                for t in &tables {
                    let Some(now) = cat.tables.get(&t.id) else {
                        continue;
                    };
                    prefixes.extend(table_prefixes(now));
                    if let Some(new) = cat.move_to_new_ids(t.id) {
                        moved.push((t.id, new));
                    }
                }
                Ok((moved, prefixes))
            })
            .await?;
            if let Some(b) = session.block_mut() {
                for (old, new) in moved {
                    crate::sql::session::PendingFk::renumber(&mut b.pending_fks, old, new);
                }
            }
            Ok(Output::Command("TRUNCATE TABLE".into()))
        }
        Statement::CreateIndex(ci) => create_index(engine, session, ci).await,
        Statement::AlterTable(at) => {
            let parts = object_parts(&at.name);
            let table = match lock_for_ddl(engine, session, &parts).await {
                Ok(t) => t,
                Err(e) if at.if_exists && e.code == codes::UNDEFINED_TABLE => {
                    return Ok(Output::Command("ALTER TABLE".into()));
                }
                Err(e) => return Err(e),
            };
            for op in at.operations {
                // Each operation sees what the one before it changed.
                let table = crate::sql::dml::resolve_table(engine, session, &parts)
                    .unwrap_or_else(|_| table.clone());
                alter_table(engine, session, &table, op).await?;
            }
            Ok(Output::Command("ALTER TABLE".into()))
        }
        _ => Err(PgError::internal("not a DDL statement")),
    }
}

/// COMMENT ON { TABLE | VIEW | SEQUENCE | COLUMN | INDEX | SCHEMA |
/// EXTENSION } name IS 'text' | NULL: kept in the catalog for the
/// catalogs to show (issue 15's `obj_description`); the object must exist.
async fn comment_on(
    engine: &Engine,
    session: &mut Session,
    object_type: CommentObject,
    name: &datafusion::sql::sqlparser::ast::ObjectName,
    comment: Option<String>,
) -> PgResult<Output> {
    let parts = object_parts(name);
    let cat = session.catalog();
    let search_path = session.search_path();
    let split = |parts: &[String]| -> PgResult<(Option<String>, String)> {
        crate::sql::parse::schema_and_name(parts)
            .map(|(s, n)| (s.map(str::to_string), n.to_string()))
            .ok_or_else(|| PgError::syntax("improper qualified name"))
    };
    let key = match object_type {
        CommentObject::Table => {
            let t = crate::sql::dml::resolve_table(engine, session, &parts)?;
            format!("table:{}", t.id)
        }
        CommentObject::View | CommentObject::Sequence => {
            let (schema, n) = split(&parts)?;
            let (id, _) = cat
                .resolve_relation(schema.as_deref(), &n, &search_path)
                .ok_or_else(|| PgError::undefined_table(&n))?;
            format!("relation:{id}")
        }
        CommentObject::Column => {
            let (table, column) = parts.split_at(parts.len().saturating_sub(1));
            let t = crate::sql::dml::resolve_table(engine, session, table)?;
            let c = t.column(&column[0]).ok_or_else(|| {
                PgError::new(
                    codes::UNDEFINED_COLUMN,
                    format!(
                        "column \"{}\" of relation \"{}\" does not exist",
                        column[0], t.name
                    ),
                )
            })?;
            format!("column:{}:{}", t.id, c.id)
        }
        CommentObject::Index => {
            let (schema, n) = split(&parts)?;
            let owner = match &schema {
                Some(s) => cat.index_owner(s, &n),
                None => search_path.iter().find_map(|s| cat.index_owner(s, &n)),
            }
            .ok_or_else(|| {
                PgError::new(
                    codes::UNDEFINED_TABLE,
                    format!("relation \"{n}\" does not exist"),
                )
            })?;
            let idx = owner
                .indexes
                .iter()
                .find(|i| i.name == n)
                .expect("owner has it");
            format!("index:{}", idx.id)
        }
        CommentObject::Schema => {
            let n = parts.join(".");
            if !cat.schemas.contains(&n) {
                return Err(PgError::new(
                    codes::INVALID_SCHEMA_NAME,
                    format!("schema \"{n}\" does not exist"),
                ));
            }
            format!("schema:{n}")
        }
        CommentObject::Extension => format!("extension:{}", parts.join(".")),
        other => return Err(PgError::unsupported(format!("COMMENT ON {other}"))),
    };
    change(engine, session, |cat| {
        match comment {
            Some(text) if !text.is_empty() => {
                cat.comments.insert(key, text);
            }
            _ => {
                cat.comments.remove(&key);
            }
        }
        Ok(())
    })
    .await?;
    Ok(Output::Command("COMMENT".into()))
}
