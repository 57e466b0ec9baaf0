//! `grape_gc`: each shard's last garbage collection of old row versions.

use std::sync::Arc;

use datafusion::arrow::array::TimestampMicrosecondArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{i64s, table};
use crate::dataplane::ShardAccess;

fn micros(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// One row per shard that has been collected since the server started.
pub fn gc(data: &dyn ShardAccess) -> DfResult<Arc<dyn TableProvider>> {
    let mut runs = data.gc_runs();
    runs.sort_by_key(|r| r.shard);
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("shard", DataType::Int64, false),
        Field::new("last_run", ts.clone(), false),
        Field::new("horizon", ts, false),
        Field::new("rounds", DataType::Int64, false),
        Field::new("versions_removed", DataType::Int64, false),
        Field::new("keys_removed", DataType::Int64, false),
        Field::new("total_versions_removed", DataType::Int64, false),
        Field::new("total_keys_removed", DataType::Int64, false),
    ]));
    let stamps = |f: &dyn Fn(&crate::dataplane::GcRun) -> i64| {
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(runs.iter().map(f)).with_timezone("+00:00"),
        )
    };
    table(
        schema,
        vec![
            i64s(runs.iter().map(|r| r.shard as i64)),
            stamps(&|r| micros(r.finished_at)),
            stamps(&|r| (r.horizon.millis() * 1000) as i64),
            i64s(runs.iter().map(|r| r.rounds as i64)),
            i64s(runs.iter().map(|r| r.versions_removed as i64)),
            i64s(runs.iter().map(|r| r.keys_removed as i64)),
            i64s(runs.iter().map(|r| r.total_versions_removed as i64)),
            i64s(runs.iter().map(|r| r.total_keys_removed as i64)),
        ],
    )
}
