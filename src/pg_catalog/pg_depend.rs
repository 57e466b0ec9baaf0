//! `pg_depend`: which object needs which, as PostgreSQL 15 records it for
//! the objects GrapeDB has. Tools read it to tell a serial's or identity's
//! sequence from a free one (SQLAlchemy, Alembic, pg_dump), an index made
//! by a constraint from one made by CREATE INDEX, and what belongs to an
//! extension. Built-in objects are "pinned" in PostgreSQL and never
//! appear; neither do they here.

use std::sync::Arc;

use datafusion::arrow::array::Int32Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table};
use super::oids;
use super::pg_attribute::{attnum, default_text, type_oid};
use super::pg_constraint::{Kind, referenced_index, table_constraints};
use crate::catalog::{Catalog, Relation};
use crate::types::SqlType;

const PG_TYPE: i64 = 1247;
const PG_CLASS: i64 = 1259;
const PG_ATTRDEF: i64 = 2604;
const PG_CONSTRAINT: i64 = 2606;
const PG_NAMESPACE: i64 = 2615;
const PG_EXTENSION: i64 = 3079;
const PG_LANGUAGE: i64 = 2612;
const PG_REWRITE: i64 = 2618;

/// One row: (classid, objid, objsubid) depends on (refclassid, refobjid,
/// refobjsubid) with `deptype` (n normal, a auto, i internal, e
/// extension member).
struct Dep {
    object: (i64, i64, i32),
    referenced: (i64, i64, i32),
    deptype: char,
}

/// The dependencies among the catalog's objects.
fn rows(cat: &Catalog) -> Vec<Dep> {
    let mut out = Vec::new();
    let mut dep = |object, referenced, deptype| {
        out.push(Dep {
            object,
            referenced,
            deptype,
        })
    };
    for t in cat.tables.values() {
        let rel = oids::relation(t.id);
        dep(
            (PG_CLASS, rel, 0),
            (PG_NAMESPACE, oids::namespace(&t.schema), 0),
            'n',
        );
        dep((PG_TYPE, oids::row_type(t.id), 0), (PG_CLASS, rel, 0), 'i');
        for (i, c) in t.columns.iter().enumerate() {
            let num = i as i32 + 1;
            // A column of a type that is not built in (pgvector's, an enum).
            let ty = type_oid(cat, &c.ty);
            if ty >= 16384 {
                dep((PG_CLASS, rel, num), (PG_TYPE, ty, 0), 'n');
            }
            // The pg_attrdef row's (an identity column has none).
            if default_text(cat, t, c).is_some() {
                let def = (PG_ATTRDEF, oids::attrdef(t.id, c.id), 0);
                dep(def, (PG_CLASS, rel, num), 'a');
            }
        }
        for ix in t.indexes.iter().filter(|i| !i.building) {
            let index = (PG_CLASS, oids::index(t, ix), 0);
            if ix.constraint {
                let con = oids::constraint(t.id, &ix.name);
                dep(index, (PG_CONSTRAINT, con, 0), 'i');
            } else {
                for c in &ix.columns {
                    dep(index, (PG_CLASS, rel, attnum(t, *c) as i32), 'a');
                }
            }
        }
        for con in table_constraints(t) {
            let object = (PG_CONSTRAINT, con.oid, 0);
            let columns: &[u32] = match con.kind {
                Kind::Primary(i) | Kind::Unique(i) => &i.columns,
                Kind::Check(c) => &c.columns,
                Kind::Foreign(f) => &f.columns,
            };
            for c in columns {
                dep(object, (PG_CLASS, rel, attnum(t, *c) as i32), 'a');
            }
            if let Kind::Foreign(f) = con.kind {
                if let Some((rt, ri)) = referenced_index(cat, f) {
                    dep(object, (PG_CLASS, oids::index(rt, ri), 0), 'n');
                    for c in &f.ref_columns {
                        let r = (PG_CLASS, oids::relation(rt.id), attnum(rt, *c) as i32);
                        dep(object, r, 'n');
                    }
                }
            }
        }
    }
    for (id, r) in &cat.relations {
        let rel = oids::relation(*id);
        let nsp = (PG_NAMESPACE, oids::namespace(r.schema()), 0);
        match r {
            Relation::Sequence(s) => {
                dep((PG_CLASS, rel, 0), nsp, 'n');
                if let Some((tid, cid)) = s.owned_by
                    && let Some(t) = cat.tables.get(&tid)
                {
                    // An identity column's sequence is part of it (i); a
                    // serial's is owned by the column (a), and its
                    // default reads the sequence.
                    let column = (PG_CLASS, oids::relation(tid), attnum(t, cid) as i32);
                    let identity = t.column_by_id(cid).is_some_and(|c| c.identity().is_some());
                    dep((PG_CLASS, rel, 0), column, if identity { 'i' } else { 'a' });
                    if !identity {
                        dep(
                            (PG_ATTRDEF, oids::attrdef(tid, cid), 0),
                            (PG_CLASS, rel, 0),
                            'n',
                        );
                    }
                }
            }
            // What a view reads is recorded through its `_RETURN` rule,
            // as PostgreSQL records it (pg_dump orders a view after what
            // it reads by these), by relation here, not by column.
            Relation::View(v) => {
                dep((PG_CLASS, rel, 0), nsp, 'n');
                dep((PG_TYPE, oids::row_type(*id), 0), (PG_CLASS, rel, 0), 'i');
                let rule = (PG_REWRITE, oids::view_rule(*id), 0);
                dep(rule, (PG_CLASS, rel, 0), 'i');
                dep(rule, (PG_CLASS, rel, 0), 'n');
                for read in &v.depends_on {
                    dep(rule, (PG_CLASS, oids::relation(*read), 0), 'n');
                }
            }
            Relation::Type(_) => {
                dep((PG_TYPE, oids::enum_type(*id), 0), nsp, 'n');
            }
        }
    }
    // The plpgsql language belongs to its extension.
    dep(
        (PG_LANGUAGE, oids::PLPGSQL_LANGUAGE, 0),
        (PG_EXTENSION, oids::PLPGSQL_EXTENSION, 0),
        'e',
    );
    // pgvector's types belong to its extension.
    for ty in [
        SqlType::Vector(None),
        SqlType::HalfVec(None),
        SqlType::SparseVec(None),
    ] {
        if let Some(t) = ty.oid() {
            dep(
                (PG_TYPE, t, 0),
                (PG_EXTENSION, oids::VECTOR_EXTENSION, 0),
                'e',
            );
        }
    }
    out
}

pub fn pg_depend(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let rows = rows(cat);
    let i32s = |f: &dyn Fn(&Dep) -> i32| -> datafusion::arrow::array::ArrayRef {
        Arc::new(Int32Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let schema = Arc::new(Schema::new(vec![
        oid("classid"),
        oid("objid"),
        Field::new("objsubid", DataType::Int32, false),
        oid("refclassid"),
        oid("refobjid"),
        Field::new("refobjsubid", DataType::Int32, false),
        char1("deptype"),
    ]));
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.object.0)),
            i64s(rows.iter().map(|r| r.object.1)),
            i32s(&|r| r.object.2),
            i64s(rows.iter().map(|r| r.referenced.0)),
            i64s(rows.iter().map(|r| r.referenced.1)),
            i32s(&|r| r.referenced.2),
            strs(rows.iter().map(|r| r.deptype.to_string())),
        ],
    )
}

/// `pg_rewrite`: each view's `_RETURN` rule (GrapeDB has no other rules).
/// The rule's query trees are not kept: `ev_action` is the view's SQL.
pub fn pg_rewrite(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let views: Vec<(u32, &crate::catalog::View)> = cat
        .relations
        .iter()
        .filter_map(|(id, r)| match r {
            Relation::View(v) => Some((*id, v)),
            _ => None,
        })
        .collect();
    let n = views.len();
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("rulename", DataType::Utf8, false),
        oid("ev_class"),
        char1("ev_type"),
        char1("ev_enabled"),
        Field::new("is_instead", DataType::Boolean, false),
        Field::new("ev_qual", DataType::Utf8, false),
        Field::new("ev_action", DataType::Utf8, false),
    ]));
    table(
        schema,
        vec![
            i64s(views.iter().map(|(id, _)| oids::view_rule(*id))),
            strs(views.iter().map(|_| "_RETURN".to_string())),
            i64s(views.iter().map(|(id, _)| oids::relation(*id))),
            strs(views.iter().map(|_| "1".to_string())),
            strs(views.iter().map(|_| "O".to_string())),
            Arc::new(datafusion::arrow::array::BooleanArray::from(vec![true; n])),
            strs(views.iter().map(|_| "<>".to_string())),
            strs(views.iter().map(|(_, v)| v.query.clone())),
        ],
    )
}
