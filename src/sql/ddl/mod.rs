//! DDL: schema, table and index changes, committed to the catalog through the
//! meta group. Data changes that DDL implies (dropping rows, backfilling
//! index entries) go to the data groups afterwards.
//!
//! Files: `table` (CREATE/DROP TABLE), `index` (CREATE/DROP INDEX),
//! `vector_index` (HNSW and IVFFlat indexes, REINDEX), `alter` (ALTER
//! TABLE), `common` (what they share); this file classifies the statement.

mod alter;
mod common;
mod index;
mod table;
pub mod vector_index;

use datafusion::sql::sqlparser::ast::{ObjectType, SchemaName, Statement};

use crate::catalog::Table;
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::dml::resolve_table;
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use alter::alter_table;
use common::{purge, table_prefixes};
use index::{create_index, drop_index};
use table::{create_table, drop_table};

pub async fn execute(engine: &Engine, session: &mut Session, stmt: Statement) -> PgResult<Output> {
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
            let created = engine
                .catalog
                .update(|cat| {
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
        Statement::CreateTable(ct) => create_table(engine, session, ct).await,
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => match object_type {
            ObjectType::Table => {
                for n in &names {
                    drop_table(engine, session, &object_parts(n), if_exists).await?;
                }
                Ok(Output::Command("DROP TABLE".into()))
            }
            ObjectType::Schema => {
                for n in &names {
                    let name = object_parts(n).join(".");
                    let mut skipped = false;
                    let dropped = engine
                        .catalog
                        .update_and_purge(|cat| {
                            if !cat.schemas.contains(&name) {
                                if if_exists {
                                    skipped = true;
                                    return Ok((vec![], vec![]));
                                }
                                return Err(PgError::new(codes::INVALID_SCHEMA_NAME, format!("schema \"{name}\" does not exist")));
                            }
                            let tables: Vec<Table> = cat.tables_in(&name).cloned().collect();
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
                            cat.schemas.remove(&name);
                            Ok((prefixes.clone(), prefixes))
                        })
                        .await?;
                    if skipped {
                        session.notices.push(Notice::notice(
                            codes::SUCCESSFUL_COMPLETION,
                            format!("schema \"{name}\" does not exist, skipping"),
                        ));
                    }
                    purge(engine, dropped).await?;
                }
                Ok(Output::Command("DROP SCHEMA".into()))
            }
            ObjectType::Index => {
                for n in &names {
                    drop_index(engine, session, &object_parts(n), if_exists).await?;
                }
                Ok(Output::Command("DROP INDEX".into()))
            }
            other => Err(PgError::unsupported(format!("DROP {other}"))),
        },
        Statement::Truncate(t) => {
            let mut tables = Vec::new();
            for target in &t.table_names {
                tables.push(resolve_table(engine, session, &object_parts(&target.name))?);
            }
            // Recorded first: a crash midway is finished at the next start,
            // so the TRUNCATE is never left half done.
            let prefixes: Vec<Vec<u8>> = tables.iter().flat_map(|t| table_prefixes(t)).collect();
            engine.catalog.purging(&prefixes).await?;
            purge(engine, prefixes).await?;
            Ok(Output::Command("TRUNCATE TABLE".into()))
        }
        Statement::CreateIndex(ci) => create_index(engine, session, ci).await,
        Statement::AlterTable(at) => {
            let parts = object_parts(&at.name);
            let table = match resolve_table(engine, session, &parts) {
                Ok(t) => t,
                Err(_) if at.if_exists => return Ok(Output::Command("ALTER TABLE".into())),
                Err(e) => return Err(e),
            };
            for op in at.operations {
                alter_table(engine, session, &table, op).await?;
            }
            Ok(Output::Command("ALTER TABLE".into()))
        }
        _ => Err(PgError::internal("not a DDL statement")),
    }
}
