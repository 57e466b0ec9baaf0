//! DataFusion's view of the catalog: a catalog provider whose schemas and
//! tables come from [`CatalogStore`], plus one per-session scratch schema
//! (`__grape`) that DML uses to plan over a table with its row keys.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::GrapeTable;
use super::provider::Overlay;
use crate::catalog::CatalogStore;
use crate::cluster::Node;

pub const CATALOG_NAME: &str = "grape";
pub const SCRATCH_SCHEMA: &str = "__grape";

#[derive(Debug)]
pub struct GrapeCatalog {
    catalog: Arc<CatalogStore>,
    node: Arc<Node>,
    scratch: Arc<MemorySchemaProvider>,
    overlay: Arc<std::sync::Mutex<Option<Overlay>>>,
    indexes: Arc<super::vindex::VectorIndexes>,
}

impl std::fmt::Debug for CatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CatalogStore")
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.node_id)
    }
}

impl GrapeCatalog {
    pub fn new(
        catalog: Arc<CatalogStore>,
        node: Arc<Node>,
        indexes: Arc<super::vindex::VectorIndexes>,
    ) -> Self {
        GrapeCatalog {
            catalog,
            node,
            scratch: Arc::new(MemorySchemaProvider::new()),
            overlay: Default::default(),
            indexes,
        }
    }

    /// Set (or clear) the uncommitted writes that this session's scans merge.
    pub fn set_overlay(&self, overlay: Option<Overlay>) {
        *self.overlay.lock().unwrap() = overlay;
    }

    pub fn overlay(&self) -> Option<Overlay> {
        self.overlay.lock().unwrap().clone()
    }

    pub fn scratch(&self) -> Arc<MemorySchemaProvider> {
        self.scratch.clone()
    }
}

/// `pg_catalog` as far as drivers need it: `pg_type` (from catalog/pg_type.tsv).
fn pg_catalog_schema() -> Arc<dyn SchemaProvider> {
    use datafusion::arrow::array::{Int16Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    static SCHEMA: std::sync::LazyLock<Arc<MemorySchemaProvider>> =
        std::sync::LazyLock::new(|| {
            let rows = crate::catalog::types::pg_type_rows();
            let schema = Arc::new(Schema::new(vec![
                Field::new("oid", DataType::Int64, false),
                Field::new("typname", DataType::Utf8, false),
                Field::new("typnamespace", DataType::Int64, false),
                Field::new("typlen", DataType::Int16, false),
                Field::new("typtype", DataType::Utf8, false),
                Field::new("typcategory", DataType::Utf8, false),
                Field::new("typdelim", DataType::Utf8, false),
                Field::new("typelem", DataType::Int64, false),
                Field::new("typarray", DataType::Int64, false),
                Field::new("typbasetype", DataType::Int64, false),
                Field::new("typtypmod", DataType::Int64, false),
            ]));
            let col_i64 = |f: &dyn Fn(&crate::catalog::types::PgTypeRow) -> i64| {
                Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
                    as datafusion::arrow::array::ArrayRef
            };
            let col_str = |f: &dyn Fn(&crate::catalog::types::PgTypeRow) -> String| {
                Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
                    as datafusion::arrow::array::ArrayRef
            };
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    col_i64(&|r| r.oid),
                    col_str(&|r| r.name.clone()),
                    col_i64(&|r| r.namespace),
                    Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.len))),
                    col_str(&|_| "b".into()),
                    col_str(&|r| r.category.clone()),
                    col_str(&|_| ",".into()),
                    col_i64(&|r| r.elem),
                    col_i64(&|r| r.array),
                    col_i64(&|_| 0),
                    col_i64(&|_| -1),
                ],
            )
            .expect("pg_type batch");
            let p = MemorySchemaProvider::new();
            let t = MemTable::try_new(schema, vec![vec![batch]]).expect("pg_type table");
            let _ = p.register_table("pg_type".into(), Arc::new(t));
            Arc::new(p)
        });
    SCHEMA.clone()
}

impl CatalogProvider for GrapeCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.catalog.current().schemas.iter().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SCRATCH_SCHEMA {
            return Some(self.scratch.clone());
        }
        if name == "pg_catalog" {
            return Some(pg_catalog_schema());
        }
        if !self.catalog.current().schemas.contains(name) {
            return None;
        }
        Some(Arc::new(GrapeSchema {
            name: name.to_string(),
            catalog: self.catalog.clone(),
            node: self.node.clone(),
            overlay: self.overlay(),
            indexes: self.indexes.clone(),
        }))
    }
}

#[derive(Debug)]
pub struct GrapeSchema {
    name: String,
    catalog: Arc<CatalogStore>,
    node: Arc<Node>,
    overlay: Option<Overlay>,
    indexes: Arc<super::vindex::VectorIndexes>,
}

#[async_trait]
impl SchemaProvider for GrapeSchema {
    fn table_names(&self) -> Vec<String> {
        self.catalog
            .current()
            .tables_in(&self.name)
            .map(|t| t.name.clone())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let cat = self.catalog.current();
        Ok(cat.table(&self.name, name).map(|t| {
            Arc::new(
                GrapeTable::new(
                    Arc::new(t.clone()),
                    self.node.clone(),
                    false,
                    self.overlay.clone(),
                )
                .with_indexes(self.indexes.clone()),
            ) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog.current().table(&self.name, name).is_some()
    }
}
