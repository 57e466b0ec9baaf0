//! `pg_namespace`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::TableProvider;

use super::common::{i64s, oid, strs, table};

/// The schemas types live in, with PostgreSQL's oids (pgvector's types are
/// in `public`, where `CREATE EXTENSION vector` puts them).
pub fn pg_namespace() -> Arc<dyn TableProvider> {
    static T: LazyLock<Arc<dyn TableProvider>> = LazyLock::new(|| {
        let spaces = [
            (11, "pg_catalog"),
            (2200, "public"),
            (13_000, "information_schema"),
        ];
        let schema = Arc::new(Schema::new(vec![
            oid("oid"),
            Field::new("nspname", DataType::Utf8, false),
            oid("nspowner"),
        ]));
        table(
            schema,
            vec![
                i64s(spaces.iter().map(|s| s.0)),
                strs(spaces.iter().map(|s| s.1.to_string())),
                i64s(spaces.iter().map(|_| 10)),
            ],
        )
        .expect("pg_namespace table")
    });
    T.clone()
}
