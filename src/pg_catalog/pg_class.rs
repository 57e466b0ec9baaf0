//! `pg_class` (tables, views, sequences, indexes), `pg_index` and `pg_am`,
//! from the catalog the session sees, with PostgreSQL 15's columns: what
//! psql's `\dt`, `\di`, `\dv`, `\ds` and drivers' table listings read.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Int16Array, Int32Array, ListBuilder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table};
use super::oids;
use crate::catalog::{Catalog, Relation};

/// `pg_am`.
pub fn pg_am() -> DfResult<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("amname", DataType::Utf8, false),
        Field::new("amhandler", DataType::Utf8, false),
        char1("amtype"),
    ]));
    table(
        schema,
        vec![
            i64s(oids::ACCESS_METHODS.iter().map(|a| a.0)),
            strs(oids::ACCESS_METHODS.iter().map(|a| a.1.to_string())),
            strs(oids::ACCESS_METHODS.iter().map(|a| a.2.to_string())),
            strs(oids::ACCESS_METHODS.iter().map(|a| a.3.to_string())),
        ],
    )
}

/// One row of `pg_class`.
struct Rel {
    oid: i64,
    name: String,
    namespace: i64,
    am: i64,
    has_index: bool,
    kind: &'static str,
    natts: i16,
    checks: i16,
    /// `reltype`: tables' and views' row types.
    row_type: i64,
    /// PostgreSQL keeps foreign keys with triggers on both tables, and
    /// psql shows a table's foreign keys only when it has some.
    has_triggers: bool,
    /// `reloptions`: a vector index's WITH options (`m=16`).
    options: Option<Vec<String>>,
}

fn relations(cat: &Catalog) -> Vec<Rel> {
    let mut out = Vec::new();
    for t in cat.tables.values() {
        let namespace = oids::namespace(&t.schema);
        out.push(Rel {
            oid: oids::relation(t.id),
            name: t.name.clone(),
            namespace,
            am: 2,
            has_index: !t.indexes.is_empty(),
            kind: "r",
            natts: t.columns.len() as i16,
            checks: t.checks.len() as i16,
            row_type: oids::row_type(t.id),
            has_triggers: !t.foreign_keys.is_empty()
                || cat
                    .tables
                    .values()
                    .any(|o| o.foreign_keys.iter().any(|f| f.ref_table == t.id)),
            options: None,
        });
        for i in t.indexes.iter().filter(|i| !i.building) {
            out.push(Rel {
                oid: oids::index(t, i),
                name: i.name.clone(),
                namespace,
                am: oids::am_oid(i.vector.as_ref().map_or("btree", |v| v.method.as_str())),
                has_index: false,
                kind: "i",
                natts: i.columns.len().max(1) as i16,
                checks: 0,
                row_type: 0,
                has_triggers: false,
                options: i
                    .vector
                    .as_ref()
                    .map(|v| {
                        v.reloptions()
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                    })
                    .filter(|o| !o.is_empty()),
            });
        }
    }
    for (id, r) in &cat.relations {
        let (kind, natts) = match r {
            Relation::Sequence(_) => ("S", 3),
            Relation::View(v) => ("v", v.columns.len() as i16),
            Relation::Type(_) => continue,
        };
        out.push(Rel {
            oid: oids::relation(*id),
            name: r.name().to_string(),
            namespace: oids::namespace(r.schema()),
            am: 0,
            has_index: false,
            kind,
            natts,
            checks: 0,
            row_type: if kind == "v" { oids::row_type(*id) } else { 0 },
            has_triggers: false,
            options: None,
        });
    }
    out
}

/// `pg_class`.
pub fn pg_class(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let rels = relations(cat);
    let n = rels.len();
    let b = |name: &str| Field::new(name, DataType::Boolean, false);
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let text_list = || DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("relname", DataType::Utf8, false),
        oid("relnamespace"),
        oid("reltype"),
        oid("reloftype"),
        oid("relowner"),
        oid("relam"),
        oid("relfilenode"),
        oid("reltablespace"),
        Field::new("relpages", DataType::Int32, false),
        Field::new("reltuples", DataType::Float32, false),
        Field::new("relallvisible", DataType::Int32, false),
        oid("reltoastrelid"),
        b("relhasindex"),
        b("relisshared"),
        char1("relpersistence"),
        char1("relkind"),
        Field::new("relnatts", DataType::Int16, false),
        Field::new("relchecks", DataType::Int16, false),
        b("relhasrules"),
        b("relhastriggers"),
        b("relhassubclass"),
        b("relrowsecurity"),
        b("relforcerowsecurity"),
        b("relispopulated"),
        char1("relreplident"),
        b("relispartition"),
        oid("relrewrite"),
        oid("relfrozenxid"),
        oid("relminmxid"),
        Field::new("relacl", text_list(), true),
        Field::new("reloptions", text_list(), true),
        text("relpartbound"),
    ]));
    let bools = |f: &dyn Fn(&Rel) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rels.iter().map(f).collect::<Vec<_>>()))
    };
    let zeros = || i64s(std::iter::repeat_n(0, n));
    let nulls = || -> ArrayRef { Arc::new(datafusion::arrow::array::StringArray::new_null(n)) };
    let null_lists = || -> ArrayRef {
        Arc::new(datafusion::arrow::array::ListArray::new_null(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            n,
        ))
    };
    let relfilenode = i64s(rels.iter().map(|r| if r.kind == "v" { 0 } else { r.oid }));
    table(
        schema,
        vec![
            i64s(rels.iter().map(|r| r.oid)),
            strs(rels.iter().map(|r| r.name.clone())),
            i64s(rels.iter().map(|r| r.namespace)),
            i64s(rels.iter().map(|r| r.row_type)),
            zeros(),
            i64s(std::iter::repeat_n(oids::OWNER, n)),
            i64s(rels.iter().map(|r| r.am)),
            relfilenode,
            zeros(),
            Arc::new(Int32Array::from(vec![0; n])),
            Arc::new(Float32Array::from(vec![-1.0; n])),
            Arc::new(Int32Array::from(vec![0; n])),
            zeros(),
            bools(&|r| r.has_index),
            bools(&|_| false),
            strs(std::iter::repeat_n("p".to_string(), n)),
            strs(rels.iter().map(|r| r.kind.to_string())),
            Arc::new(Int16Array::from(
                rels.iter().map(|r| r.natts).collect::<Vec<_>>(),
            )),
            Arc::new(Int16Array::from(
                rels.iter().map(|r| r.checks).collect::<Vec<_>>(),
            )),
            // A view is a rule on its relation in PostgreSQL.
            bools(&|r| r.kind == "v"),
            bools(&|r| r.has_triggers),
            bools(&|_| false),
            bools(&|_| false),
            bools(&|_| false),
            bools(&|_| true),
            strs(
                rels.iter()
                    .map(|r| if r.kind == "r" { "d" } else { "n" }.to_string()),
            ),
            bools(&|_| false),
            zeros(),
            zeros(),
            zeros(),
            null_lists(),
            {
                let mut b = ListBuilder::new(StringBuilder::new());
                for r in &rels {
                    match &r.options {
                        Some(o) => {
                            for x in o {
                                b.values().append_value(x);
                            }
                            b.append(true);
                        }
                        None => b.append(false),
                    }
                }
                Arc::new(b.finish()) as ArrayRef
            },
            nulls(),
        ],
    )
}

/// `pg_index`: one row per index, its columns by number (`indkey` as
/// PostgreSQL's int2vector text, `1 2`).
pub fn pg_index(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    struct Ix {
        index: i64,
        table: i64,
        natts: i16,
        unique: bool,
        primary: bool,
        key: String,
        class: String,
    }
    let mut rows = Vec::new();
    for t in cat.tables.values() {
        for i in t.indexes.iter().filter(|i| !i.building) {
            let key: Vec<String> = i
                .columns
                .iter()
                .map(|c| {
                    t.columns
                        .iter()
                        .position(|col| col.id == *c)
                        .map_or(0, |p| p + 1)
                        .to_string()
                })
                .collect();
            // Each key column's operator class: a vector index's own, else
            // the btree default for the column's type.
            let class: Vec<String> = i
                .columns
                .iter()
                .map(|c| {
                    let (method, named) = match &i.vector {
                        Some(v) => (v.method.as_str(), Some(v.opclass.as_str())),
                        None => ("btree", None),
                    };
                    let ty = t.column_by_id(*c).and_then(|col| col.ty.oid());
                    super::pg_opclass::class_for(method, named, ty).to_string()
                })
                .collect();
            rows.push(Ix {
                index: oids::index(t, i),
                table: oids::relation(t.id),
                natts: i.columns.len().max(1) as i16,
                unique: i.unique || i.primary,
                primary: i.primary,
                key: key.join(" "),
                class: class.join(" "),
            });
        }
    }
    let n = rows.len();
    let b = |name: &str| Field::new(name, DataType::Boolean, false);
    let schema = Arc::new(Schema::new(vec![
        oid("indexrelid"),
        oid("indrelid"),
        Field::new("indnatts", DataType::Int16, false),
        Field::new("indnkeyatts", DataType::Int16, false),
        b("indisunique"),
        b("indnullsnotdistinct"),
        b("indisprimary"),
        b("indisexclusion"),
        b("indimmediate"),
        b("indisclustered"),
        b("indisvalid"),
        b("indcheckxmin"),
        b("indisready"),
        b("indislive"),
        b("indisreplident"),
        Field::new("indkey", DataType::Utf8, false),
        // oidvector / int2vector text, one per key column: no collations
        // recorded yet (0); operator classes from pg_opclass; indoption
        // each key ascending, nulls last (0). Tools split the text
        // (SQLAlchemy) or subscript it from 0 (pgjdbc: the SQL rewrite
        // reads `indoption[n]` so).
        Field::new("indcollation", DataType::Utf8, false),
        Field::new("indclass", DataType::Utf8, false),
        Field::new("indoption", DataType::Utf8, false),
        Field::new("indexprs", DataType::Utf8, true),
        Field::new("indpred", DataType::Utf8, true),
    ]));
    let bools = |f: &dyn Fn(&Ix) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let natts = || -> ArrayRef {
        Arc::new(Int16Array::from(
            rows.iter().map(|r| r.natts).collect::<Vec<_>>(),
        ))
    };
    let nulls = || -> ArrayRef { Arc::new(datafusion::arrow::array::StringArray::new_null(n)) };
    let zeros = || strs(rows.iter().map(|r| vec!["0"; r.natts as usize].join(" ")));
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.index)),
            i64s(rows.iter().map(|r| r.table)),
            natts(),
            natts(),
            bools(&|r| r.unique),
            bools(&|_| false),
            bools(&|r| r.primary),
            bools(&|_| false),
            bools(&|_| true),
            bools(&|_| false),
            bools(&|_| true),
            bools(&|_| false),
            bools(&|_| true),
            bools(&|_| true),
            bools(&|_| false),
            strs(rows.iter().map(|r| r.key.clone())),
            zeros(),
            strs(rows.iter().map(|r| r.class.clone())),
            zeros(),
            nulls(),
            nulls(),
        ],
    )
}
