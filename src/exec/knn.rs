//! `ShardKnnExec`: the k nearest rows of each shard, through its HNSW graph.
//!
//! One partition per shard; DataFusion's sort with fetch above it merges the
//! shards' rows exactly (it recomputes the distance with the operator's UDF).
//!
//! Filters are honoured so a filtered query still returns its full LIMIT:
//! - without a filter, the graph's top k;
//! - with one, graph candidates are filtered and the search widens (×4)
//!   until k rows pass or the graph is exhausted, as pgvector's iterative
//!   scan does, up to `hnsw.max_scan_tuples` candidates;
//! - past that, or when the filter already names few rows (a key or
//!   secondary-index lookup), an exact scan of the matching rows.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
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
use hnsw_rs::prelude::Distance;

use super::scan::{ScanPart, read_part};
use crate::ann::{BitDist, Point, sparse_of};
use crate::catalog::{Index, Table};
use crate::dataplane::{Overlay, ShardAccess, VectorSearch};
use crate::encoding::decode_row;
use crate::error::df_internal;
use crate::error::{PgError, PgResult};
use crate::types::Datum;
use crate::types::datum::rows_to_batch;
use crate::vector::distance::{self, Metric};
use crate::vindex::spec::{Step, point_of};

/// What the planner's KNN rule hands the table: which index, the query, k.
#[derive(Debug, Clone)]
pub struct KnnSpec {
    pub index: Index,
    pub query: Point,
    /// Rows wanted per shard: LIMIT + OFFSET.
    pub k: usize,
    pub ef_search: usize,
    /// `ivfflat.probes`, for IVFFlat indexes.
    pub probes: usize,
    pub max_scan_tuples: usize,
}

impl KnnSpec {
    fn ivf_lists(&self) -> Option<usize> {
        let def = self.index.vector.as_ref()?;
        (def.method == "ivfflat").then_some(def.lists.max(1))
    }

    /// The search effort for `want` candidates: HNSW's candidate list
    /// (ef_search, at least `want`), or the IVFFlat lists to probe (probes,
    /// more when more candidates are wanted than k).
    pub fn effort(&self, want: usize) -> usize {
        match self.ivf_lists() {
            Some(lists) => {
                let scale = want.div_ceil(self.k.max(1)).max(1);
                self.probes.saturating_mul(scale).min(lists)
            }
            None => self.ef_search.max(want),
        }
    }

    /// Whether a search with `effort` saw every candidate there is.
    fn exhaustive(&self, effort: usize) -> bool {
        self.ivf_lists().is_none_or(|lists| effort >= lists)
    }
}

#[derive(Debug)]
pub struct ShardKnnExec {
    table: Arc<Table>,
    data: Arc<dyn ShardAccess>,
    spec: KnnSpec,
    full_schema: SchemaRef,
    projection: Vec<usize>,
    projected: SchemaRef,
    filter: Option<Arc<dyn PhysicalExpr>>,
    filter_text: Option<String>,
    /// Exact-scan parts; `selective` when they are a key/index lookup.
    parts: Vec<ScanPart>,
    selective: bool,
    access: String,
    overlay: Option<Overlay>,
    props: Arc<PlanProperties>,
}

impl ShardKnnExec {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        table: Arc<Table>,
        data: Arc<dyn ShardAccess>,
        spec: KnnSpec,
        full_schema: SchemaRef,
        projection: Vec<usize>,
        filter: Option<Arc<dyn PhysicalExpr>>,
        filter_text: Option<String>,
        parts: Vec<ScanPart>,
        access: String,
        overlay: Option<Overlay>,
    ) -> Self {
        let projected = Arc::new(full_schema.project(&projection).expect("valid projection"));
        let selective = parts.iter().all(|p| matches!(p, ScanPart::Points { .. }));
        let props = PlanProperties::new(
            EquivalenceProperties::new(projected.clone()),
            Partitioning::UnknownPartitioning(parts.len().max(1)),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        ShardKnnExec {
            table,
            data,
            spec,
            full_schema,
            projection,
            projected,
            filter,
            filter_text,
            parts,
            selective,
            access,
            overlay,
            props: Arc::new(props),
        }
    }
}

impl DisplayAs for ShardKnnExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let def = self.spec.index.vector.as_ref();
        let shards: Vec<String> = self.parts.iter().map(|p| p.shard().to_string()).collect();
        let cols: Vec<&str> = self
            .projected
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            "ShardKnnExec: table={}, index={} ({} {}), k={}, {}, shards=[{}]",
            self.table.qualified_name(),
            self.spec.index.name,
            def.map_or("", |d| d.method.as_str()),
            def.map_or("", |d| d.opclass.as_str()),
            self.spec.k,
            match self.spec.ivf_lists() {
                Some(lists) => format!("probes={} of {lists} lists", self.spec.probes),
                None => format!("ef_search={}", self.spec.ef_search),
            },
            shards.join(", "),
        )?;
        if let Some(ft) = &self.filter_text {
            let how = if self.selective {
                format!("exact over {}", self.access)
            } else {
                "over the index's filter columns: exact when few rows match, else in graph search"
                    .to_string()
            };
            write!(f, ", filter={ft} ({how})")?;
        }
        write!(f, ", projection=[{}]", cols.join(", "))
    }
}

/// Exact distance between two graph points under `metric`.
fn exact(metric: Metric, a: &Point, b: &Point) -> f64 {
    match (a, b) {
        (Point::Dense(x), Point::Dense(y)) if x.len() == y.len() => distance::dense(metric, x, y),
        (Point::Bits(x), Point::Bits(y)) if x.len() == y.len() => BitDist(metric).eval(x, y) as f64,
        (Point::Sparse(x), Point::Sparse(y)) => {
            distance::sparse(metric, &sparse_of(x), &sparse_of(y))
        }
        _ => f64::INFINITY,
    }
}

/// The k nearest rows of one shard: what one partition of
/// [`ShardKnnExec`] runs, and what the direct KNN path runs on every shard.
pub struct ShardSearch {
    pub table: Arc<Table>,
    pub data: Arc<dyn ShardAccess>,
    pub spec: KnnSpec,
    /// The table's schema: filters are evaluated against it.
    pub full_schema: SchemaRef,
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    pub part: ScanPart,
    /// The part is a key/index lookup: score its rows exactly.
    pub selective: bool,
    pub overlay: Option<Overlay>,
    /// The caller reads only these table columns (and not the distance):
    /// rows may then come from the index's kept columns, not the shard.
    pub only: Option<Vec<usize>>,
}

impl ShardSearch {
    /// The indexed column's position and kind, and the index's expression.
    fn col_steps(&self) -> (usize, Option<crate::vector::Kind>, Vec<Step>) {
        let def = self.spec.index.vector.as_ref().expect("vector index");
        let pos = self
            .table
            .columns
            .iter()
            .position(|c| c.id == def.column)
            .unwrap_or(0);
        let kind = self
            .table
            .columns
            .get(pos)
            .and_then(|c| c.ty.vector())
            .map(|v| v.0);
        (pos, kind, crate::vindex::spec::index_steps(def))
    }

    /// Decode rows, keep those passing the filter, with their distance.
    fn score(&self, kvs: Vec<(Vec<u8>, Vec<u8>)>) -> PgResult<Vec<(f64, Vec<Datum>)>> {
        let def = self.spec.index.vector.as_ref().expect("vector index");
        let (pos, kind, steps) = self.col_steps();
        let mut rows = Vec::with_capacity(kvs.len());
        for (_, v) in kvs {
            rows.push(decode_row(&self.table, &v)?);
        }
        let keep: Vec<bool> = match &self.filter {
            None => vec![true; rows.len()],
            Some(f) if !rows.is_empty() => {
                // Only the columns the filter reads are converted; the others
                // (the vectors above all) are all-NULL columns in its batch.
                let mut used: Vec<usize> = datafusion::physical_expr::utils::collect_columns(f)
                    .iter()
                    .map(|c| c.index())
                    .collect();
                used.sort_unstable();
                used.dedup();
                let sub = Arc::new(self.full_schema.project(&used).map_err(df_internal)?);
                let cols: Vec<Vec<Datum>> = rows
                    .iter()
                    .map(|r| used.iter().map(|&i| r[i].clone()).collect())
                    .collect();
                let sub_batch = rows_to_batch(&sub, &cols)?;
                let columns = (0..self.full_schema.fields().len())
                    .map(|i| match used.iter().position(|&u| u == i) {
                        Some(j) => sub_batch.column(j).clone(),
                        None => datafusion::arrow::array::new_null_array(
                            self.full_schema.field(i).data_type(),
                            rows.len(),
                        ),
                    })
                    .collect();
                let batch = RecordBatch::try_new(self.full_schema.clone(), columns)
                    .map_err(|e| PgError::internal(e.to_string()))?;
                let v = f
                    .evaluate(&batch)
                    .and_then(|v| v.into_array(batch.num_rows()))
                    .map_err(crate::error::df_internal)?;
                let b = v
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| PgError::internal("filter is not boolean"))?;
                (0..b.len()).map(|i| b.is_valid(i) && b.value(i)).collect()
            }
            Some(_) => vec![],
        };
        Ok(rows
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .filter_map(|(r, _)| {
                let p = point_of(&r[pos], kind?, &steps, def.metric)?;
                Some((exact(def.metric, &p, &self.spec.query), r))
            })
            .collect())
    }

    /// Every matching row of the part, scored; only the k nearest kept.
    /// A key range without uncommitted writes is read a batch at a time.
    fn exact_scan(&self) -> PgResult<Vec<(f64, Vec<Datum>)>> {
        let (ScanPart::Range { start, end, .. }, None) = (&self.part, &self.overlay) else {
            let kvs = read_part(self.data.as_ref(), &self.part, self.overlay.as_ref())?;
            return self.score(kvs);
        };
        const BATCH: usize = 2048;
        let shard = self.part.shard();
        let mut best: Vec<(f64, Vec<Datum>)> = Vec::new();
        let mut cursor = start.clone();
        loop {
            let kvs = self.data.scan(shard, &cursor, Some(end), BATCH)?;
            let n = kvs.len();
            if let Some((last, _)) = kvs.last() {
                cursor = last.clone();
                cursor.push(0);
            }
            best.extend(self.score(kvs)?);
            if best.len() > self.spec.k {
                best.sort_by(|a, b| a.0.total_cmp(&b.0));
                best.truncate(self.spec.k);
            }
            if n < BATCH {
                return Ok(best);
            }
        }
    }

    fn graph(&self) -> PgResult<Option<Vec<(f64, Vec<Datum>)>>> {
        let Some(index) = self
            .data
            .vector_index(self.part.shard(), self.spec.index.id)
        else {
            return Ok(None);
        };
        if !index.ready() {
            return Ok(None);
        }
        if self.overlay.is_some() || self.selective {
            return Ok(None);
        }
        let shard = self.part.shard();
        let k = self.spec.k;
        let def = self.spec.index.vector.as_ref().expect("vector index");
        // Quantized graphs return `rerank` candidates per row, re-ranked exactly.
        let per_row = if crate::vindex::spec::quantized(def) {
            def.rerank.max(1)
        } else {
            1
        };
        if let Some(f) = &self.filter {
            // The filter over the graph's kept columns, then only matches
            // (rows read and scored exactly, so inexact graphs are re-ranked).
            let want = k.saturating_mul(per_row);
            let effort = self.spec.effort(want);
            let found = index.filtered_search(
                &self.spec.query,
                want,
                effort,
                f,
                &self.table,
                &self.full_schema,
            );
            if let Some(keys) = found {
                let candidates = keys.len();
                let scored = self.rows_of(keys.into_iter().map(|(key, _)| key).collect())?;
                // A row changed since its kept values were read fails the
                // recheck: then search again the row-reading way.
                if scored.len() >= candidates {
                    return Ok(Some(scored));
                }
            }
        }
        let mut want = if per_row > 1 {
            k.saturating_mul(per_row)
        } else if self.filter.is_some() {
            // The graph walk visits ef_search nodes anyway: take them all as
            // candidates, so the first round already tells the pass rate.
            k.max(self.spec.ef_search)
        } else {
            k
        };
        loop {
            let effort = self.spec.effort(want);
            let keys = index.search(&self.spec.query, want, effort);
            let found = keys.len();
            let mut kvs = Vec::with_capacity(found);
            for (key, _) in keys {
                if let Some(v) = self.data.get(shard, &key)? {
                    kvs.push((key, v));
                }
            }
            let scored = self.score(kvs)?;
            if self.filter.is_none()
                || scored.len() >= k
                || (found < want && self.spec.exhaustive(effort))
            {
                return Ok(Some(scored));
            }
            // Widen by what this round's pass rate says k needs (at least ×4);
            // past hnsw.max_scan_tuples the exact scan of matching rows is cheaper.
            let rate = scored.len().max(1) as f64 / found.max(1) as f64;
            let needed = (k as f64 / rate * 2.0) as usize;
            want = needed.max(want.saturating_mul(4));
            // A graph walk this wide costs more than reading the shard's rows.
            let live = index.live_rows();
            if want > self.spec.max_scan_tuples || want.saturating_mul(4) > live {
                return Ok(None);
            }
        }
    }

    /// The shard's k nearest rows (whole rows), nearest first, with their
    /// exact distance.
    pub fn nearest(&self) -> PgResult<Vec<(f64, Vec<Datum>)>> {
        let mut scored = match self.graph()? {
            Some(s) => s,
            None => self.exact_scan()?,
        };
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        scored.truncate(self.spec.k);
        Ok(scored)
    }
}

impl ShardSearch {
    /// Unfiltered search of a graph whose distances order rows exactly:
    /// the k nearest keys with their graph distances, no rows read yet.
    fn graph_keys(&self) -> Option<Vec<(f32, Vec<u8>)>> {
        let shard = self.plain_walk()?;
        let k = self.spec.k;
        let found = shard.search(&self.spec.query, k, self.spec.effort(k));
        Some(found.into_iter().map(|(key, d)| (d, key)).collect())
    }

    /// The beam width of this search if it is a plain graph walk (no filter,
    /// no exact scan), else a width that never runs inline.
    fn light_effort(&self) -> usize {
        match self.plain_walk() {
            Some(_) if self.spec.ivf_lists().is_none() => self.spec.effort(self.spec.k),
            _ => usize::MAX,
        }
    }

    /// The shard's graph if this search is an unfiltered walk of a ready
    /// graph whose distances order rows exactly.
    fn plain_walk(&self) -> Option<Arc<dyn VectorSearch>> {
        let def = self.spec.index.vector.as_ref()?;
        if self.filter.is_some() || self.overlay.is_some() || self.selective {
            return None;
        }
        if !crate::vindex::spec::exact_order(def) {
            return None;
        }
        let index = self
            .data
            .vector_index(self.part.shard(), self.spec.index.id)?;
        index.ready().then_some(index)
    }

    /// Rows of `keys` with only the caller's columns, from the index's kept
    /// columns (no row read; ordered by graph distance, which orders as the
    /// exact one). None when the caller wants more than is kept.
    fn kept_rows(&self, keys: &[(f32, Vec<u8>)]) -> Option<Vec<(f64, Vec<Datum>)>> {
        let cols = self.only.as_ref()?;
        let shard = self.plain_walk()?;
        shard.kept_rows(keys, &self.table, cols)
    }

    /// Read and score the rows of `keys` (all in this search's shard).
    fn rows_of(&self, keys: Vec<Vec<u8>>) -> PgResult<Vec<(f64, Vec<Datum>)>> {
        let shard = self.part.shard();
        let mut kvs = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(v) = self.data.get(shard, &key)? {
                kvs.push((key, v));
            }
        }
        self.score(kvs)
    }
}

/// Every shard's nearest rows, merged nearest first (all of them: the
/// caller applies OFFSET/LIMIT). Shards are searched in parallel on the
/// rayon pool. When every graph orders exactly, the shards' keys are merged
/// first and only the k winners' rows are read.
pub async fn nearest_all(searches: Vec<ShardSearch>) -> PgResult<Vec<(f64, Vec<Datum>)>> {
    // Short walks run here, one after another: handing them to the pool and
    // back costs about what running them in parallel saves (measured on
    // 4 × 25k × 128-d graphs: equal at ef 40 with one client, 17 % more
    // throughput with four; at ef 100 the pool is 20 % faster for one).
    let effort = searches
        .iter()
        .map(|s| s.light_effort())
        .fold(0, usize::saturating_add);
    if effort <= INLINE_EFFORT {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            nearest_merged(&searches, false)
        }))
        .unwrap_or_else(|_| Err(PgError::internal("KNN search panicked")));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic here must fail the query, not the server (rayon aborts).
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            nearest_merged(&searches, true)
        }))
        .unwrap_or_else(|_| Err(PgError::internal("KNN search panicked")));
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| PgError::internal("KNN search did not finish"))?
}

/// Total beam width (ef summed over shards) up to which [`nearest_all`]
/// walks the shards on the calling thread.
const INLINE_EFFORT: usize = 200;

/// [`nearest_all`]'s work: shards one after another, or in parallel on the
/// rayon pool (`parallel`, when called from a pool thread).
fn nearest_merged(searches: &[ShardSearch], parallel: bool) -> PgResult<Vec<(f64, Vec<Datum>)>> {
    // `f` on every shard, in parallel or in turn.
    fn each<T: Send>(
        searches: &[ShardSearch],
        parallel: bool,
        f: impl Fn(&ShardSearch) -> T + Sync + Send,
    ) -> Vec<T> {
        use rayon::prelude::*;
        if parallel {
            searches.par_iter().map(f).collect()
        } else {
            searches.iter().map(f).collect()
        }
    }
    let keys: Option<Vec<Vec<(f32, Vec<u8>)>>> = each(searches, parallel, |s| s.graph_keys())
        .into_iter()
        .collect();
    let mut all = Vec::new();
    match keys {
        Some(per_shard) => {
            let k = searches.first().map_or(0, |s| s.spec.k);
            let mut merged: Vec<(f32, usize, Vec<u8>)> = per_shard
                .into_iter()
                .enumerate()
                .flat_map(|(i, keys)| keys.into_iter().map(move |(d, key)| (d, i, key)))
                .collect();
            merged.sort_by(|a, b| a.0.total_cmp(&b.0));
            merged.truncate(k);
            let mut wanted: Vec<Vec<(f32, Vec<u8>)>> = vec![vec![]; searches.len()];
            for (d, i, key) in merged {
                wanted[i].push((d, key));
            }
            // From the kept columns only if every shard can (their distances
            // are graph distances, not to be mixed with exact ones).
            let kept: Option<Vec<Vec<(f64, Vec<Datum>)>>> = searches
                .iter()
                .zip(&wanted)
                .map(|(s, keys)| s.kept_rows(keys))
                .collect();
            match kept {
                Some(rows) => all.extend(rows.into_iter().flatten()),
                None => {
                    for (s, keys) in searches.iter().zip(wanted) {
                        if !keys.is_empty() {
                            all.extend(s.rows_of(keys.into_iter().map(|(_, k)| k).collect())?);
                        }
                    }
                }
            }
        }
        None => {
            for rows in each(searches, parallel, |s| s.nearest()) {
                all.extend(rows?);
            }
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(all)
}

impl ExecutionPlan for ShardKnnExec {
    fn name(&self) -> &str {
        "ShardKnnExec"
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
        let projected = self.projected.clone();
        let Some(part) = self.parts.get(partition).cloned() else {
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                projected,
                futures::stream::empty(),
            )));
        };
        let search = ShardSearch {
            table: self.table.clone(),
            data: self.data.clone(),
            spec: self.spec.clone(),
            full_schema: self.full_schema.clone(),
            filter: self.filter.clone(),
            part,
            selective: self.selective,
            overlay: self.overlay.clone(),
            only: None,
        };
        let projection = self.projection.clone();
        let out_schema = self.projected.clone();
        let fut = async move {
            tokio::task::spawn_blocking(move || {
                let rows: Vec<Vec<Datum>> = search
                    .nearest()?
                    .into_iter()
                    .map(|(_, r)| {
                        projection
                            .iter()
                            .map(|&i| r.get(i).cloned().unwrap_or(Datum::Null))
                            .collect()
                    })
                    .collect();
                rows_to_batch(&out_schema, &rows)
            })
            .await
            .map_err(|e| DataFusionError::External(Box::new(PgError::internal(e.to_string()))))?
            .map_err(|e| DataFusionError::External(Box::new(e)))
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            projected,
            futures::stream::once(fut),
        )))
    }
}
