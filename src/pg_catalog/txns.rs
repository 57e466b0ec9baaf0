//! `grape_txns`: what each shard holds of transactions in flight: intents
//! (provisional writes) and transaction records. Both are zero when nothing
//! is writing; anything else left behind is finished by recovery.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::TableProvider;

use super::common::{i64s, table};
use crate::dataplane::ShardAccess;
use crate::dataplane::txn::pending_counts;

/// One row per shard.
pub fn txns(data: &dyn ShardAccess) -> DfResult<Arc<dyn TableProvider>> {
    let counts = pending_counts(data).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let live = data.live_txns().count() as i64;
    let schema = Arc::new(Schema::new(vec![
        Field::new("shard", DataType::Int64, false),
        Field::new("intents", DataType::Int64, false),
        Field::new("records", DataType::Int64, false),
        Field::new("running_here", DataType::Int64, false),
    ]));
    table(
        schema,
        vec![
            i64s(counts.iter().map(|c| c.0 as i64)),
            i64s(counts.iter().map(|c| c.1 as i64)),
            i64s(counts.iter().map(|c| c.2 as i64)),
            i64s(counts.iter().map(|_| live)),
        ],
    )
}
