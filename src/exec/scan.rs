//! `ShardScanExec`: reads one table's rows from the shards, one output
//! partition per shard, either as a key-range scan or as point lookups.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result as DfResult;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::stream;

use crate::catalog::Table;
use crate::dataplane::{Overlay, ShardAccess, ShardId};
use crate::encoding::decode_row;
use crate::error::PgError;
use crate::types::Datum;
use crate::types::datum::rows_to_batch;

const BATCH_ROWS: usize = 4096;

#[derive(Debug, Clone)]
pub enum ScanPart {
    /// The table's rows in this shard with keys in `[start, end)`.
    Range {
        shard: ShardId,
        start: Vec<u8>,
        end: Vec<u8>,
    },
    /// Only these keys (primary-key point lookup).
    Points { shard: ShardId, keys: Vec<Vec<u8>> },
}

impl ScanPart {
    pub fn shard(&self) -> ShardId {
        match self {
            ScanPart::Range { shard, .. } | ScanPart::Points { shard, .. } => *shard,
        }
    }
}

/// All (key, value) pairs of a part, with the session's uncommitted writes merged.
pub fn read_part(
    data: &dyn ShardAccess,
    part: &ScanPart,
    overlay: Option<&Overlay>,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, PgError> {
    let shard = part.shard();
    match part {
        ScanPart::Range { start, end, .. } => {
            let kvs = data.scan(shard, start, Some(end), usize::MAX)?;
            let Some(ov) = overlay else { return Ok(kvs) };
            let mut merged: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
                kvs.into_iter().collect();
            for (k, v) in ov.range(start.clone()..end.clone()) {
                if data.shard_of(k) != shard {
                    continue;
                }
                match v {
                    Some(v) => merged.insert(k.clone(), v.clone()),
                    None => merged.remove(k),
                };
            }
            Ok(merged.into_iter().collect())
        }
        ScanPart::Points { keys, .. } => {
            let mut out = Vec::new();
            for k in keys {
                let v = match overlay.and_then(|o| o.get(k)) {
                    Some(v) => v.clone(),
                    None => data.get(shard, k)?,
                };
                if let Some(v) = v {
                    out.push((k.clone(), v));
                }
            }
            Ok(out)
        }
    }
}

#[derive(Debug)]
pub struct ShardScanExec {
    table: Arc<Table>,
    data: Arc<dyn ShardAccess>,
    projection: Vec<usize>,
    projected: SchemaRef,
    parts: Vec<ScanPart>,
    limit: Option<usize>,
    with_key: bool,
    overlay: Option<Overlay>,
    /// How rows are found, for EXPLAIN ("full scan", "primary key point lookup (1 key(s))", ...).
    access: String,
    props: Arc<PlanProperties>,
}

impl ShardScanExec {
    pub fn new(
        table: Arc<Table>,
        data: Arc<dyn ShardAccess>,
        full_schema: SchemaRef,
        projection: Vec<usize>,
        parts: Vec<ScanPart>,
        limit: Option<usize>,
        with_key: bool,
        overlay: Option<Overlay>,
        access: String,
    ) -> Self {
        let projected = Arc::new(full_schema.project(&projection).expect("valid projection"));
        let props = PlanProperties::new(
            EquivalenceProperties::new(projected.clone()),
            Partitioning::UnknownPartitioning(parts.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ShardScanExec {
            table,
            data,
            projection,
            projected,
            parts,
            limit,
            with_key,
            overlay,
            access,
            props: Arc::new(props),
        }
    }
}

impl DisplayAs for ShardScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let shards: Vec<String> = self.parts.iter().map(|p| p.shard().to_string()).collect();
        let cols: Vec<&str> = self
            .projected
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            "ShardScanExec: table={}, {}, shards=[{}], projection=[{}]",
            self.table.qualified_name(),
            self.access,
            shards.join(", "),
            cols.join(", ")
        )?;
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        Ok(())
    }
}

struct ScanState {
    table: Arc<Table>,
    data: Arc<dyn ShardAccess>,
    part: ScanPart,
    cursor: Vec<u8>,
    end: Vec<u8>,
    point_pos: usize,
    remaining: usize,
    projection: Vec<usize>,
    projected: SchemaRef,
    with_key: bool,
    overlay: Option<Overlay>,
    done: bool,
}

impl ScanState {
    /// Read the next batch; None at the end.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, PgError> {
        if self.done || self.remaining == 0 {
            return Ok(None);
        }
        let shard = self.part.shard();
        let want = BATCH_ROWS.min(self.remaining);
        let kvs: Vec<(Vec<u8>, Vec<u8>)> = match &self.part {
            ScanPart::Range { .. } => {
                let kvs = self.data.scan(shard, &self.cursor, Some(&self.end), want)?;
                let from = self.cursor.clone();
                if kvs.len() < want {
                    self.done = true;
                }
                if let Some((k, _)) = kvs.last() {
                    self.cursor = k.clone();
                    self.cursor.push(0);
                }
                match &self.overlay {
                    None => kvs,
                    Some(ov) => {
                        // Merge this session's uncommitted writes in [from, upper).
                        let upper = if self.done {
                            self.end.clone()
                        } else {
                            self.cursor.clone()
                        };
                        let mut merged: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
                            kvs.into_iter().collect();
                        for (k, v) in ov.range(from..upper) {
                            if self.data.shard_of(k) != shard {
                                continue;
                            }
                            match v {
                                Some(v) => merged.insert(k.clone(), v.clone()),
                                None => merged.remove(k),
                            };
                        }
                        merged.into_iter().collect()
                    }
                }
            }
            ScanPart::Points { keys, .. } => {
                let mut out = Vec::new();
                while self.point_pos < keys.len() && out.len() < want {
                    let k = &keys[self.point_pos];
                    self.point_pos += 1;
                    let v = match self.overlay.as_ref().and_then(|o| o.get(k)) {
                        Some(v) => v.clone(),
                        None => self.data.get(shard, k)?,
                    };
                    if let Some(v) = v {
                        out.push((k.clone(), v));
                    }
                }
                if self.point_pos >= keys.len() {
                    self.done = true;
                }
                out
            }
        };
        if kvs.is_empty() {
            return if self.done {
                Ok(None)
            } else {
                self.next_batch()
            };
        }
        self.remaining = self.remaining.saturating_sub(kvs.len());
        let rows: Vec<Vec<Datum>> = kvs
            .into_iter()
            .map(|(k, v)| {
                let mut full = decode_row(&self.table, &v)?;
                if self.with_key {
                    full.push(Datum::Bytes(k));
                    full.push(Datum::Bytes(v));
                }
                Ok(self
                    .projection
                    .iter()
                    .map(|&i| full.get(i).cloned().unwrap_or(Datum::Null))
                    .collect())
            })
            .collect::<Result<_, PgError>>()?;
        rows_to_batch(&self.projected, &rows).map(Some)
    }
}

impl ExecutionPlan for ShardScanExec {
    fn name(&self) -> &str {
        "ShardScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let part = self.parts.get(partition).cloned();
        let (cursor, end) = match &part {
            Some(ScanPart::Range { start, end, .. }) => (start.clone(), end.clone()),
            _ => (Vec::new(), Vec::new()),
        };
        let done = part.is_none();
        let part = part.unwrap_or(ScanPart::Points {
            shard: 0,
            keys: vec![],
        });
        let state = ScanState {
            table: self.table.clone(),
            data: self.data.clone(),
            part,
            cursor,
            end,
            point_pos: 0,
            remaining: self.limit.unwrap_or(usize::MAX),
            projection: self.projection.clone(),
            projected: self.projected.clone(),
            with_key: self.with_key,
            overlay: self.overlay.clone(),
            done,
        };
        let s = stream::unfold(state, |mut st| async move {
            match st.next_batch() {
                Ok(Some(b)) => Some((Ok(b), st)),
                Ok(None) => None,
                Err(e) => {
                    st.done = true;
                    Some((Err(DataFusionError::External(Box::new(e))), st))
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.projected.clone(),
            s,
        )))
    }
}
