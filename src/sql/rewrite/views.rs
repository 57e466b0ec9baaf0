//! Views: a view named in FROM becomes its query, as a derived table under
//! the view's name (or the alias) with the view's column names. Views over
//! views expand in turn (the new subquery is visited too).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, Query, Statement, TableAlias, TableAliasColumnDef, TableFactor, VisitMut,
    VisitorMut, visit_relations,
};

use crate::catalog::{Catalog, Relation, View};
use crate::error::{PgError, PgResult};
use crate::sql::parse::{object_parts, schema_and_name};

/// The view a relation name resolves to along the search path (a table
/// of the same name earlier on the path wins, as in PostgreSQL).
pub fn view_named<'a>(
    cat: &'a Catalog,
    search_path: &[String],
    name: &ObjectName,
) -> Option<(u32, &'a View)> {
    let parts = object_parts(name);
    let (schemas, rel): (Vec<String>, &str) = match schema_and_name(&parts)? {
        (None, n) => (search_path.to_vec(), n),
        (Some(s), n) => (vec![s.to_string()], n),
    };
    for s in &schemas {
        if cat.table(s, rel).is_some() {
            return None;
        }
        if let Some((id, Relation::View(v))) = cat.resolve_relation(Some(s), rel, search_path) {
            return Some((id, v));
        }
    }
    None
}

/// The query of a view, parsed.
pub fn view_query(v: &View) -> PgResult<Query> {
    match crate::sql::parse(&v.query)?.pop() {
        Some(Statement::Query(q)) => Ok(*q),
        _ => Err(PgError::internal(format!("view {} has no query", v.name))),
    }
}

struct Expand<'a> {
    cat: &'a Catalog,
    search_path: &'a [String],
    /// Expansions so far: a bound against a view that names itself.
    count: usize,
    error: Option<PgError>,
}

impl VisitorMut for Expand<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = tf
        else {
            return ControlFlow::Continue(());
        };
        let Some((_, view)) = view_named(self.cat, self.search_path, name) else {
            return ControlFlow::Continue(());
        };
        self.count += 1;
        if self.count > 1000 {
            self.error = Some(PgError::new(
                "42P17",
                format!(
                    "infinite recursion detected in rules for relation \"{}\"",
                    view.name
                ),
            ));
            return ControlFlow::Break(());
        }
        let query = match view_query(view) {
            Ok(q) => q,
            Err(e) => {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        };
        let mut alias = alias.clone().unwrap_or(TableAlias {
            explicit: false,
            name: Ident::with_quote('"', view.name.clone()),
            columns: Vec::new(),
            at: None,
        });
        if alias.columns.is_empty() {
            alias.columns = view
                .columns
                .iter()
                .map(|c| TableAliasColumnDef {
                    name: Ident::with_quote('"', c.clone()),
                    data_type: None,
                })
                .collect();
        }
        *tf = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(query),
            alias: Some(alias),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}

/// Replace every view `stmt` reads by its query.
pub fn expand(stmt: &mut Statement, cat: &Catalog, search_path: &[String]) -> PgResult<()> {
    if !cat
        .relations
        .values()
        .any(|r| matches!(r, Relation::View(_)))
    {
        return Ok(());
    }
    let mut v = Expand {
        cat,
        search_path,
        count: 0,
        error: None,
    };
    let _ = stmt.visit(&mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether a view reads column `column` (of one of the relations it
/// reads): it names it, or selects `*`.
pub fn reads_column(v: &View, column: &str) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr, SelectItem, SetExpr, visit_expressions};
    let Ok(q) = view_query(v) else {
        return true;
    };
    if let SetExpr::Select(s) = q.body.as_ref() {
        if s.projection.iter().any(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        }) {
            return true;
        }
    }
    let mut found = false;
    let _ = visit_expressions(&q, |e| {
        let name = match e {
            Expr::Identifier(i) => Some(i),
            Expr::CompoundIdentifier(p) => p.last(),
            _ => None,
        };
        if name.is_some_and(|i| {
            (if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }) == column
        }) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// A view's query with relation `old` renamed `new` (ALTER TABLE RENAME),
/// or column `old` of its relations renamed `new` (RENAME COLUMN).
pub fn renamed(
    v: &View,
    relation: Option<(&str, &str)>,
    column: Option<(&str, &str)>,
) -> PgResult<String> {
    use datafusion::sql::sqlparser::ast::{
        Expr, ObjectNamePart, visit_expressions_mut, visit_relations_mut,
    };
    let mut q = view_query(v)?;
    if let Some((old, new)) = relation {
        let _ = visit_relations_mut(&mut q, |name: &mut ObjectName| {
            if object_parts(name).last().map(String::as_str) == Some(old) {
                if let Some(ObjectNamePart::Identifier(i)) = name.0.last_mut() {
                    *i = Ident::with_quote('"', new);
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if let Some((old, new)) = column {
        let _ = visit_expressions_mut(&mut q, |e| {
            let ident = match e {
                Expr::Identifier(i) => Some(i),
                Expr::CompoundIdentifier(p) => p.last_mut(),
                _ => None,
            };
            if let Some(i) = ident {
                let folded = if i.quote_style.is_some() {
                    i.value.clone()
                } else {
                    i.value.to_lowercase()
                };
                if folded == old {
                    *i = Ident::with_quote('"', new);
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    Ok(q.to_string())
}

/// The tables and views a query names (for a view's dependencies).
pub fn relations_read(q: &Query, cat: &Catalog, search_path: &[String]) -> Vec<u32> {
    let mut ids = Vec::new();
    let _ = visit_relations(q, |name: &ObjectName| {
        let parts = object_parts(name);
        let Some((schema, rel)) = schema_and_name(&parts) else {
            return ControlFlow::<()>::Continue(());
        };
        if let Some(t) = cat.resolve(schema, rel, search_path) {
            ids.push(t.id);
        } else if let Some((id, _)) = cat.resolve_relation(schema, rel, search_path) {
            ids.push(id);
        }
        ControlFlow::Continue(())
    });
    ids.sort_unstable();
    ids.dedup();
    ids
}
