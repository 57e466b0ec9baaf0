//! A DataFusion `TableProvider` for one GrapeDB table.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{Expr, ExprSchemable, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::scan::{ScanPart, ShardScanExec};
use crate::catalog::Table;
use crate::dataplane::{Overlay, ShardAccess};
use crate::encoding::prefix_successor;
use crate::encoding::{encode_key, push_key, table_prefix};
use crate::error::PgResult;
use crate::types::Datum;

/// Extra columns of DML scans: the encoded row key and the stored row bytes.
pub const KEY_COLUMN: &str = "__grape_key";
pub const VALUE_COLUMN: &str = "__grape_val";

pub struct GrapeTable {
    pub table: Arc<Table>,
    /// How the table's shards are read.
    pub data: Arc<dyn ShardAccess>,
    schema: SchemaRef,
    with_key: bool,
    /// Column DEFAULTs as expressions, parsed the first time INSERT planning asks.
    defaults: OnceLock<HashMap<String, Expr>>,
    overlay: Option<Overlay>,
    /// The planner's KNN rule may scan this table through its vector
    /// indexes (tables of the catalog; not DML's own scans).
    pub vector_search: bool,
    /// Set by the planner's KNN rule: scan this table as its k nearest rows.
    pub knn: Option<super::knn::KnnSpec>,
    /// The primary key, so that a query grouped by it may select the
    /// table's other columns (PostgreSQL's functional dependency).
    constraints: datafusion::common::Constraints,
}

/// Parses column DEFAULT expressions (no table context needed).
static EXPR_PARSER: LazyLock<SessionContext> = LazyLock::new(SessionContext::new);

/// A column DEFAULT as an expression of the column's type. CREATE/ALTER TABLE
/// call this to reject a default that does not parse, so planning can rely on it.
pub fn default_expr(sql: &str, ty: &crate::types::SqlType) -> PgResult<Expr> {
    let empty = DFSchema::empty();
    // nextval('s'): the write path fills the column from its sequence
    // (Column::sequence), as for serial columns.
    if sql
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("nextval(")
    {
        let null = ScalarValue::try_from(&ty.arrow_type())
            .map_err(|e| crate::error::PgError::internal(e.to_string()))?;
        return Ok(Expr::Literal(null, None));
    }
    let parsed = EXPR_PARSER.parse_sql_expr(sql, &empty).map_err(|e| {
        crate::error::PgError::new(
            crate::error::codes::SYNTAX_ERROR,
            format!("invalid DEFAULT expression \"{sql}\": {e}"),
        )
    })?;
    // A quoted literal is input text of the column's type, as PostgreSQL
    // reads an untyped literal ('[0,0,0]' for a vector, '2024-01-01' for a
    // date): parsed now, so a bad one fails at CREATE TABLE with the type's
    // own error.
    if let Expr::Literal(ScalarValue::Utf8(Some(text)), _) = &parsed {
        let datum = crate::types::text::parse_text(ty, text)?;
        return Ok(Expr::Literal(datum.to_scalar(&ty.arrow_type())?, None));
    }
    parsed.cast_to(&ty.arrow_type(), &empty).map_err(|e| {
        crate::error::PgError::new(
            crate::error::codes::SYNTAX_ERROR,
            format!("invalid DEFAULT expression \"{sql}\": {e}"),
        )
    })
}

impl std::fmt::Debug for GrapeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrapeTable({})", self.table.qualified_name())
    }
}

impl GrapeTable {
    pub fn new(
        table: Arc<Table>,
        data: Arc<dyn ShardAccess>,
        with_key: bool,
        overlay: Option<Overlay>,
    ) -> Self {
        let mut fields: Vec<Field> = table
            .columns
            .iter()
            // Every column is nullable to DataFusion: NOT NULL is checked by the
            // write path, which reports it as PostgreSQL does (23502).
            .map(|c| c.ty.field(&c.name, true))
            .collect();
        if with_key {
            fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
            fields.push(Field::new(VALUE_COLUMN, DataType::Binary, false));
        }
        let schema = Arc::new(Schema::new(fields));
        let key: Vec<usize> = table
            .primary_key
            .iter()
            .filter_map(|id| table.columns.iter().position(|c| c.id == *id))
            .collect();
        let constraints = datafusion::common::Constraints::new_unverified(
            (!key.is_empty() && key.len() == table.primary_key.len())
                .then(|| datafusion::common::Constraint::PrimaryKey(key))
                .into_iter()
                .collect(),
        );
        GrapeTable {
            constraints,
            table,
            data,
            schema,
            with_key,
            defaults: OnceLock::new(),
            overlay,
            vector_search: false,
            knn: None,
        }
    }

    /// The same table, which the KNN rule may scan through its vector indexes.
    pub fn with_vector_search(mut self) -> Self {
        self.vector_search = true;
        self
    }

    /// The same table, scanned as the k nearest rows of `spec`.
    pub fn with_knn(&self, spec: super::knn::KnnSpec) -> Self {
        GrapeTable {
            table: self.table.clone(),
            data: self.data.clone(),
            schema: self.schema.clone(),
            with_key: self.with_key,
            defaults: OnceLock::new(),
            overlay: self.overlay.clone(),
            vector_search: self.vector_search,
            knn: Some(spec),
            constraints: self.constraints.clone(),
        }
    }

    pub fn schema_ref(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Keys for a point lookup when the filters pin every primary-key column
    /// to one or a few constants.
    fn point_keys(&self, filters: &[Expr]) -> Option<Vec<Vec<u8>>> {
        let pk = self.table.pk_positions();
        if pk.is_empty() {
            return None;
        }
        let mut choices: Vec<Vec<Datum>> = Vec::new();
        for &pos in &pk {
            let col = &self.table.columns[pos];
            let dt = col.ty.arrow_type();
            let mut found = None;
            for f in filters {
                if let Some(vals) = equality_values(f, &col.name, &dt) {
                    let mut ds = Vec::new();
                    for v in vals {
                        let v = v.cast_to(&dt).ok()?;
                        if v.is_null() {
                            continue;
                        }
                        ds.push(Datum::from_scalar(&v).ok()?);
                    }
                    found = Some(ds);
                    break;
                }
            }
            choices.push(found?);
        }
        // Cartesian product of the per-column choices (bounded).
        let mut keys: Vec<Vec<Datum>> = vec![vec![]];
        for ch in choices {
            let mut next = Vec::new();
            for k in &keys {
                for v in &ch {
                    let mut k2 = k.clone();
                    k2.push(v.clone());
                    next.push(k2);
                }
            }
            if next.len() > 10_000 {
                return None;
            }
            keys = next;
        }
        keys.into_iter()
            .map(|k| encode_key(self.table.id, &k).ok())
            .collect()
    }

    /// Choose how to find the rows: primary-key point lookup, secondary
    /// index lookup, primary-key range, or a full scan of every shard.
    pub fn plan_parts(&self, filters: &[Expr]) -> PgResult<(Vec<ScanPart>, String)> {
        let activity = self.data.activity();
        if let Some(keys) = self.point_keys(filters) {
            if let Some(pk) = self.table.indexes.iter().find(|i| i.primary) {
                activity.index_used(pk.id);
            }
            let n = keys.len();
            return Ok((
                self.points(keys),
                format!("primary key point lookup ({n} key(s))"),
            ));
        }
        // Index entries written inside an open transaction block are only in
        // its overlay; such a block scans instead of using indexes.
        if self.overlay.is_none() {
            for idx in self
                .table
                .indexes
                .iter()
                .filter(|i| !i.primary && i.vector.is_none() && !i.building)
            {
                if let Some((start, end, how)) = self.index_bounds(idx, filters) {
                    if let Some(keys) = self.index_row_keys(&start, &end)? {
                        activity.index_used(idx.id);
                        let n = keys.len();
                        return Ok((
                            self.points(keys),
                            format!("index {} {how} ({n} row(s))", idx.name),
                        ));
                    }
                }
            }
        }
        let prefix = table_prefix(self.table.id);
        let (mut start, mut end) = (
            prefix.clone(),
            prefix_successor(&prefix).expect("table prefix"),
        );
        let mut access = "full scan".to_string();
        if let Some(&first) = self.table.pk_positions().first() {
            let col = &self.table.columns[first];
            if let Some((lo, hi)) = key_range(filters, &col.name, &col.ty.arrow_type(), &prefix) {
                if let Some(lo) = lo {
                    start = lo;
                }
                if let Some(hi) = hi {
                    end = hi;
                }
                access = format!("primary key range on {}", col.name);
            }
        }
        match &self.knn {
            // The rows come from the vector index's graph.
            Some(spec) => activity.index_used(spec.index.id),
            None => activity.scanned(self.table.id),
        }
        let parts = self
            .data
            .shards()
            .into_iter()
            .map(|shard| ScanPart::Range {
                shard,
                start: start.clone(),
                end: end.clone(),
            })
            .collect();
        Ok((parts, access))
    }

    fn points(&self, keys: Vec<Vec<u8>>) -> Vec<ScanPart> {
        let mut by_shard: std::collections::BTreeMap<u32, Vec<Vec<u8>>> = Default::default();
        for k in keys {
            by_shard.entry(self.data.shard_of(&k)).or_default().push(k);
        }
        if by_shard.is_empty() {
            let shard = self.data.shards()[0];
            return vec![ScanPart::Points {
                shard,
                keys: vec![],
            }];
        }
        by_shard
            .into_iter()
            .map(|(shard, keys)| ScanPart::Points { shard, keys })
            .collect()
    }

    /// Key bounds of the index entries the filters select: equality on every
    /// index column, or a range on its first column.
    fn index_bounds(
        &self,
        idx: &crate::catalog::Index,
        filters: &[Expr],
    ) -> Option<(Vec<u8>, Vec<u8>, &'static str)> {
        let prefix = table_prefix(idx.id);
        let cols: Vec<&crate::catalog::Column> = idx
            .columns
            .iter()
            .filter_map(|id| self.table.column_by_id(*id))
            .collect();
        let mut eq: Vec<Datum> = Vec::new();
        for c in &cols {
            let vals = filters
                .iter()
                .find_map(|f| equality_values(f, &c.name, &c.ty.arrow_type()));
            match vals {
                Some(v) if v.len() == 1 => {
                    let v = v[0].cast_to(&c.ty.arrow_type()).ok()?;
                    if v.is_null() {
                        return None;
                    }
                    eq.push(Datum::from_scalar(&v).ok()?);
                }
                _ => break,
            }
        }
        if eq.len() == cols.len() {
            let start = encode_key(idx.id, &eq).ok()?;
            let end = prefix_successor(&start)?;
            return Some((start, end, "lookup"));
        }
        let first = cols.first()?;
        let (lo, hi) = key_range(filters, &first.name, &first.ty.arrow_type(), &prefix)?;
        let start = lo.unwrap_or_else(|| prefix.clone());
        let end = hi.unwrap_or_else(|| prefix_successor(&prefix).expect("index prefix"));
        Some((start, end, "range scan"))
    }

    /// Row keys stored in index entries with keys in `[start, end)`, from
    /// every shard; None when there are too many for a lookup to pay off.
    fn index_row_keys(&self, start: &[u8], end: &[u8]) -> PgResult<Option<Vec<Vec<u8>>>> {
        const MAX: usize = 100_000;
        let mut out = Vec::new();
        for shard in self.data.shards() {
            let mut from = start.to_vec();
            loop {
                let chunk = self.data.scan(shard, &from, Some(end), 4096)?;
                let done = chunk.len() < 4096;
                if let Some((k, _)) = chunk.last() {
                    from = k.clone();
                    from.push(0);
                }
                out.extend(chunk.into_iter().map(|(_, v)| v));
                if out.len() > MAX {
                    return Ok(None);
                }
                if done {
                    break;
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(Some(out))
    }
}

/// Bounds `[lo, hi)` on keys `[prefix][encoded col]...` from range and
/// equality filters on `col` (None when the filters do not bound it).
fn key_range(
    filters: &[Expr],
    col: &str,
    dt: &DataType,
    prefix: &[u8],
) -> Option<(Option<Vec<u8>>, Option<Vec<u8>>)> {
    let enc = |v: &ScalarValue| -> Option<Vec<u8>> {
        let v = v.cast_to(dt).ok()?;
        if v.is_null() {
            return None;
        }
        let mut k = prefix.to_vec();
        push_key(&Datum::from_scalar(&v).ok()?, &mut k).ok()?;
        Some(k)
    };
    let (mut lo, mut hi): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut tighten_lo = |k: Vec<u8>| {
        if lo.as_ref().is_none_or(|l| &k > l) {
            lo = Some(k);
        }
    };
    let mut his: Vec<Vec<u8>> = Vec::new();
    for f in filters {
        let mut push = |op: Operator, v: &ScalarValue| -> Option<()> {
            let k = enc(v)?;
            match op {
                Operator::Gt => tighten_lo(prefix_successor(&k)?),
                Operator::GtEq => tighten_lo(k),
                Operator::Lt => his.push(k),
                Operator::LtEq => his.push(prefix_successor(&k)?),
                Operator::Eq => {
                    his.push(prefix_successor(&k)?);
                    tighten_lo(k);
                }
                _ => {}
            }
            Some(())
        };
        match f {
            Expr::BinaryExpr(b) => {
                if is_col(&b.left, col, dt) {
                    if let Some(v) = lit(&b.right) {
                        push(b.op, &v);
                    }
                } else if is_col(&b.right, col, dt) {
                    if let Some(v) = lit(&b.left) {
                        let flipped = match b.op {
                            Operator::Gt => Operator::Lt,
                            Operator::GtEq => Operator::LtEq,
                            Operator::Lt => Operator::Gt,
                            Operator::LtEq => Operator::GtEq,
                            other => other,
                        };
                        push(flipped, &v);
                    }
                }
            }
            Expr::Between(bt) if !bt.negated && is_col(&bt.expr, col, dt) => {
                if let (Some(l), Some(h)) = (lit(&bt.low), lit(&bt.high)) {
                    push(Operator::GtEq, &l);
                    push(Operator::LtEq, &h);
                }
            }
            _ => {}
        }
    }
    for h in his {
        if hi.as_ref().is_none_or(|x| &h < x) {
            hi = Some(h);
        }
    }
    if lo.is_none() && hi.is_none() {
        return None;
    }
    Some((lo, hi))
}

/// `e` is the column `col` (of Arrow type `dt`), possibly under a cast that
/// keeps values and their order: integer widening of an integer column, or a
/// string representation of a string column. A cast across families (text to
/// int, int to text) orders differently, so it does not count.
fn is_col(e: &Expr, col: &str, dt: &DataType) -> bool {
    let int = |t: &DataType| matches!(t, DataType::Int16 | DataType::Int32 | DataType::Int64);
    let string =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
    match e {
        Expr::Column(c) => c.name == col,
        Expr::Cast(c) => {
            let to = c.field.data_type();
            let keeps = (int(dt) && int(to)) || (string(dt) && string(to));
            keeps && matches!(c.expr.as_ref(), Expr::Column(x) if x.name == col)
        }
        _ => false,
    }
}

/// A constant, possibly under a cast (folded here).
fn lit(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Cast(c) => {
            let v = lit(&c.expr)?;
            v.cast_to(c.field.data_type()).ok()
        }
        _ => None,
    }
}

/// Constants `col` is required to equal by `f` (`col = c`, `c = col`, `col IN (...)`).
fn equality_values(f: &Expr, col: &str, dt: &DataType) -> Option<Vec<ScalarValue>> {
    match f {
        Expr::BinaryExpr(b) if b.op == Operator::Eq => {
            if is_col(&b.left, col, dt) {
                lit(&b.right).map(|v| vec![v])
            } else if is_col(&b.right, col, dt) {
                lit(&b.left).map(|v| vec![v])
            } else {
                None
            }
        }
        Expr::InList(l) if !l.negated && is_col(&l.expr, col, dt) => {
            l.list.iter().map(lit).collect()
        }
        _ => None,
    }
}

#[async_trait]
impl TableProvider for GrapeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn constraints(&self) -> Option<&datafusion::common::Constraints> {
        Some(&self.constraints)
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults
            .get_or_init(|| {
                self.table
                    .columns
                    .iter()
                    .filter_map(|c| {
                        Some((
                            c.name.clone(),
                            default_expr(c.default.as_ref()?, &c.ty).ok()?,
                        ))
                    })
                    .collect()
            })
            .get(column)
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (parts, access) = self
            .plan_parts(filters)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        if let Some(spec) = &self.knn {
            let (filter, filter_text) =
                match datafusion::logical_expr::utils::conjunction(filters.iter().cloned()) {
                    Some(f) => {
                        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
                        let text = f.to_string();
                        (
                            Some(_state.create_physical_expr(f, &df_schema)?),
                            Some(text),
                        )
                    }
                    None => (None, None),
                };
            return Ok(Arc::new(super::knn::ShardKnnExec::new(
                self.table.clone(),
                self.data.clone(),
                spec.clone(),
                self.schema.clone(),
                projection,
                filter,
                filter_text,
                parts,
                access,
                self.overlay.clone(),
            )));
        }
        Ok(Arc::new(ShardScanExec::new(
            self.table.clone(),
            self.data.clone(),
            self.schema.clone(),
            projection,
            parts,
            limit,
            self.with_key,
            self.overlay.clone(),
            access,
        )))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Filters are used to pick point lookups; DataFusion still re-checks them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
