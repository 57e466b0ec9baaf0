//! Helpers the relations share: catalog column types and one-batch tables.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::common::Result as DfResult;
use datafusion::datasource::{MemTable, TableProvider};

/// A catalog column described to clients as PostgreSQL's `oid` or
/// `"char"`: drivers read catalog rows with the column types PostgreSQL
/// gives them (rust-postgres refuses an int8 where it expects an oid).
pub fn typed(name: &str, dt: DataType, pg_type: &str) -> Field {
    Field::new(name, dt, false)
        .with_metadata([(crate::types::PG_TYPE_KEY.to_string(), pg_type.to_string())].into())
}

pub fn oid(name: &str) -> Field {
    typed(name, DataType::Int64, "oid")
}

pub fn char1(name: &str) -> Field {
    typed(name, DataType::Utf8, "char")
}

pub fn i64s(v: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(v))
}

pub fn strs(v: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

pub fn table(schema: SchemaRef, columns: Vec<ArrayRef>) -> DfResult<Arc<dyn TableProvider>> {
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// What the catalog functions read: the catalog the session sees and its
/// search path, at the time of the call.
pub struct SessionView {
    pub user: String,
    /// The session's database (`pg_database_size('name')`).
    pub database: String,
    /// The shards, for sizes and activity counts.
    pub data: Arc<dyn crate::dataplane::ShardAccess>,
    pub catalog: Arc<dyn Fn() -> Arc<crate::catalog::Catalog> + Send + Sync>,
    pub search_path: Arc<dyn Fn() -> Vec<String> + Send + Sync>,
}

/// One setting as `pg_settings` shows it.
#[derive(Debug)]
pub struct SettingRow {
    pub name: String,
    pub setting: String,
    pub default: String,
    pub description: String,
    pub read_only: bool,
}

/// Where `pg_settings` reads a session's settings.
#[derive(Clone)]
pub struct SettingsSource(pub Arc<dyn Fn() -> Vec<SettingRow> + Send + Sync>);

impl std::fmt::Debug for SettingsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettingsSource")
    }
}

/// One session as `pg_stat_activity` shows it (times in microseconds
/// since the Unix epoch).
#[derive(Debug)]
pub struct ActivityRow {
    pub pid: i32,
    pub database: String,
    pub user: String,
    pub application_name: String,
    pub client_addr: Option<String>,
    pub client_port: Option<i32>,
    pub backend_start: i64,
    pub xact_start: Option<i64>,
    pub query_start: Option<i64>,
    pub state_change: i64,
    pub state: String,
    pub query: String,
}

/// Where `pg_stat_activity` reads the node's sessions.
#[derive(Clone)]
pub struct ActivitySource(pub Arc<dyn Fn() -> Vec<ActivityRow> + Send + Sync>);

impl std::fmt::Debug for ActivitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActivitySource")
    }
}
