//! `pg_type` (from catalog/pg_type.tsv) and an empty `pg_range`: what
//! drivers read to look a type up by name or oid.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::Int16Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table};

pub fn pg_type() -> Arc<dyn TableProvider> {
    static T: LazyLock<Arc<dyn TableProvider>> = LazyLock::new(|| {
        let rows = crate::types::pg_type_rows();
        let schema = Arc::new(Schema::new(vec![
            oid("oid"),
            Field::new("typname", DataType::Utf8, false),
            oid("typnamespace"),
            Field::new("typlen", DataType::Int16, false),
            char1("typtype"),
            char1("typcategory"),
            char1("typdelim"),
            oid("typelem"),
            oid("typarray"),
            oid("typbasetype"),
            Field::new("typtypmod", DataType::Int64, false),
            oid("typrelid"),
        ]));
        table(
            schema,
            vec![
                i64s(rows.iter().map(|r| r.oid)),
                strs(rows.iter().map(|r| r.name.clone())),
                i64s(rows.iter().map(|r| r.namespace)),
                Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.len))),
                strs(rows.iter().map(|_| "b".into())),
                strs(rows.iter().map(|r| r.category.clone())),
                strs(rows.iter().map(|_| ",".into())),
                i64s(rows.iter().map(|r| r.elem)),
                i64s(rows.iter().map(|r| r.array)),
                i64s(rows.iter().map(|_| 0)),
                i64s(rows.iter().map(|_| -1)),
                i64s(rows.iter().map(|_| 0)),
            ],
        )
        .expect("pg_type table")
    });
    T.clone()
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
