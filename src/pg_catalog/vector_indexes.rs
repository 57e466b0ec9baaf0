//! `grape_vector_indexes`: each shard's graph of each vector index (rows,
//! tombstones, where it was loaded from, memory).

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{i64s, strs, table};
use crate::vindex::VectorIndexes;

/// `grape_vector_indexes`: every shard's graph of every vector index.
pub fn vector_indexes(indexes: &VectorIndexes) -> DfResult<Arc<dyn TableProvider>> {
    let rows = indexes.shard_states();
    let def = |r: &crate::vindex::ShardState, f: fn(&crate::catalog::VectorIndex) -> &str| {
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
            i64s(rows.iter().map(|r| r.shard as i64)),
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
