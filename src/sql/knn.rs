//! The KNN rewrite: `ORDER BY <distance> [ASC] LIMIT k` over a table whose
//! vector column (or indexed expression) has a matching index becomes a scan
//! of each shard's k nearest rows ([`crate::exec::knn::ShardKnnExec`]).
//!
//! A logical rule, run after DataFusion has pushed the LIMIT into the sort:
//! it matches `Sort(fetch) → (Projection | Filter | SubqueryAlias)* →
//! TableScan`, resolves the sort key through aliases and projections, and
//! hands `{index, query, k}` to the table. The sort stays above the scan as
//! the exact merge of the shards' rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use datafusion::catalog::default_table_source::DefaultTableSource;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, TableScan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::vector::udf::metric_of_fn;
use crate::ann::{Point, bits_words};
use crate::catalog::Index;
use crate::exec::GrapeTable;
use crate::exec::knn::KnnSpec;
use crate::vector::{self, Bits, Kind};
use crate::vindex::spec::{Step, index_steps};

/// The session's KNN settings (`hnsw.ef_search`, ...), shared with its rule.
#[derive(Debug)]
pub struct KnnSettings {
    pub ef_search: AtomicUsize,
    pub probes: AtomicUsize,
    pub max_scan_tuples: AtomicUsize,
    pub enable_indexscan: AtomicBool,
    /// Off: an ORDER BY distance without LIMIT is an index scan too, as
    /// PostgreSQL plans it then (rows the index does not hold, NULL
    /// vectors and, for cosine, zero vectors, are not returned).
    pub enable_seqscan: AtomicBool,
}

impl Default for KnnSettings {
    fn default() -> Self {
        KnnSettings {
            ef_search: AtomicUsize::new(40),
            probes: AtomicUsize::new(1),
            max_scan_tuples: AtomicUsize::new(20_000),
            enable_indexscan: AtomicBool::new(true),
            enable_seqscan: AtomicBool::new(true),
        }
    }
}

impl KnnSettings {
    /// The search of `k` rows nearest to `query` through `index`, with the
    /// session's settings.
    pub fn spec(&self, index: &Index, query: Point, k: usize) -> KnnSpec {
        KnnSpec {
            index: index.clone(),
            query,
            k,
            ef_search: self.ef_search.load(Ordering::Relaxed),
            probes: self.probes.load(Ordering::Relaxed),
            max_scan_tuples: self.max_scan_tuples.load(Ordering::Relaxed),
        }
    }
}

/// The vector index of `table` that orders by `metric` over `column`
/// through the expression `steps` (none for the bare column), if there is
/// one; HNSW before IVFFlat.
pub fn serving_index<'a>(
    table: &'a crate::catalog::Table,
    column: u32,
    steps: &[Step],
    metric: crate::vector::distance::Metric,
) -> Option<&'a Index> {
    let serves = |i: &&Index, method: &str| {
        let Some(def) = &i.vector else { return false };
        if def.metric != metric || def.column != column || def.method != method {
            return false;
        }
        index_steps(def) == steps
    };
    let mut candidates = table.indexes.iter();
    candidates
        .clone()
        .find(|i| serves(i, "hnsw"))
        .or_else(|| candidates.find(|i| serves(i, "ivfflat")))
}

#[derive(Debug)]
pub struct KnnRule {
    pub settings: Arc<KnnSettings>,
}

/// The column and expression steps of a sort-key operand (`embedding`,
/// `embedding::halfvec(3)`, `binary_quantize(embedding)::bit(3)`).
fn operand_steps(e: &Expr) -> Option<(Column, Vec<Step>)> {
    match e {
        Expr::Column(c) => Some((c.clone(), vec![])),
        Expr::Alias(a) => operand_steps(&a.expr),
        Expr::ScalarFunction(f) => {
            let name = f.func.name();
            let (col, mut steps) = operand_steps(f.args.first()?)?;
            match name {
                "binary_quantize" => steps.push(Step::Quantize),
                super::vector::udf::CAST_FN => {
                    let Some(Expr::Literal(ScalarValue::Utf8(Some(k)), _)) = f.args.get(1) else {
                        return None;
                    };
                    steps.push(match k.as_str() {
                        "halfvec" => Step::Half,
                        "vector" => Step::Vector,
                        "bit" | "varbit" => Step::Bit,
                        _ => return None,
                    });
                }
                _ => return None,
            }
            Some((col, steps))
        }
        _ => None,
    }
}

/// The query vector as a graph point of the index's kind.
fn query_point(v: &ScalarValue, kind: Kind) -> Option<Point> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float16Type, Float32Type};
    match v {
        ScalarValue::List(l) if l.len() == 1 && !l.is_null(0) => {
            let vals = l.value(0);
            let dense: Vec<f32> = if let Some(f) = vals.as_primitive_opt::<Float32Type>() {
                f.values().to_vec()
            } else if let Some(h) = vals.as_primitive_opt::<Float16Type>() {
                h.values().iter().map(|x| x.to_f32()).collect()
            } else {
                return None;
            };
            match kind {
                Kind::Vector | Kind::HalfVec => Some(Point::Dense(dense)),
                _ => None,
            }
        }
        ScalarValue::Binary(Some(b)) if kind == Kind::Bit => {
            Some(Point::Bits(bits_words(&Bits::from_bytes(b))))
        }
        ScalarValue::Binary(Some(b)) if kind == Kind::SparseVec => {
            Some(Point::sparse(&vector::SparseVec::from_bytes(b)))
        }
        ScalarValue::Utf8(Some(s)) => match kind {
            Kind::Vector => vector::parse_vector(s, None).ok().map(Point::Dense),
            Kind::HalfVec => vector::parse_halfvec(s, None).ok().map(Point::Dense),
            Kind::Bit => vector::parse_bits(s, None)
                .ok()
                .map(|b| Point::Bits(bits_words(&b))),
            Kind::SparseVec => vector::parse_sparsevec(s, None)
                .ok()
                .map(|v| Point::sparse(&v)),
        },
        _ => None,
    }
}

/// Replace column references by what the projection below computes.
fn through_projection(key: Expr, p: &datafusion::logical_expr::Projection) -> Option<Expr> {
    let mut ok = true;
    let out = key
        .transform_up(|e| {
            if let Expr::Column(c) = &e {
                match p.schema.index_of_column(c) {
                    Ok(i) => {
                        return Ok(Transformed::yes(p.expr[i].clone().unalias_nested().data));
                    }
                    Err(_) => ok = false,
                }
            }
            Ok(Transformed::no(e))
        })
        .ok()?
        .data;
    ok.then_some(out)
}

fn unqualify(key: Expr) -> Expr {
    key.transform_up(|e| match e {
        Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
            c.name,
        )))),
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
    .unwrap_or_else(|e| Expr::Literal(ScalarValue::Utf8(Some(e.to_string())), None))
}

/// An index scan with a NULL query vector (`ORDER BY v <-> NULL`): in
/// PostgreSQL it returns the rows the index holds, in no order: those
/// whose vector is not NULL (for cosine, also not a zero vector, which
/// pgvector leaves out of the index). The filter that keeps those rows.
fn null_query_filter(key: &Expr, table: &GrapeTable) -> Option<Expr> {
    let key = key.clone().unalias_nested().data;
    let Expr::ScalarFunction(f) = &key else {
        return None;
    };
    let metric = metric_of_fn(f.func.name())?;
    let operand = match f.args.as_slice() {
        [x, q] | [q, x] if is_null_value(q) && !is_null_value(x) => x,
        _ => return None,
    };
    let (col, steps) = operand_steps(operand)?;
    let column = table.table.column(&col.name)?;
    serving_index(&table.table, column.id, &steps, metric)?;
    let mut pred = operand.clone().is_not_null();
    if metric == crate::vector::distance::Metric::Cosine {
        // A zero vector's cosine distance to itself is NaN, any other's 0.
        let own = Expr::ScalarFunction(datafusion::logical_expr::expr::ScalarFunction::new_udf(
            f.func.clone(),
            vec![operand.clone(), operand.clone()],
        ));
        pred = pred.and(own.lt(Expr::Literal(ScalarValue::Float64(Some(1.0)), None)));
    }
    Some(pred)
}

/// A NULL as the planner has it before constant folding: a NULL literal,
/// maybe cast (`NULL::vector` is `grape_cast(NULL, 'vector', -1)`).
fn is_null_value(e: &Expr) -> bool {
    match e {
        Expr::Literal(v, _) => v.is_null(),
        Expr::Cast(c) => is_null_value(&c.expr),
        Expr::Alias(a) => is_null_value(&a.expr),
        Expr::ScalarFunction(f) if f.func.name() == super::vector::udf::CAST_FN => {
            f.args.first().is_some_and(is_null_value)
        }
        _ => false,
    }
}

/// Give index scans with a NULL query vector PostgreSQL's answer (see
/// [`null_query_filter`]): where a sort by distance to NULL would scan a
/// vector index (under LIMIT, or with sequential scans off), keep only
/// the rows that index holds. Runs on the plan before DataFusion's
/// optimizer, which drops a sort whose order nothing reads
/// (`SELECT count(*) FROM (... ORDER BY v <-> NULL) s`).
pub fn filter_null_queries(plan: LogicalPlan, settings: &KnnSettings) -> Result<LogicalPlan> {
    if !settings.enable_indexscan.load(Ordering::Relaxed) {
        return Ok(plan);
    }
    let seqscan = settings.enable_seqscan.load(Ordering::Relaxed);
    plan.transform_down_with_subqueries(|node| {
        let LogicalPlan::Sort(sort) = &node else {
            return Ok(Transformed::no(node));
        };
        if sort.fetch.is_none() && seqscan {
            return Ok(Transformed::no(node));
        }
        let Some((key, scan)) = sort_key_at_scan(sort) else {
            return Ok(Transformed::no(node));
        };
        let Some(table) = grape_table(scan) else {
            return Ok(Transformed::no(node));
        };
        let Some(pred) = null_query_filter(&key, table) else {
            return Ok(Transformed::no(node));
        };
        let table_name = scan.table_name.clone();
        let input = sort.input.as_ref().clone().transform_up(|p| match p {
            LogicalPlan::TableScan(s) if s.table_name == table_name => {
                datafusion::logical_expr::Filter::try_new(
                    pred.clone(),
                    Arc::new(LogicalPlan::TableScan(s)),
                )
                .map(|f| Transformed::yes(LogicalPlan::Filter(f)))
            }
            other => Ok(Transformed::no(other)),
        })?;
        let LogicalPlan::Sort(mut sort) = node else {
            unreachable!()
        };
        sort.input = Arc::new(input.data);
        Ok(Transformed::yes(LogicalPlan::Sort(sort)))
    })
    .map(|t| t.data)
}

/// The first sort key of `sort` (ascending) in terms of the table scan
/// below it, through projections, filters and aliases.
fn sort_key_at_scan(sort: &datafusion::logical_expr::Sort) -> Option<(Expr, &TableScan)> {
    let [first] = sort.expr.as_slice() else {
        return None;
    };
    if !first.asc {
        return None;
    }
    let mut key = first.expr.clone();
    let mut node = sort.input.as_ref();
    let scan: &TableScan = loop {
        match node {
            LogicalPlan::Projection(p) => {
                key = through_projection(key, p)?;
                node = p.input.as_ref();
            }
            LogicalPlan::Filter(f) => node = f.input.as_ref(),
            LogicalPlan::SubqueryAlias(a) => {
                key = unqualify(key);
                node = a.input.as_ref();
            }
            LogicalPlan::TableScan(s) => break s,
            _ => return None,
        }
    };
    Some((unqualify(key), scan))
}

/// The GrapeDB table a scan reads (with vector search), if it is one.
fn grape_table(scan: &TableScan) -> Option<&GrapeTable> {
    let source: &dyn std::any::Any = scan.source.as_ref();
    let source = source.downcast_ref::<DefaultTableSource>()?;
    let provider: &dyn std::any::Any = source.table_provider.as_ref();
    let table = provider.downcast_ref::<GrapeTable>()?;
    (table.knn.is_none() && table.vector_search).then_some(table)
}

impl KnnRule {
    /// The KNN spec for a sort key over `table`, if an index serves it.
    fn spec(&self, key: &Expr, table: &GrapeTable, k: usize) -> Option<KnnSpec> {
        let key = key.clone().unalias_nested().data;
        let Expr::ScalarFunction(f) = &key else {
            return None;
        };
        let metric = metric_of_fn(f.func.name())?;
        let [a, b] = f.args.as_slice() else {
            return None;
        };
        let (operand, lit) = match (a, b) {
            (x, Expr::Literal(v, _)) | (Expr::Literal(v, _), x) => (x, v),
            _ => return None,
        };
        let (col, steps) = operand_steps(operand)?;
        let column = table.table.column(&col.name)?;
        let index = serving_index(&table.table, column.id, &steps, metric)?;
        let def = index.vector.as_ref()?;
        let query = query_point(lit, def.kind)?;
        Some(self.settings.spec(index, query, k))
    }

    fn try_sort(&self, plan: &LogicalPlan) -> Option<LogicalPlan> {
        let LogicalPlan::Sort(sort) = plan else {
            return None;
        };

        // Without LIMIT, only when sequential scans are off (PostgreSQL
        // then scans the index): the rows the index holds, nearest first,
        // up to hnsw.max_scan_tuples. (pgvector's HNSW scan stops at
        // ef_search rows unless its iterative scan is on.)
        let k = match sort.fetch {
            Some(k) => k,
            None if !self.settings.enable_seqscan.load(Ordering::Relaxed) => self
                .settings
                .ef_search
                .load(Ordering::Relaxed)
                .max(self.settings.max_scan_tuples.load(Ordering::Relaxed)),
            None => return None,
        };
        let (key, scan) = sort_key_at_scan(sort)?;
        let table = grape_table(scan)?;
        let spec = self.spec(&key, table, k)?;
        let new_source = Arc::new(DefaultTableSource::new(Arc::new(table.with_knn(spec))));
        let table_name = scan.table_name.clone();
        let rewritten = plan
            .clone()
            .transform_up(|p| match p {
                LogicalPlan::TableScan(mut s) if s.table_name == table_name => {
                    s.source = new_source.clone();
                    Ok(Transformed::yes(LogicalPlan::TableScan(s)))
                }
                other => Ok(Transformed::no(other)),
            })
            .ok()?
            .data;
        Some(rewritten)
    }
}

impl OptimizerRule for KnnRule {
    fn name(&self) -> &str {
        "grape_knn"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        if !self.settings.enable_indexscan.load(Ordering::Relaxed) {
            return Ok(Transformed::no(plan));
        }
        match self.try_sort(&plan) {
            Some(p) => Ok(Transformed::yes(p)),
            None => Ok(Transformed::no(plan)),
        }
    }
}
