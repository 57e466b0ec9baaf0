//! `information_schema`'s constraint views as PostgreSQL 15 fills them:
//! `table_constraints`, `key_column_usage`, `referential_constraints`,
//! `constraint_column_usage`, `check_constraints`. PostgreSQL lists each
//! NOT NULL column as a CHECK constraint named
//! `<schema oid>_<table oid>_<attnum>_not_null` here (not in
//! pg_constraint), so these do too; JDBC's getImportedKeys, SQLAlchemy
//! and BI tools read them.

use std::sync::Arc;

use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::rows::{Cell, Rows, int, none, t, yes_no};
use crate::catalog::{Catalog, FkAction, Table};
use crate::pg_catalog::oids;
use crate::pg_catalog::pg_attribute::attnum;
use crate::pg_catalog::pg_constraint::{Kind, constraints, definition, referenced_index};

/// The NOT NULL "constraints" of table `t`: (name, column name).
fn not_null_checks(t: &Table) -> Vec<(String, &str)> {
    t.columns
        .iter()
        .filter(|c| c.not_null)
        .map(|c| {
            (
                format!(
                    "{}_{}_{}_not_null",
                    oids::namespace(&t.schema),
                    oids::relation(t.id),
                    attnum(t, c.id)
                ),
                c.name.as_str(),
            )
        })
        .collect()
}

/// A constraint's row: its catalog, schema and name, its table's catalog,
/// schema and name (the six columns every one of these views opens
/// with), then `rest`.
fn named(
    db: &str,
    table: &Table,
    constraint: &str,
    rest: impl IntoIterator<Item = Cell>,
) -> Vec<Cell> {
    let mut row = vec![
        t(db),
        t(table.schema.clone()),
        t(constraint),
        t(db),
        t(table.schema.clone()),
        t(table.name.clone()),
    ];
    row.extend(rest);
    row
}

fn column_names(t: &Table, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| t.column_by_id(*id))
        .map(|c| c.name.clone())
        .collect()
}

pub fn table_constraints(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "constraint_catalog",
        "constraint_schema",
        "constraint_name",
        "table_catalog",
        "table_schema",
        "table_name",
        "constraint_type",
        "is_deferrable",
        "initially_deferred",
        "enforced",
        "nulls_distinct",
    ]);
    for c in constraints(cat) {
        let tb = c.table;
        let (kind, deferrable, deferred) = match c.kind {
            Kind::Primary(_) => ("PRIMARY KEY", false, false),
            Kind::Unique(_) => ("UNIQUE", false, false),
            Kind::Check(_) => ("CHECK", false, false),
            Kind::Foreign(f) => ("FOREIGN KEY", f.deferrable, f.deferred),
        };
        r.rows.push(named(
            db,
            tb,
            &c.name,
            [
                t(kind),
                yes_no(deferrable),
                yes_no(deferred),
                t("YES"),
                match c.kind {
                    Kind::Unique(_) => t("YES"),
                    _ => none(),
                },
            ],
        ));
    }
    for tb in cat.tables.values() {
        for (name, _) in not_null_checks(tb) {
            r.rows.push(named(
                db,
                tb,
                &name,
                [t("CHECK"), t("NO"), t("NO"), t("YES"), none()],
            ));
        }
    }
    r.build()
}

pub fn key_column_usage(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "constraint_catalog",
        "constraint_schema",
        "constraint_name",
        "table_catalog",
        "table_schema",
        "table_name",
        "column_name",
        "#ordinal_position",
        "#position_in_unique_constraint",
    ]);
    for c in constraints(cat) {
        let tb = c.table;
        let (cols, positions): (&[u32], Vec<Option<i32>>) = match c.kind {
            Kind::Primary(i) | Kind::Unique(i) => (&i.columns, vec![None; i.columns.len()]),
            Kind::Foreign(f) => {
                // Where each referenced column stands in the referenced
                // unique index's key.
                let idx = referenced_index(cat, f).map(|(_, i)| i);
                let pos = f
                    .ref_columns
                    .iter()
                    .map(|rc| {
                        idx.and_then(|i| i.columns.iter().position(|c| c == rc))
                            .map(|p| p as i32 + 1)
                    })
                    .collect();
                (&f.columns, pos)
            }
            Kind::Check(_) => continue,
        };
        for (n, (name, pos)) in column_names(tb, cols)
            .into_iter()
            .zip(positions)
            .enumerate()
        {
            r.rows.push(named(
                db,
                tb,
                &c.name,
                [t(name), int(Some(n as i32 + 1)), int(pos)],
            ));
        }
    }
    r.build()
}

fn rule(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "NO ACTION",
        FkAction::Restrict => "RESTRICT",
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
    }
}

pub fn referential_constraints(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "constraint_catalog",
        "constraint_schema",
        "constraint_name",
        "unique_constraint_catalog",
        "unique_constraint_schema",
        "unique_constraint_name",
        "match_option",
        "update_rule",
        "delete_rule",
    ]);
    for c in constraints(cat) {
        let Kind::Foreign(f) = c.kind else { continue };
        let unique = referenced_index(cat, f).filter(|(_, i)| i.constraint || i.primary);
        let (ucat, uschema, uname) = match unique {
            Some((rt, i)) => (t(db), t(rt.schema.clone()), t(i.name.clone())),
            None => (none(), none(), none()),
        };
        r.rows.push(vec![
            t(db),
            t(c.table.schema.clone()),
            t(c.name.clone()),
            ucat,
            uschema,
            uname,
            t("NONE"),
            t(rule(f.on_update)),
            t(rule(f.on_delete)),
        ]);
    }
    r.build()
}

pub fn constraint_column_usage(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "table_catalog",
        "table_schema",
        "table_name",
        "column_name",
        "constraint_catalog",
        "constraint_schema",
        "constraint_name",
    ]);
    for c in constraints(cat) {
        // A foreign key uses the referenced table's columns; the others
        // their own table's.
        let (tb, cols): (&Table, &[u32]) = match c.kind {
            Kind::Primary(i) | Kind::Unique(i) => (c.table, &i.columns),
            Kind::Check(ch) => (c.table, &ch.columns),
            Kind::Foreign(f) => match cat.tables.get(&f.ref_table) {
                Some(rt) => (rt, &f.ref_columns),
                None => continue,
            },
        };
        for name in column_names(tb, cols) {
            r.rows.push(vec![
                t(db),
                t(tb.schema.clone()),
                t(tb.name.clone()),
                t(name),
                t(db),
                t(c.table.schema.clone()),
                t(c.name.clone()),
            ]);
        }
    }
    r.build()
}

pub fn check_constraints(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "constraint_catalog",
        "constraint_schema",
        "constraint_name",
        "check_clause",
    ]);
    for c in constraints(cat) {
        if !matches!(c.kind, Kind::Check(_)) {
            continue;
        }
        // PostgreSQL: pg_get_constraintdef without its leading "CHECK ".
        let def = definition(cat, &c, false, &|_| true);
        r.rows.push(vec![
            t(db),
            t(c.table.schema.clone()),
            t(c.name.clone()),
            t(def.strip_prefix("CHECK ").unwrap_or(&def).to_string()),
        ]);
    }
    for tb in cat.tables.values() {
        for (name, column) in not_null_checks(tb) {
            r.rows.push(vec![
                t(db),
                t(tb.schema.clone()),
                t(name),
                t(format!("{column} IS NOT NULL")),
            ]);
        }
    }
    r.build()
}
