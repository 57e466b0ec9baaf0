//! CREATE [OR REPLACE] VIEW, DROP VIEW, what depends on a view or table,
//! and CREATE TABLE AS / SELECT INTO.

use datafusion::sql::sqlparser::ast::{CreateTable, CreateView, ObjectName, Query, Statement};

use super::common::*;
use crate::catalog::{Catalog, Relation, View};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::rewrite::columns::visible;
use crate::sql::rewrite::views::{relations_read, view_named};
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use crate::types::SqlType;
use crate::types::text::quote_ident;

/// The result column names of a query, as PostgreSQL names them.
async fn result_columns(
    engine: &Engine,
    session: &Session,
    query: &Query,
) -> PgResult<Vec<datafusion::arrow::datatypes::Field>> {
    let plan = engine
        .plan(session, Statement::Query(Box::new(query.clone())))
        .await?;
    Ok(plan
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_name(visible(f.name())))
        .collect())
}

/// Column names: the given list over the query's, checked for duplicates.
fn column_names(given: Vec<String>, query: Vec<String>, what: &str) -> PgResult<Vec<String>> {
    if given.len() > query.len() {
        return Err(PgError::syntax(format!(
            "{what} specifies more column names than columns"
        )));
    }
    let mut names = query;
    for (i, g) in given.into_iter().enumerate() {
        names[i] = g;
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(PgError::new(
                codes::DUPLICATE_COLUMN,
                format!("column \"{n}\" specified more than once"),
            ));
        }
    }
    Ok(names)
}

pub(super) async fn create_view(
    engine: &Engine,
    session: &mut Session,
    cv: CreateView,
) -> PgResult<Output> {
    if cv.materialized {
        return Err(PgError::unsupported("CREATE MATERIALIZED VIEW"));
    }
    if cv
        .options
        .to_string()
        .to_lowercase()
        .contains("check_option")
    {
        return Err(crate::sql::parse::check_option_refused());
    }
    let (schema, name) = split_name(session, &object_parts(&cv.name))?;
    let fields = result_columns(engine, session, &cv.query).await?;
    let names = column_names(
        cv.columns.iter().map(|c| ident_name(&c.name)).collect(),
        fields.iter().map(|f| f.name().clone()).collect(),
        "CREATE VIEW",
    )?;
    let search_path = session.search_path();
    let cat = session.catalog();
    let depends_on = relations_read(&cv.query, &cat, &search_path);
    let view = View {
        schema: schema.clone(),
        name: name.clone(),
        query: cv.query.to_string(),
        columns: names,
        depends_on,
        types: fields
            .iter()
            .map(|f| crate::types::SqlType::from_field(f))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
    };
    change(engine, session, |cat| {
        if cat.table(&schema, &name).is_some() {
            return Err(if cv.or_replace {
                PgError::new(
                    codes::WRONG_OBJECT_TYPE,
                    format!("\"{name}\" is not a view"),
                )
            } else {
                PgError::new(
                    codes::DUPLICATE_TABLE,
                    format!("relation \"{name}\" already exists"),
                )
            });
        }
        match cat.resolve_relation(Some(&schema), &name, &[]) {
            Some((id, Relation::View(old))) if cv.or_replace => {
                if view.columns.len() < old.columns.len() {
                    return Err(PgError::new(
                        codes::INVALID_TABLE_DEFINITION,
                        "cannot drop columns from view",
                    ));
                }
                for (o, n) in old.columns.iter().zip(&view.columns) {
                    if o != n {
                        return Err(PgError::new(
                            codes::INVALID_TABLE_DEFINITION,
                            format!("cannot change name of view column \"{o}\" to \"{n}\""),
                        )
                        .with_hint("Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead."));
                    }
                }
                cat.relations.insert(id, Relation::View(view));
                Ok(())
            }
            Some(_) => Err(PgError::new(
                codes::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            )),
            None => {
                let id = cat.next_table_id;
                cat.next_table_id += 1;
                cat.relations.insert(id, Relation::View(view));
                Ok(())
            }
        }
    })
    .await?;
    Ok(Output::Command("CREATE VIEW".into()))
}

/// Views that read relation `id`, directly or through other views.
pub(super) fn dependent_views(cat: &Catalog, id: u32) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    let mut todo = vec![id];
    while let Some(of) = todo.pop() {
        for (vid, r) in &cat.relations {
            if let Relation::View(v) = r {
                if v.depends_on.contains(&of) && !out.iter().any(|(o, _)| o == vid) {
                    out.push((*vid, v.name.clone()));
                    todo.push(*vid);
                }
            }
        }
    }
    out
}

/// 2BP01 for a DROP of `what` that views still read (unless CASCADE,
/// which drops them too, with PostgreSQL's notice).
pub(super) fn views_in_the_way(
    session: &mut Session,
    cat: &Catalog,
    id: u32,
    what: &str,
    cascade: bool,
    dropping: &[u32],
) -> PgResult<Vec<u32>> {
    let deps: Vec<(u32, String)> = dependent_views(cat, id)
        .into_iter()
        .filter(|(v, _)| !dropping.contains(v))
        .collect();
    if deps.is_empty() {
        return Ok(Vec::new());
    }
    if !cascade {
        let (_, first) = &deps[0];
        return Err(PgError::new(
            codes::DEPENDENT_OBJECTS_STILL_EXIST,
            format!("cannot drop {what} because other objects depend on it"),
        )
        .with_detail(format!("view {first} depends on {what}"))
        .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
    }
    session.notices.push(cascade_notice(
        deps.iter().map(|(_, n)| format!("view {n}")).collect(),
    ));
    Ok(deps.into_iter().map(|(v, _)| v).collect())
}

pub(super) async fn drop_view(
    engine: &Engine,
    session: &mut Session,
    names: &[ObjectName],
    if_exists: bool,
    cascade: bool,
) -> PgResult<Output> {
    let search_path = session.search_path();
    let cat = session.catalog();
    let dropping: Vec<u32> = names
        .iter()
        .filter_map(|n| view_named(&cat, &search_path, n).map(|(id, _)| id))
        .collect();
    for n in names {
        let cat = session.catalog();
        let Some((id, view)) = view_named(&cat, &search_path, n) else {
            let parts = object_parts(n);
            let name = parts.last().cloned().unwrap_or_default();
            if crate::sql::dml::resolve_table(engine, session, &parts).is_ok() {
                return Err(PgError::new(
                    codes::WRONG_OBJECT_TYPE,
                    format!("\"{name}\" is not a view"),
                )
                .with_hint("Use DROP TABLE to remove a table."));
            }
            if if_exists {
                session.notices.push(Notice::notice(
                    codes::SUCCESSFUL_COMPLETION,
                    format!("view \"{name}\" does not exist, skipping"),
                ));
                continue;
            }
            return Err(PgError::new(
                codes::UNDEFINED_TABLE,
                format!("view \"{name}\" does not exist"),
            ));
        };
        let what = format!("view {}", view.name);
        let also = views_in_the_way(session, &cat, id, &what, cascade, &dropping)?;
        change(engine, session, |cat| {
            cat.relations.remove(&id);
            for v in &also {
                cat.relations.remove(v);
            }
            Ok(())
        })
        .await?;
    }
    Ok(Output::Command("DROP VIEW".into()))
}

/// CREATE TABLE name [(columns)] AS query: a table of the query's columns
/// and types, filled with its rows in the same transaction.
pub(super) async fn create_table_as(
    engine: &Engine,
    session: &mut Session,
    ct: CreateTable,
) -> PgResult<Output> {
    let query = ct.query.clone().expect("CREATE TABLE AS has a query");
    let (schema, name) = split_name(session, &object_parts(&ct.name))?;
    if session.catalog().relation_exists(&schema, &name) {
        if ct.if_not_exists {
            session.notices.push(Notice::notice(
                codes::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists, skipping"),
            ));
            return Ok(Output::Command("CREATE TABLE AS".into()));
        }
        return Err(PgError::new(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let fields = result_columns(engine, session, &query).await?;
    let names = column_names(
        ct.columns.iter().map(|c| ident_name(&c.name)).collect(),
        fields.iter().map(|f| f.name().clone()).collect(),
        "CREATE TABLE AS",
    )?;
    let mut defs = Vec::new();
    for (f, n) in fields.iter().zip(&names) {
        let ty = SqlType::from_field(f).ok_or_else(|| {
            PgError::unsupported(format!(
                "a column of type {} in CREATE TABLE AS",
                f.data_type()
            ))
        })?;
        defs.push(format!("{} {}", quote_ident(n), ty.pg_name()));
    }
    let target = format!("{}.{}", quote_ident(&schema), quote_ident(&name));
    let create = format!("CREATE TABLE {target} ({})", defs.join(", "));
    run_nested(engine, session, &create).await?;
    let out = run_nested(engine, session, &format!("INSERT INTO {target} {query}")).await?;
    let n = match out {
        Output::Command(tag) => tag.rsplit(' ').next().unwrap_or("0").to_string(),
        _ => "0".into(),
    };
    Ok(Output::Command(format!("SELECT {n}")))
}
