//! The table locks a statement takes before its snapshot, as PostgreSQL
//! locks the relations a statement names while parsing it and only then
//! takes the snapshot: a statement that waited for a DDL's block sees the
//! schema and the rows that block committed, never the new schema over old
//! rows. (Tables reached later, through `resolve_table` and the catalog
//! provider, are locked there too.)

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{FromTable, Statement, TableObject, visit_relations};

use super::parse::object_parts;
use super::session::Session;
use crate::catalog::locks::LockMode;
use crate::error::PgResult;

/// Lock the tables `stmt` names: its target in `RowExclusive` (INSERT,
/// UPDATE, DELETE, COPY FROM), the others in `AccessShare`.
pub async fn lock_named_tables(session: &Session, stmt: &Statement) -> PgResult<()> {
    let mut targets: Vec<Vec<String>> = Vec::new();
    match stmt {
        Statement::Insert(i) => {
            if let TableObject::TableName(n) = &i.table {
                targets.push(object_parts(n));
            }
        }
        Statement::Update(u) => {
            if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } =
                &u.table.relation
            {
                targets.push(object_parts(name));
            }
        }
        Statement::Delete(d) => {
            let (FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t)) = &d.from;
            for t in t {
                if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } =
                    &t.relation
                {
                    targets.push(object_parts(name));
                }
            }
        }
        Statement::Copy { .. } | Statement::Query(_) | Statement::Explain { .. } => {}
        _ => return Ok(()),
    }
    let mut named: Vec<Vec<String>> = Vec::new();
    let _ = visit_relations(stmt, |name| {
        named.push(object_parts(name));
        ControlFlow::<()>::Continue(())
    });
    let cat = session.catalog();
    let path = session.search_path();
    let find = |parts: &[String]| match parts {
        [name] => cat.resolve(None, name, &path).map(|t| t.id),
        [schema, name] | [_, schema, name] => cat.resolve(Some(schema), name, &path).map(|t| t.id),
        _ => None,
    };
    let copy_from = matches!(stmt, Statement::Copy { to: false, .. });
    for parts in &targets {
        if let Some(id) = find(parts) {
            session.locks().acquire(id, LockMode::RowExclusive).await?;
        }
    }
    for parts in &named {
        if let Some(id) = find(parts) {
            let mode = if copy_from {
                LockMode::RowExclusive
            } else {
                LockMode::AccessShare
            };
            session.locks().acquire(id, mode).await?;
        }
    }
    Ok(())
}
