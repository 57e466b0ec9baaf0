//! A DataFusion `TableProvider` for one GrapeDB table.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{Expr, ExprSchemable, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::codec::{Datum, encode_key};
use super::scan::{ScanPart, ShardScanExec};
use crate::catalog::Table;
use crate::cluster::Node;
use crate::error::PgResult;

/// Extra columns of DML scans: the encoded row key and the stored row bytes.
pub const KEY_COLUMN: &str = "__grape_key";
pub const VALUE_COLUMN: &str = "__grape_val";

pub struct GrapeTable {
    pub table: Arc<Table>,
    pub node: Arc<Node>,
    schema: SchemaRef,
    with_key: bool,
    defaults: HashMap<String, Expr>,
    overlay: Option<Overlay>,
}

/// Uncommitted writes of the session's open transaction block: key → new
/// value (None = deleted). Scans merge them so a block reads its own writes.
pub type Overlay = Arc<std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>>;

/// Parses column DEFAULT expressions (no table context needed).
static EXPR_PARSER: LazyLock<SessionContext> = LazyLock::new(SessionContext::new);

impl std::fmt::Debug for GrapeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrapeTable({})", self.table.qualified_name())
    }
}

impl GrapeTable {
    pub fn new(
        table: Arc<Table>,
        node: Arc<Node>,
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
        let empty = DFSchema::empty();
        let mut defaults = HashMap::new();
        for c in &table.columns {
            if let Some(sql) = &c.default {
                if let Ok(e) = EXPR_PARSER.parse_sql_expr(sql, &empty) {
                    let e = e
                        .cast_to(&c.ty.arrow_type(), &empty)
                        .unwrap_or_else(|_| Expr::Literal(ScalarValue::Null, None));
                    defaults.insert(c.name.clone(), e);
                }
            }
        }
        GrapeTable {
            table,
            node,
            schema,
            with_key,
            defaults,
            overlay,
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
                if let Some(vals) = equality_values(f, &col.name) {
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

    pub fn plan_parts(&self, filters: &[Expr]) -> PgResult<Vec<ScanPart>> {
        if let Some(keys) = self.point_keys(filters) {
            let mut by_group: std::collections::BTreeMap<u32, Vec<Vec<u8>>> = Default::default();
            for k in keys {
                by_group.entry(self.node.route(&k).id).or_default().push(k);
            }
            if by_group.is_empty() {
                return Ok(vec![ScanPart::Points {
                    group: *self.node.groups.keys().next().unwrap(),
                    keys: vec![],
                }]);
            }
            return Ok(by_group
                .into_iter()
                .map(|(group, keys)| ScanPart::Points { group, keys })
                .collect());
        }
        Ok(self
            .node
            .groups
            .keys()
            .map(|&group| ScanPart::Range { group })
            .collect())
    }
}

/// Constants `col` is required to equal by `f` (`col = c`, `c = col`, `col IN (...)`).
fn equality_values(f: &Expr, col: &str) -> Option<Vec<ScalarValue>> {
    fn is_col(e: &Expr, col: &str) -> bool {
        match e {
            Expr::Column(c) => c.name == col,
            Expr::Cast(c) => is_col(&c.expr, col),
            _ => false,
        }
    }
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
    match f {
        Expr::BinaryExpr(b) if b.op == Operator::Eq => {
            if is_col(&b.left, col) {
                lit(&b.right).map(|v| vec![v])
            } else if is_col(&b.right, col) {
                lit(&b.left).map(|v| vec![v])
            } else {
                None
            }
        }
        Expr::InList(l) if !l.negated && is_col(&l.expr, col) => l.list.iter().map(lit).collect(),
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

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let parts = self
            .plan_parts(filters)
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let projection = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        Ok(Arc::new(ShardScanExec::new(
            self.table.clone(),
            self.node.clone(),
            self.schema.clone(),
            projection,
            parts,
            limit,
            self.with_key,
            self.overlay.clone(),
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
