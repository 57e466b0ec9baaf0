//! `pg_attribute` (the columns of tables and indexes) and `pg_attrdef`
//! (column defaults and generation expressions), as PostgreSQL 15 fills
//! them: what psql's `\d`, pg_dump and every ORM's reflection read.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int16Array, Int32Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table};
use super::{deparse, oids};
use crate::catalog::{Catalog, Column, Table};
use crate::types::SqlType;

/// The collation of text-like columns: PostgreSQL's "default" (100).
pub const DEFAULT_COLLATION: i64 = 100;

/// A column's type OID (an enum's is its catalog entry's).
pub fn type_oid(cat: &Catalog, ty: &SqlType) -> i64 {
    match ty {
        SqlType::Enum { schema, name } => cat
            .relations
            .iter()
            .find(|(_, r)| {
                matches!(r, crate::catalog::Relation::Type(_))
                    && r.schema() == schema
                    && r.name() == name
            })
            .map_or(0, |(id, _)| oids::enum_type(*id)),
        SqlType::Array(inner) if matches!(**inner, SqlType::Enum { .. }) => 0,
        other => other.oid().unwrap_or(0),
    }
}

fn is_text(ty: &SqlType) -> bool {
    match ty {
        SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) => true,
        SqlType::Array(inner) => is_text(inner),
        _ => false,
    }
}

/// `attstorage`: how PostgreSQL (and pgvector) store the type.
fn storage(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Numeric { .. } => "m",
        SqlType::Vector(_) | SqlType::HalfVec(_) | SqlType::SparseVec(_) => "e",
        SqlType::Text
        | SqlType::Varchar(_)
        | SqlType::Char(_)
        | SqlType::Bytea
        | SqlType::Json
        | SqlType::Jsonb
        | SqlType::Bit(_)
        | SqlType::VarBit(_)
        | SqlType::Array(_) => "x",
        _ => "p",
    }
}

/// `typlen`, `typbyval` and `typalign` of the type.
fn layout(ty: &SqlType) -> (i16, bool, &'static str) {
    match ty {
        SqlType::Bool => (1, true, "c"),
        SqlType::Int2 => (2, true, "s"),
        SqlType::Int4 | SqlType::Float4 | SqlType::Date | SqlType::Enum { .. } => (4, true, "i"),
        SqlType::Int8
        | SqlType::Float8
        | SqlType::Time
        | SqlType::Timestamp
        | SqlType::TimestampTz => (8, true, "d"),
        SqlType::Interval => (16, false, "d"),
        SqlType::Uuid => (16, false, "c"),
        SqlType::Array(_) | SqlType::Numeric { .. } => (-1, false, "i"),
        SqlType::Vector(_) | SqlType::HalfVec(_) | SqlType::SparseVec(_) => (-1, false, "i"),
        _ => (-1, false, "i"),
    }
}

/// A column's default as `pg_get_expr` prints it: its DEFAULT, a
/// serial's `nextval('seq'::regclass)`, or a generated column's
/// expression. None for an identity column and a column without one.
pub fn default_text(cat: &Catalog, t: &Table, c: &Column) -> Option<String> {
    if let Some(g) = &c.generated {
        return Some(deparse::expr(g, &t.columns, None, true));
    }
    if let Some(d) = &c.default {
        return Some(deparse::expr(d, &t.columns, Some(&c.ty), true));
    }
    let seq = cat.sequence_by_key(c.sequence.as_ref()?)?;
    if c.identity().is_some() {
        return None;
    }
    let name = if seq.schema == "public" {
        seq.name.clone()
    } else {
        format!("{}.{}", seq.schema, seq.name)
    };
    Some(format!("nextval('{name}'::regclass)"))
}

/// A column's `attnum`: its position.
pub fn attnum(t: &Table, column: u32) -> i16 {
    t.columns
        .iter()
        .position(|c| c.id == column)
        .map_or(0, |p| p as i16 + 1)
}

/// `pg_attribute`: the columns of every table and of every index.
pub fn pg_attribute(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    struct Att<'a> {
        rel: i64,
        num: i16,
        col: &'a Column,
        not_null: bool,
        has_def: bool,
    }
    let mut rows = Vec::new();
    // Views' columns, as their queries typed them.
    let views: Vec<(u32, Vec<Column>)> = cat
        .relations
        .iter()
        .filter_map(|(id, r)| match r {
            crate::catalog::Relation::View(v) => Some((*id, v.column_defs())),
            _ => None,
        })
        .collect();
    for (id, cols) in &views {
        for (i, c) in cols.iter().enumerate() {
            rows.push(Att {
                rel: oids::relation(*id),
                num: i as i16 + 1,
                col: c,
                not_null: false,
                has_def: false,
            });
        }
    }
    for t in cat.tables.values() {
        for (i, c) in t.columns.iter().enumerate() {
            rows.push(Att {
                rel: oids::relation(t.id),
                num: i as i16 + 1,
                col: c,
                not_null: c.not_null || t.primary_key.contains(&c.id),
                has_def: default_text(cat, t, c).is_some(),
            });
        }
        for ix in t.indexes.iter().filter(|i| !i.building) {
            for (i, id) in ix.columns.iter().enumerate() {
                let Some(c) = t.column_by_id(*id) else {
                    continue;
                };
                rows.push(Att {
                    rel: oids::index(t, ix),
                    num: i as i16 + 1,
                    col: c,
                    not_null: false,
                    has_def: false,
                });
            }
        }
    }
    let n = rows.len();
    let b = |name: &str| Field::new(name, DataType::Boolean, false);
    let i16f = |name: &str| Field::new(name, DataType::Int16, false);
    let i32f = |name: &str| Field::new(name, DataType::Int32, false);
    let text_list = || DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let schema = Arc::new(Schema::new(vec![
        oid("attrelid"),
        Field::new("attname", DataType::Utf8, false),
        oid("atttypid"),
        i32f("attstattarget"),
        i16f("attlen"),
        i16f("attnum"),
        i32f("attndims"),
        i32f("attcacheoff"),
        i32f("atttypmod"),
        b("attbyval"),
        char1("attalign"),
        char1("attstorage"),
        char1("attcompression"),
        b("attnotnull"),
        b("atthasdef"),
        b("atthasmissing"),
        char1("attidentity"),
        char1("attgenerated"),
        b("attisdropped"),
        b("attislocal"),
        i32f("attinhcount"),
        oid("attcollation"),
        Field::new("attacl", text_list(), true),
        Field::new("attoptions", text_list(), true),
        Field::new("attfdwoptions", text_list(), true),
        Field::new("attmissingval", DataType::Utf8, true),
    ]));
    let bools = |f: &dyn Fn(&Att) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let i32s = |f: &dyn Fn(&Att) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let i16s = |f: &dyn Fn(&Att) -> i16| -> ArrayRef {
        Arc::new(Int16Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let null_lists = || -> ArrayRef {
        Arc::new(ListArray::new_null(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            n,
        ))
    };
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.rel)),
            strs(rows.iter().map(|r| r.col.name.clone())),
            i64s(rows.iter().map(|r| type_oid(cat, &r.col.ty))),
            i32s(&|_| -1),
            i16s(&|r| layout(&r.col.ty).0),
            i16s(&|r| r.num),
            i32s(&|r| i32::from(matches!(r.col.ty, SqlType::Array(_)))),
            i32s(&|_| -1),
            i32s(&|r| r.col.ty.typmod()),
            bools(&|r| layout(&r.col.ty).1),
            strs(rows.iter().map(|r| layout(&r.col.ty).2.to_string())),
            strs(rows.iter().map(|r| storage(&r.col.ty).to_string())),
            strs(rows.iter().map(|_| String::new())),
            bools(&|r| r.not_null),
            bools(&|r| r.has_def),
            bools(&|_| false),
            strs(
                rows.iter()
                    .map(|r| r.col.identity().map(String::from).unwrap_or_default()),
            ),
            strs(rows.iter().map(|r| {
                if r.col.generated.is_some() {
                    "s".to_string()
                } else {
                    String::new()
                }
            })),
            bools(&|_| false),
            bools(&|_| true),
            i32s(&|_| 0),
            i64s(rows.iter().map(|r| {
                if is_text(&r.col.ty) {
                    DEFAULT_COLLATION
                } else {
                    0
                }
            })),
            null_lists(),
            null_lists(),
            null_lists(),
            Arc::new(datafusion::arrow::array::StringArray::new_null(n)),
        ],
    )
}

/// `pg_attrdef`: one row per column with a default (its text in
/// `adbin`, which `pg_get_expr` prints).
pub fn pg_attrdef(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let mut rows = Vec::new();
    for t in cat.tables.values() {
        for (i, c) in t.columns.iter().enumerate() {
            if let Some(d) = default_text(cat, t, c) {
                rows.push((
                    oids::attrdef(t.id, c.id),
                    oids::relation(t.id),
                    i as i16 + 1,
                    d,
                ));
            }
        }
    }
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        oid("adrelid"),
        Field::new("adnum", DataType::Int16, false),
        Field::new("adbin", DataType::Utf8, false),
    ]));
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.0)),
            i64s(rows.iter().map(|r| r.1)),
            Arc::new(Int16Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            strs(rows.iter().map(|r| r.3.clone())),
        ],
    )
}
