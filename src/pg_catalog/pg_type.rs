//! `pg_type` (the built-in and pgvector types from catalog/pg_type.tsv,
//! the enums CREATE TYPE made, and each table's and view's row type),
//! `pg_enum`, and an empty `pg_range`: what drivers read to look a type up
//! by name or OID (asyncpg, psycopg, pgjdbc) and psql's `\dT`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, BooleanArray, Float32Array, Int16Array, Int32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table};
use super::oids;
use crate::catalog::{Catalog, Relation};

struct TypeRow {
    oid: i64,
    name: String,
    namespace: i64,
    len: i16,
    kind: &'static str,
    category: String,
    relid: i64,
    elem: i64,
    array: i64,
    collation: i64,
}

/// The collation of text-like types: PostgreSQL's "default".
fn collation(name: &str) -> i64 {
    match name {
        "text" | "varchar" | "bpchar" | "_text" | "_varchar" | "_bpchar" => 100,
        "name" => 950,
        _ => 0,
    }
}

fn rows(cat: &Catalog) -> Vec<TypeRow> {
    let mut out: Vec<TypeRow> = crate::types::pg_type_rows()
        .iter()
        .map(|r| TypeRow {
            oid: r.oid,
            name: r.name.clone(),
            namespace: r.namespace,
            len: r.len,
            kind: "b",
            category: r.category.clone(),
            relid: 0,
            elem: r.elem,
            array: r.array,
            collation: collation(&r.name),
        })
        .collect();
    for t in cat.tables.values() {
        out.push(TypeRow {
            oid: oids::row_type(t.id),
            name: t.name.clone(),
            namespace: oids::namespace(&t.schema),
            len: -1,
            kind: "c",
            category: "C".into(),
            relid: oids::relation(t.id),
            elem: 0,
            array: 0,
            collation: 0,
        });
    }
    for (id, r) in &cat.relations {
        let (kind, category, len, relid) = match r {
            Relation::Type(_) => ("e", "E", 4, 0),
            Relation::View(_) => ("c", "C", -1, oids::relation(*id)),
            Relation::Sequence(_) => continue,
        };
        out.push(TypeRow {
            oid: if relid == 0 {
                oids::enum_type(*id)
            } else {
                oids::row_type(*id)
            },
            name: r.name().to_string(),
            namespace: oids::namespace(r.schema()),
            len,
            kind,
            category: category.into(),
            relid,
            elem: 0,
            array: 0,
            collation: 0,
        });
    }
    out
}

/// `pg_type`.
pub fn pg_type(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let rows = rows(cat);
    let n = rows.len();
    let b = |name: &str| Field::new(name, DataType::Boolean, false);
    let regproc = |name: &str| Field::new(name, DataType::Utf8, false);
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("typname", DataType::Utf8, false),
        oid("typnamespace"),
        oid("typowner"),
        Field::new("typlen", DataType::Int16, false),
        b("typbyval"),
        char1("typtype"),
        char1("typcategory"),
        b("typispreferred"),
        b("typisdefined"),
        char1("typdelim"),
        oid("typrelid"),
        regproc("typsubscript"),
        oid("typelem"),
        oid("typarray"),
        regproc("typinput"),
        regproc("typoutput"),
        regproc("typreceive"),
        regproc("typsend"),
        regproc("typmodin"),
        regproc("typmodout"),
        regproc("typanalyze"),
        char1("typalign"),
        char1("typstorage"),
        b("typnotnull"),
        oid("typbasetype"),
        Field::new("typtypmod", DataType::Int32, false),
        Field::new("typndims", DataType::Int32, false),
        oid("typcollation"),
        Field::new("typdefaultbin", DataType::Utf8, true),
        Field::new("typdefault", DataType::Utf8, true),
        Field::new(
            "typacl",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]));
    let bools = |f: &dyn Fn(&TypeRow) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let func = |suffix: &'static str| {
        strs(rows.iter().map(move |r| match (r.kind, r.elem) {
            ("e", _) => format!("enum_{suffix}"),
            ("c", _) => format!("record_{suffix}"),
            (_, e) if e != 0 => format!("array_{suffix}"),
            // PostgreSQL's newer types name theirs `numeric_in`, older
            // ones `int4in`.
            _ if UNDERSCORED_IO.contains(&r.name.as_str()) => format!("{}_{suffix}", r.name),
            _ => format!("{}{suffix}", r.name),
        }))
    };
    let dash = || strs(rows.iter().map(|_| "-".to_string()));
    let nulls = || -> ArrayRef { Arc::new(datafusion::arrow::array::StringArray::new_null(n)) };
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.oid)),
            strs(rows.iter().map(|r| r.name.clone())),
            i64s(rows.iter().map(|r| r.namespace)),
            i64s(rows.iter().map(|_| oids::OWNER)),
            Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.len))),
            bools(&|r| matches!(r.len, 1 | 2 | 4 | 8)),
            strs(rows.iter().map(|r| r.kind.to_string())),
            strs(rows.iter().map(|r| r.category.clone())),
            bools(&|_| false),
            bools(&|_| true),
            strs(rows.iter().map(|_| ",".into())),
            i64s(rows.iter().map(|r| r.relid)),
            strs(rows.iter().map(|r| {
                if r.elem != 0 {
                    "array_subscript_handler".into()
                } else {
                    "-".into()
                }
            })),
            i64s(rows.iter().map(|r| r.elem)),
            i64s(rows.iter().map(|r| r.array)),
            func("in"),
            func("out"),
            func("recv"),
            func("send"),
            dash(),
            dash(),
            dash(),
            strs(rows.iter().map(|r| {
                match r.len {
                    1 => "c",
                    2 => "s",
                    8 => "d",
                    _ => "i",
                }
                .to_string()
            })),
            // typstorage: numeric is kept main, pgvector's types external.
            strs(rows.iter().map(|r| {
                match r.name.as_str() {
                    "numeric" => "m",
                    "vector" | "halfvec" | "sparsevec"
                        if r.namespace == oids::namespace("public") =>
                    {
                        "e"
                    }
                    _ if r.len == -1 => "x",
                    _ => "p",
                }
                .to_string()
            })),
            bools(&|_| false),
            i64s(rows.iter().map(|_| 0)),
            Arc::new(Int32Array::from(vec![-1; n])),
            Arc::new(Int32Array::from(vec![0; n])),
            i64s(rows.iter().map(|r| r.collation)),
            nulls(),
            nulls(),
            Arc::new(datafusion::arrow::array::ListArray::new_null(
                Arc::new(Field::new("item", DataType::Utf8, true)),
                n,
            )),
        ],
    )
}

/// Types whose I/O functions are `<type>_in`, `<type>_out`, ... (the
/// others' are `<type>in`).
const UNDERSCORED_IO: &[&str] = &[
    "numeric",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "json",
    "jsonb",
    "uuid",
    "bit",
    "varbit",
    "vector",
    "halfvec",
    "sparsevec",
];

/// `pg_enum`: each enum's labels in declaration order.
pub fn pg_enum(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let mut rows = Vec::new();
    for (id, r) in &cat.relations {
        if let Relation::Type(t) = r {
            for (i, label) in t.labels.iter().enumerate() {
                rows.push((
                    oids::enum_label(*id, label),
                    oids::enum_type(*id),
                    i as f32 + 1.0,
                    label.clone(),
                ));
            }
        }
    }
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        oid("enumtypid"),
        Field::new("enumsortorder", DataType::Float32, false),
        Field::new("enumlabel", DataType::Utf8, false),
    ]));
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.0)),
            i64s(rows.iter().map(|r| r.1)),
            Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.2))),
            strs(rows.iter().map(|r| r.3.clone())),
        ],
    )
}

/// No range types: an empty `pg_range` (drivers join it when they look a
/// type up).
pub fn pg_range() -> Arc<dyn TableProvider> {
    static T: LazyLock<Arc<dyn TableProvider>> = LazyLock::new(|| {
        let schema = Arc::new(Schema::new(vec![
            oid("rngtypid"),
            oid("rngsubtype"),
            oid("rngmultitypid"),
        ]));
        table(schema, vec![i64s([]), i64s([]), i64s([])]).expect("pg_range table")
    });
    T.clone()
}
