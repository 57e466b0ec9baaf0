//! `pg_namespace`.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{i64s, oid, strs, table};
use super::oids;
use crate::catalog::Catalog;

/// Every schema: PostgreSQL's own (with their OIDs; pgvector's types are
/// in `public`, where `CREATE EXTENSION vector` puts them) and each one
/// CREATE SCHEMA made.
pub fn pg_namespace(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let mut spaces: Vec<String> = vec!["pg_catalog".into(), "information_schema".into()];
    spaces.extend(cat.schemas.iter().cloned());
    spaces.sort();
    spaces.dedup();
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("nspname", DataType::Utf8, false),
        oid("nspowner"),
        Field::new("nspacl", DataType::Utf8, true),
    ]));
    table(
        schema,
        vec![
            i64s(spaces.iter().map(|s| oids::namespace(s))),
            strs(spaces.iter().cloned()),
            i64s(spaces.iter().map(|s| {
                if s == "public" {
                    oids::DATABASE_OWNER
                } else {
                    oids::OWNER
                }
            })),
            // `public`'s privileges as PostgreSQL 15 creates it (the
            // others' are NULL: their defaults).
            Arc::new(StringArray::from_iter(spaces.iter().map(|s| {
                (s == "public")
                    .then_some("{pg_database_owner=UC/pg_database_owner,=U/pg_database_owner}")
            }))),
        ],
    )
}
