//! `pg_catalog` as far as drivers, psql and operators need it: `pg_class`,
//! `pg_index`, `pg_am`, `pg_extension`, `pg_description`, `pg_database`,
//! `pg_roles` (`pg_user`, `pg_authid`) from the session's catalog with
//! OIDs stable across restarts (`oids`), `pg_type` (from
//! catalog/pg_type.tsv), `pg_namespace` and an empty `pg_range` (what
//! drivers join to look a type up by oid), `pg_stat_progress_create_index` (HNSW builds in
//! progress, as PostgreSQL 15 shows them) and `grape_vector_indexes` (each
//! shard's graph: rows, tombstones, where it was loaded from) and `grape_gc`
//! (each shard's last garbage collection of old versions). The views
//! are computed when a query names them.
//!
//! One file per relation (or family); `functions` holds the catalog
//! functions and the rewrite of `pg_catalog.` names DataFusion cannot plan.

mod common;
pub use common::{ActivityRow, ActivitySource, SettingRow, SettingsSource};
mod deparse;
mod describe;
pub mod functions;
mod gc;
pub mod information_schema;
mod objects;
pub mod oids;
mod pg_attribute;
mod pg_class;
mod pg_constraint;
mod pg_depend;
mod pg_namespace;
mod pg_opclass;
pub mod pg_stat;
mod pg_type;
mod progress;
mod system_views;
mod txns;
mod unused;
mod vector_indexes;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use crate::vindex::VectorIndexes;

const PG_TYPE: &str = "pg_type";
const PG_NAMESPACE: &str = "pg_namespace";
const PG_RANGE: &str = "pg_range";
const PROGRESS: &str = "pg_stat_progress_create_index";
const VECTOR_INDEXES: &str = "grape_vector_indexes";
const GC: &str = "grape_gc";
const TXNS: &str = "grape_txns";

/// The relations answered here (with [`unused::names`]).
const TABLES: [&str; 35] = [
    "pg_rewrite",
    PG_TYPE,
    PG_NAMESPACE,
    PG_RANGE,
    PROGRESS,
    VECTOR_INDEXES,
    GC,
    TXNS,
    "pg_class",
    "pg_index",
    "pg_am",
    "pg_extension",
    "pg_description",
    "pg_database",
    "pg_roles",
    "pg_user",
    "pg_authid",
    "pg_shadow",
    "pg_attribute",
    "pg_attrdef",
    "pg_constraint",
    "pg_depend",
    "pg_opclass",
    "pg_enum",
    "pg_tables",
    "pg_views",
    "pg_indexes",
    "pg_sequences",
    "pg_sequence",
    "pg_settings",
    "pg_stat_activity",
    "pg_stat_user_tables",
    "pg_stat_all_tables",
    "pg_stat_user_indexes",
    "pg_stat_all_indexes",
];

/// Whether `pg_catalog.name` is a catalog of a feature GrapeDB does not
/// have, so always empty (`pg_policy`, `pg_trigger`, ...).
pub fn is_always_empty(name: &str) -> bool {
    unused::is_empty(name)
}

/// Whether `pg_catalog` answers `name` (unqualified names resolve to it).
pub fn is_table(name: &str) -> bool {
    TABLES.contains(&name) || unused::names().any(|n| n == name)
}

/// The `pg_catalog` schema of a session's catalog.
#[derive(Debug)]
pub struct PgCatalog {
    pub indexes: Arc<VectorIndexes>,
    /// The shards, for `grape_gc`.
    pub data: Arc<dyn crate::dataplane::ShardAccess>,
    pub database: String,
    /// The session's user: the one role, owner of everything.
    pub user: String,
    /// The catalog the session sees (its block's DDL included).
    pub catalog: Arc<crate::catalog::Catalog>,
    /// The session's settings, for `pg_settings`.
    pub settings: Vec<SettingRow>,
    /// The node's sessions, for `pg_stat_activity`.
    pub activity: Option<ActivitySource>,
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        TABLES
            .iter()
            .copied()
            .chain(unused::names())
            .map(str::to_string)
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(Some(match name {
            PG_TYPE => pg_type::pg_type(&self.catalog)?,
            "pg_enum" => pg_type::pg_enum(&self.catalog)?,
            PG_NAMESPACE => pg_namespace::pg_namespace(&self.catalog)?,
            PG_RANGE => pg_type::pg_range(),
            PROGRESS => progress::progress(&self.indexes, &self.database)?,
            VECTOR_INDEXES => vector_indexes::vector_indexes(&self.indexes)?,
            GC => gc::gc(self.data.as_ref())?,
            TXNS => txns::txns(self.data.as_ref())?,
            "pg_class" => pg_class::pg_class(&self.catalog)?,
            "pg_stat_user_tables" | "pg_stat_all_tables" => {
                pg_stat::tables(&self.catalog, self.data.as_ref())?
            }
            "pg_stat_user_indexes" | "pg_stat_all_indexes" => {
                pg_stat::indexes(&self.catalog, self.data.as_ref())?
            }
            "pg_index" => pg_class::pg_index(&self.catalog)?,
            "pg_am" => pg_class::pg_am()?,
            "pg_extension" => objects::pg_extension()?,
            "pg_description" => objects::pg_description(&self.catalog)?,
            "pg_database" => objects::pg_database(&self.database)?,
            "pg_roles" | "pg_authid" => objects::pg_roles(&self.user, "pg_roles")?,
            "pg_user" | "pg_shadow" => objects::pg_roles(&self.user, "pg_user")?,
            "pg_attribute" => pg_attribute::pg_attribute(&self.catalog)?,
            "pg_attrdef" => pg_attribute::pg_attrdef(&self.catalog)?,
            "pg_constraint" => pg_constraint::pg_constraint(&self.catalog)?,
            "pg_depend" => pg_depend::pg_depend(&self.catalog)?,
            "pg_rewrite" => pg_depend::pg_rewrite(&self.catalog)?,
            "pg_opclass" => pg_opclass::pg_opclass()?,
            "pg_tables" => system_views::pg_tables(&self.catalog, &self.user)?,
            "pg_views" => system_views::pg_views(&self.catalog, &self.user)?,
            "pg_indexes" => system_views::pg_indexes(&self.catalog)?,
            "pg_sequences" => system_views::pg_sequences(&self.catalog, &self.user)?,
            "pg_sequence" => system_views::pg_sequence(&self.catalog)?,
            "pg_settings" => system_views::pg_settings(&self.settings)?,
            "pg_stat_activity" => system_views::pg_stat_activity(
                &self.activity.as_ref().map_or_else(Vec::new, |f| (f.0)()),
            )?,
            other => return unused::relation(other),
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        is_table(name)
    }
}
