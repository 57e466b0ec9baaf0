//! `pg_stat_progress_create_index`: vector index builds in progress, with
//! PostgreSQL 15's columns.

use std::sync::Arc;

use datafusion::arrow::array::Int32Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{i64s, strs, table};
use crate::vindex::VectorIndexes;

/// PostgreSQL 15's columns; GrapeDB takes no locks and reads no heap
/// blocks for a graph build, so those counters are 0. relid/index_relid
/// are GrapeDB's table and index ids.
pub fn progress(indexes: &VectorIndexes, database: &str) -> DfResult<Arc<dyn TableProvider>> {
    let builds = indexes.builds();
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
            strs(std::iter::repeat_n(database.to_string(), n)),
            i64s(builds.iter().map(|b| b.build.table_id as i64)),
            i64s(builds.iter().map(|b| b.build.index.id as i64)),
            strs(builds.iter().map(|b| b.build.command.to_string())),
            // pgvector's phase names: IVFFlat assigns, HNSW loads.
            strs(builds.iter().map(|b| {
                let ivf = (b.build.index.vector.as_ref()).is_some_and(|d| d.method == "ivfflat");
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
