//! `pg_catalog` as far as drivers and operators need it: `pg_type` (from
//! catalog/pg_type.tsv), `pg_namespace` and an empty `pg_range` (what
//! drivers join to look a type up by oid), `pg_stat_progress_create_index` (HNSW builds in
//! progress, as PostgreSQL 15 shows them) and `grape_vector_indexes` (each
//! shard's graph: rows, tombstones, where it was loaded from). The two views
//! are computed when a query names them.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::SchemaProvider;
use datafusion::common::Result as DfResult;
use datafusion::datasource::{MemTable, TableProvider};

use super::vindex::VectorIndexes;

const PG_TYPE: &str = "pg_type";
const PG_NAMESPACE: &str = "pg_namespace";
const PG_RANGE: &str = "pg_range";
const PROGRESS: &str = "pg_stat_progress_create_index";
const VECTOR_INDEXES: &str = "grape_vector_indexes";

/// The relations answered here (unqualified names resolve to them).
pub const TABLES: [&str; 5] = [PG_TYPE, PG_NAMESPACE, PG_RANGE, PROGRESS, VECTOR_INDEXES];

/// A catalog column described to clients as PostgreSQL's `oid` or
/// `"char"`: drivers read catalog rows with the column types PostgreSQL
/// gives them (rust-postgres refuses an int8 where it expects an oid).
fn typed(name: &str, dt: DataType, pg_type: &str) -> Field {
    Field::new(name, dt, false).with_metadata(
        [(
            crate::catalog::types::PG_TYPE_KEY.to_string(),
            pg_type.to_string(),
        )]
        .into(),
    )
}

fn oid(name: &str) -> Field {
    typed(name, DataType::Int64, "oid")
}

fn char1(name: &str) -> Field {
    typed(name, DataType::Utf8, "char")
}

#[derive(Debug)]
pub struct PgCatalog {
    pub indexes: Arc<VectorIndexes>,
    pub database: String,
}

fn i64s(v: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(v))
}

fn strs(v: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

fn table(schema: SchemaRef, columns: Vec<ArrayRef>) -> DfResult<Arc<dyn TableProvider>> {
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

fn pg_type() -> Arc<dyn TableProvider> {
    static T: LazyLock<Arc<dyn TableProvider>> = LazyLock::new(|| {
        let rows = crate::catalog::types::pg_type_rows();
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

/// The schemas types live in, with PostgreSQL's oids (pgvector's types are
/// in `public`, where `CREATE EXTENSION vector` puts them).
fn pg_namespace() -> Arc<dyn TableProvider> {
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

/// No range types: an empty `pg_range` (drivers join it when they look a
/// type up).
fn pg_range() -> Arc<dyn TableProvider> {
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

impl PgCatalog {
    /// PostgreSQL 15's columns; GrapeDB takes no locks and reads no heap
    /// blocks for a graph build, so those counters are 0. relid/index_relid
    /// are GrapeDB's table and index ids.
    fn progress(&self) -> DfResult<Arc<dyn TableProvider>> {
        let builds = self.indexes.builds();
        let i64_cols = [
            "datid",
            "relid",
            "index_relid",
            "lockers_total",
            "lockers_done",
            "current_locker_pid",
            "blocks_total",
            "blocks_done",
            "tuples_total",
            "tuples_done",
            "partitions_total",
            "partitions_done",
        ];
        let mut fields = vec![Field::new("pid", DataType::Int32, false)];
        fields.extend(
            i64_cols[..1]
                .iter()
                .map(|n| Field::new(*n, DataType::Int64, false)),
        );
        fields.push(Field::new("datname", DataType::Utf8, false));
        fields.extend(
            i64_cols[1..3]
                .iter()
                .map(|n| Field::new(*n, DataType::Int64, false)),
        );
        fields.push(Field::new("command", DataType::Utf8, false));
        fields.push(Field::new("phase", DataType::Utf8, false));
        fields.extend(
            i64_cols[3..]
                .iter()
                .map(|n| Field::new(*n, DataType::Int64, false)),
        );
        let n = builds.len();
        let zeros = || i64s(std::iter::repeat_n(0, n));
        table(
            Arc::new(Schema::new(fields)),
            vec![
                Arc::new(Int32Array::from_iter_values(std::iter::repeat_n(
                    std::process::id() as i32,
                    n,
                ))),
                i64s(std::iter::repeat_n(1, n)),
                strs(std::iter::repeat_n(self.database.clone(), n)),
                i64s(builds.iter().map(|b| b.build.table_id as i64)),
                i64s(builds.iter().map(|b| b.build.index.id as i64)),
                strs(builds.iter().map(|b| b.build.command.to_string())),
                // pgvector's phase names: IVFFlat assigns, HNSW loads.
                strs(builds.iter().map(|b| {
                    let ivf =
                        (b.build.index.vector.as_ref()).is_some_and(|d| d.method == "ivfflat");
                    let phase = if ivf {
                        "assigning tuples"
                    } else {
                        "loading tuples"
                    };
                    format!("building index: {phase}")
                })),
                zeros(),
                zeros(),
                zeros(),
                zeros(),
                zeros(),
                i64s(builds.iter().map(|b| b.tuples_total as i64)),
                i64s(builds.iter().map(|b| b.tuples_done as i64)),
                i64s(builds.iter().map(|b| b.build.shards_total as i64)),
                i64s(builds.iter().map(|b| {
                    b.build
                        .shards_done
                        .load(std::sync::atomic::Ordering::Relaxed) as i64
                })),
            ],
        )
    }

    fn vector_indexes(&self) -> DfResult<Arc<dyn TableProvider>> {
        let rows = self.indexes.shard_states();
        let def = |r: &super::vindex::ShardState, f: fn(&crate::catalog::VectorIndex) -> &str| {
            r.index
                .vector
                .as_ref()
                .map_or(String::new(), |d| f(d).to_string())
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("index_name", DataType::Utf8, false),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("shard", DataType::Int64, false),
            Field::new("method", DataType::Utf8, false),
            Field::new("opclass", DataType::Utf8, false),
            Field::new("storage", DataType::Utf8, false),
            Field::new("live_tuples", DataType::Int64, false),
            Field::new("dead_tuples", DataType::Int64, false),
            Field::new("loaded_from", DataType::Utf8, false),
            Field::new("applied_log_index", DataType::Int64, false),
            Field::new("graph_tuples", DataType::Int64, false),
            Field::new("recent_tuples", DataType::Int64, false),
            Field::new("index_bytes", DataType::Int64, true),
        ]));
        table(
            schema,
            vec![
                strs(rows.iter().map(|r| r.index.name.clone())),
                strs(rows.iter().map(|r| r.table.clone())),
                i64s(rows.iter().map(|r| r.group as i64)),
                strs(rows.iter().map(|r| def(r, |d| &d.method))),
                strs(rows.iter().map(|r| def(r, |d| &d.opclass))),
                strs(rows.iter().map(|r| r.storage.to_string())),
                i64s(rows.iter().map(|r| r.live as i64)),
                i64s(rows.iter().map(|r| r.dead as i64)),
                strs(rows.iter().map(|r| r.source.to_string())),
                i64s(rows.iter().map(|r| r.applied as i64)),
                i64s(rows.iter().map(|r| r.graph_nodes as i64)),
                i64s(rows.iter().map(|r| r.recent as i64)),
                Arc::new(Int64Array::from_iter(
                    rows.iter().map(|r| r.bytes.map(|b| b as i64)),
                )),
            ],
        )
    }
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(Some(match name {
            PG_TYPE => pg_type(),
            PG_NAMESPACE => pg_namespace(),
            PG_RANGE => pg_range(),
            PROGRESS => self.progress()?,
            VECTOR_INDEXES => self.vector_indexes()?,
            _ => return Ok(None),
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}
