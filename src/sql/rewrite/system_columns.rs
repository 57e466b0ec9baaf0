//! `tableoid`, the system column every PostgreSQL relation has: the OID
//! of the catalog a row comes from. pg_dump reads it from each catalog
//! it scans (`SELECT c.tableoid, c.oid, ... FROM pg_class c`) to tell
//! objects of different kinds apart. GrapeDB's catalogs are computed
//! relations without system columns, so `alias.tableoid` (or a bare
//! `tableoid` over one catalog) becomes the catalog's OID as a constant.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Ident, ObjectName, Query, SelectItem, SetExpr, TableFactor, TableWithJoins,
    Value, VisitMut, VisitorMut,
};

const TABLEOID: &str = "tableoid";

/// Every `tableoid` of a `pg_catalog` relation, as that relation's OID.
pub fn rewrite(stmt: &mut datafusion::sql::sqlparser::ast::Statement) {
    let mut v = Scopes::default();
    let _ = stmt.visit(&mut v);
}

/// The catalogs (alias or name → OID) of each query being visited,
/// innermost last.
#[derive(Default)]
struct Scopes {
    stack: Vec<HashMap<String, i64>>,
}

/// The OID of `name` if it is a catalog GrapeDB answers
/// (`pg_catalog.pg_class` or unqualified `pg_class`).
fn catalog_oid(name: &ObjectName) -> Option<i64> {
    let parts = crate::sql::parse::object_parts(name);
    let table = match parts.as_slice() {
        [t] => t,
        [s, t] if s == "pg_catalog" => t,
        _ => return None,
    };
    crate::pg_catalog::oids::SYSTEM_RELATIONS
        .iter()
        .find(|(n, _)| n == table)
        .map(|(_, oid)| *oid)
}

fn add_factor(scope: &mut HashMap<String, i64>, tf: &TableFactor) {
    match tf {
        TableFactor::Table { name, alias, .. } => {
            if let Some(oid) = catalog_oid(name) {
                let key = match alias {
                    Some(a) => a.name.value.clone(),
                    None => crate::sql::parse::object_parts(name)
                        .pop()
                        .unwrap_or_default(),
                };
                scope.insert(key, oid);
            }
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => add_from(scope, std::slice::from_ref(table_with_joins)),
        _ => {}
    }
}

fn add_from(scope: &mut HashMap<String, i64>, from: &[TableWithJoins]) {
    for f in from {
        add_factor(scope, &f.relation);
        for j in &f.joins {
            add_factor(scope, &j.relation);
        }
    }
}

/// The catalogs a query's body reads (each SELECT of a set operation).
fn scope_of(body: &SetExpr, scope: &mut HashMap<String, i64>) {
    match body {
        SetExpr::Select(s) => add_from(scope, &s.from),
        SetExpr::SetOperation { left, right, .. } => {
            scope_of(left, scope);
            scope_of(right, scope);
        }
        SetExpr::Query(q) => scope_of(&q.body, scope),
        _ => {}
    }
}

fn is_tableoid(e: &Expr) -> bool {
    match e {
        Expr::Identifier(i) => i.quote_style.is_none() && i.value.eq_ignore_ascii_case(TABLEOID),
        Expr::CompoundIdentifier(p) => {
            p.len() == 2 && p[1].quote_style.is_none() && p[1].value.eq_ignore_ascii_case(TABLEOID)
        }
        _ => false,
    }
}

/// A bare `tableoid` (or `x.tableoid`) in a select list keeps its name
/// once it is a constant.
fn name_items(body: &mut SetExpr) {
    match body {
        SetExpr::Select(s) => {
            for item in s.projection.iter_mut() {
                if let SelectItem::UnnamedExpr(e) = item
                    && is_tableoid(e)
                {
                    *item = SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: Ident::new(TABLEOID),
                    };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_items(left);
            name_items(right);
        }
        _ => {}
    }
}

impl VisitorMut for Scopes {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let mut scope = HashMap::new();
        scope_of(&q.body, &mut scope);
        if !scope.is_empty() {
            name_items(&mut q.body);
        }
        self.stack.push(scope);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
        self.stack.pop();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if !is_tableoid(e) {
            return ControlFlow::Continue(());
        }
        let oid = match e {
            Expr::CompoundIdentifier(p) => {
                let alias = &p[0].value;
                self.stack.iter().rev().find_map(|s| s.get(alias).copied())
            }
            // A bare `tableoid`: the innermost query's one relation's,
            // when that is a catalog.
            Expr::Identifier(_) => self
                .stack
                .last()
                .filter(|s| s.len() == 1)
                .and_then(|s| s.values().next().copied()),
            _ => None,
        };
        if let Some(oid) = oid {
            *e = Expr::Cast {
                kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                expr: Box::new(Expr::value(Value::Number(oid.to_string(), false))),
                data_type: DataType::Custom(ObjectName::from(vec![Ident::new("oid")]), vec![]),
                array: false,
                format: None,
            };
        }
        ControlFlow::Continue(())
    }
}
