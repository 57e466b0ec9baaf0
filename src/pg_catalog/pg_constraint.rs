//! `pg_constraint`: PRIMARY KEY, UNIQUE, CHECK and FOREIGN KEY
//! constraints as PostgreSQL 15 lists them (NOT NULL is an attribute of
//! the column there, not a constraint), and their text as
//! `pg_get_constraintdef` prints it.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int16Builder, ListBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table};
use super::pg_attribute::attnum;
use super::{deparse, oids};
use crate::catalog::{Catalog, FkAction, Table};
use crate::types::text::quote_ident_if_needed;

/// One constraint of a table.
pub struct Constraint<'a> {
    pub oid: i64,
    pub name: String,
    pub table: &'a Table,
    pub kind: Kind<'a>,
}

pub enum Kind<'a> {
    Primary(&'a crate::catalog::Index),
    Unique(&'a crate::catalog::Index),
    Check(&'a crate::catalog::Check),
    Foreign(&'a crate::catalog::ForeignKey),
}

impl Constraint<'_> {
    fn contype(&self) -> &'static str {
        match self.kind {
            Kind::Primary(_) => "p",
            Kind::Unique(_) => "u",
            Kind::Check(_) => "c",
            Kind::Foreign(_) => "f",
        }
    }
}

/// Every constraint in the catalog, table by table.
pub fn constraints(cat: &Catalog) -> Vec<Constraint<'_>> {
    cat.tables.values().flat_map(table_constraints).collect()
}

/// The constraints of table `t`.
pub fn table_constraints(t: &Table) -> Vec<Constraint<'_>> {
    let mut out = Vec::new();
    let mut add = |name: &str, kind| {
        out.push(Constraint {
            oid: oids::constraint(t.id, name),
            name: name.to_string(),
            table: t,
            kind,
        })
    };
    for i in t.indexes.iter().filter(|i| i.constraint && !i.building) {
        add(
            &i.name,
            if i.primary {
                Kind::Primary(i)
            } else {
                Kind::Unique(i)
            },
        );
    }
    for c in &t.checks {
        add(&c.name, Kind::Check(c));
    }
    for f in &t.foreign_keys {
        add(&f.name, Kind::Foreign(f));
    }
    out
}

/// The referenced table of foreign key `f` and its unique index on the
/// referenced columns (in any order, as PostgreSQL accepts), the index
/// PostgreSQL records as the constraint's `conindid`.
pub fn referenced_index<'a>(
    cat: &'a Catalog,
    f: &crate::catalog::ForeignKey,
) -> Option<(&'a Table, &'a crate::catalog::Index)> {
    let rt = cat.tables.get(&f.ref_table)?;
    let same = |cols: &[u32]| {
        cols.len() == f.ref_columns.len() && cols.iter().all(|c| f.ref_columns.contains(c))
    };
    let idx = rt
        .indexes
        .iter()
        .filter(|i| (i.unique || i.primary) && !i.building && same(&i.columns))
        // A constraint's index before a bare unique index, as PostgreSQL
        // prefers the primary key.
        .min_by_key(|i| (!i.primary, !i.constraint))?;
    Some((rt, idx))
}

fn column_list(t: &Table, ids: &[u32]) -> String {
    ids.iter()
        .filter_map(|id| t.column_by_id(*id))
        .map(|c| quote_ident_if_needed(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn action_char(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "a",
        FkAction::Restrict => "r",
        FkAction::Cascade => "c",
        FkAction::SetNull => "n",
        FkAction::SetDefault => "d",
    }
}

/// `pg_get_constraintdef(oid, pretty)`; `visible` says whether a table
/// name needs no schema (it is the first of its name on the path).
pub fn definition(
    cat: &Catalog,
    c: &Constraint,
    pretty: bool,
    visible: &dyn Fn(&Table) -> bool,
) -> String {
    let t = c.table;
    match c.kind {
        Kind::Primary(i) => format!("PRIMARY KEY ({})", column_list(t, &i.columns)),
        Kind::Unique(i) => format!("UNIQUE ({})", column_list(t, &i.columns)),
        Kind::Check(ch) => {
            let mut s = format!(
                "CHECK ({})",
                deparse::expr(&ch.expr, &t.columns, None, pretty)
            );
            if !ch.validated {
                s.push_str(" NOT VALID");
            }
            s
        }
        Kind::Foreign(f) => {
            let Some(r) = cat.tables.get(&f.ref_table) else {
                return String::new();
            };
            let name = if visible(r) {
                quote_ident_if_needed(&r.name)
            } else {
                format!(
                    "{}.{}",
                    quote_ident_if_needed(&r.schema),
                    quote_ident_if_needed(&r.name)
                )
            };
            let mut s = format!(
                "FOREIGN KEY ({}) REFERENCES {name}({})",
                column_list(t, &f.columns),
                column_list(r, &f.ref_columns)
            );
            if f.on_update != FkAction::NoAction {
                s.push_str(&format!(" ON UPDATE {}", f.on_update.sql()));
            }
            if f.on_delete != FkAction::NoAction {
                s.push_str(&format!(" ON DELETE {}", f.on_delete.sql()));
            }
            if f.deferrable {
                s.push_str(" DEFERRABLE");
            }
            if f.deferred {
                s.push_str(" INITIALLY DEFERRED");
            }
            if !f.validated {
                s.push_str(" NOT VALID");
            }
            s
        }
    }
}

/// `pg_constraint`.
pub fn pg_constraint(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let rows = constraints(cat);
    let n = rows.len();
    let b = |name: &str| Field::new(name, DataType::Boolean, false);
    let list = |name: &str, item: DataType| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("item", item, true))),
            true,
        )
    };
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("conname", DataType::Utf8, false),
        oid("connamespace"),
        char1("contype"),
        b("condeferrable"),
        b("condeferred"),
        b("convalidated"),
        oid("conrelid"),
        oid("contypid"),
        oid("conindid"),
        oid("conparentid"),
        oid("confrelid"),
        char1("confupdtype"),
        char1("confdeltype"),
        char1("confmatchtype"),
        b("conislocal"),
        Field::new("coninhcount", DataType::Int32, false),
        b("connoinherit"),
        list("conkey", DataType::Int16),
        list("confkey", DataType::Int16),
        list("conpfeqop", DataType::Int64),
        list("conppeqop", DataType::Int64),
        list("conffeqop", DataType::Int64),
        list("confdelsetcols", DataType::Int16),
        list("conexclop", DataType::Int64),
        Field::new("conbin", DataType::Utf8, true),
    ]));
    let bools = |f: &dyn Fn(&Constraint) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let keys = |f: &dyn Fn(&Constraint) -> Option<Vec<i16>>| -> ArrayRef {
        let mut out = ListBuilder::new(Int16Builder::new());
        for r in &rows {
            match f(r) {
                Some(v) => {
                    out.values().append_slice(&v);
                    out.append(true);
                }
                None => out.append(false),
            }
        }
        Arc::new(out.finish())
    };
    let null_list = |item: DataType| -> ArrayRef {
        Arc::new(datafusion::arrow::array::ListArray::new_null(
            Arc::new(Field::new("item", item, true)),
            n,
        ))
    };
    fn fk<'a>(r: &Constraint<'a>) -> Option<&'a crate::catalog::ForeignKey> {
        match r.kind {
            Kind::Foreign(f) => Some(f),
            _ => None,
        }
    }
    // A foreign key's conindid: the referenced table's unique index on
    // the referenced columns.
    let ref_index = |r: &Constraint| -> i64 {
        match r.kind {
            Kind::Primary(i) | Kind::Unique(i) => oids::index(r.table, i),
            Kind::Foreign(f) => referenced_index(cat, f).map_or(0, |(rt, i)| oids::index(rt, i)),
            Kind::Check(_) => 0,
        }
    };
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.oid)),
            strs(rows.iter().map(|r| r.name.clone())),
            i64s(rows.iter().map(|r| oids::namespace(&r.table.schema))),
            strs(rows.iter().map(|r| r.contype().to_string())),
            bools(&|r| fk(r).is_some_and(|f| f.deferrable)),
            bools(&|r| fk(r).is_some_and(|f| f.deferred)),
            bools(&|r| match r.kind {
                Kind::Check(c) => c.validated,
                Kind::Foreign(f) => f.validated,
                _ => true,
            }),
            i64s(rows.iter().map(|r| oids::relation(r.table.id))),
            i64s(rows.iter().map(|_| 0)),
            i64s(rows.iter().map(ref_index)),
            i64s(rows.iter().map(|_| 0)),
            i64s(
                rows.iter()
                    .map(|r| fk(r).map_or(0, |f| oids::relation(f.ref_table))),
            ),
            strs(
                rows.iter()
                    .map(|r| fk(r).map_or(" ", |f| action_char(f.on_update)).to_string()),
            ),
            strs(
                rows.iter()
                    .map(|r| fk(r).map_or(" ", |f| action_char(f.on_delete)).to_string()),
            ),
            strs(rows.iter().map(|r| fk(r).map_or(" ", |_| "s").to_string())),
            bools(&|_| true),
            Arc::new(datafusion::arrow::array::Int32Array::from(vec![0; n])),
            // connoinherit: keys are never inherited; checks may be.
            bools(&|r| !matches!(r.kind, Kind::Check(_))),
            keys(&|r| {
                let t = r.table;
                let ids: &[u32] = match r.kind {
                    Kind::Primary(i) | Kind::Unique(i) => &i.columns,
                    Kind::Check(c) => &c.columns,
                    Kind::Foreign(f) => &f.columns,
                };
                Some(ids.iter().map(|c| attnum(t, *c)).collect())
            }),
            keys(&|r| {
                let f = fk(r)?;
                let rt = cat.tables.get(&f.ref_table)?;
                Some(f.ref_columns.iter().map(|c| attnum(rt, *c)).collect())
            }),
            null_list(DataType::Int64),
            null_list(DataType::Int64),
            null_list(DataType::Int64),
            null_list(DataType::Int16),
            null_list(DataType::Int64),
            strs_opt(rows.iter().map(|r| match r.kind {
                Kind::Check(c) => Some(deparse::expr(&c.expr, &r.table.columns, None, true)),
                _ => None,
            })),
        ],
    )
}

fn strs_opt(v: impl IntoIterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(datafusion::arrow::array::StringArray::from_iter(v))
}
