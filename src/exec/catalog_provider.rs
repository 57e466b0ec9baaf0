//! DataFusion's view of the catalog: a catalog provider whose schemas and
//! tables come from [`CatalogStore`], plus one per-session scratch schema
//! (`__grape`) that DML uses to plan over a table with its row keys.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::GrapeTable;
use crate::catalog::CatalogStore;
use crate::dataplane::{AtSnapshot, Overlay, ShardAccess, SnapshotTs};

pub const CATALOG_NAME: &str = "grape";
pub const SCRATCH_SCHEMA: &str = "__grape";

#[derive(Debug)]
pub struct GrapeCatalog {
    catalog: Arc<CatalogStore>,
    data: Arc<dyn ShardAccess>,
    scratch: Arc<MemorySchemaProvider>,
    overlay: Arc<parking_lot::Mutex<Option<Overlay>>>,
    /// The snapshot the running statement reads at (None: the latest).
    snapshot: parking_lot::Mutex<Option<Arc<SnapshotTs>>>,
    indexes: Arc<crate::vindex::VectorIndexes>,
    /// The session's database name (`datname` in pg_catalog views).
    database: String,
}

impl std::fmt::Debug for CatalogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CatalogStore")
    }
}

impl GrapeCatalog {
    pub fn new(
        catalog: Arc<CatalogStore>,
        data: Arc<dyn ShardAccess>,
        indexes: Arc<crate::vindex::VectorIndexes>,
        database: String,
    ) -> Self {
        GrapeCatalog {
            catalog,
            data,
            scratch: Arc::new(MemorySchemaProvider::new()),
            overlay: Default::default(),
            snapshot: Default::default(),
            indexes,
            database,
        }
    }

    /// Set (or clear) the uncommitted writes that this session's scans merge.
    pub fn set_overlay(&self, overlay: Option<Overlay>) {
        *self.overlay.lock() = overlay;
    }

    pub fn overlay(&self) -> Option<Overlay> {
        self.overlay.lock().clone()
    }

    /// Set the snapshot that the tables this catalog hands out read at.
    /// Clearing it also forgets the statement's scratch tables, which read
    /// at it (a snapshot held by an idle session would hold back garbage
    /// collection).
    pub fn set_snapshot(&self, at: Option<Arc<SnapshotTs>>) {
        if at.is_none() {
            for name in self.scratch.table_names() {
                let _ = self.scratch.deregister_table(&name);
            }
        }
        *self.snapshot.lock() = at;
    }

    /// The shards as the running statement reads them: at its snapshot.
    pub fn data(&self) -> Arc<dyn ShardAccess> {
        match &*self.snapshot.lock() {
            Some(s) => Arc::new(AtSnapshot {
                inner: self.data.clone(),
                snapshot: s.clone(),
            }),
            None => self.data.clone(),
        }
    }

    pub fn scratch(&self) -> Arc<MemorySchemaProvider> {
        self.scratch.clone()
    }
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
            return Some(Arc::new(crate::pg_catalog::PgCatalog {
                indexes: self.indexes.clone(),
                data: self.data.clone(),
                database: self.database.clone(),
            }));
        }
        if !self.catalog.current().schemas.contains(name) {
            return None;
        }
        Some(Arc::new(GrapeSchema {
            name: name.to_string(),
            catalog: self.catalog.clone(),
            data: self.data(),
            overlay: self.overlay(),
        }))
    }
}

#[derive(Debug)]
pub struct GrapeSchema {
    name: String,
    catalog: Arc<CatalogStore>,
    data: Arc<dyn ShardAccess>,
    overlay: Option<Overlay>,
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
                    self.data.clone(),
                    false,
                    self.overlay.clone(),
                )
                .with_vector_search(),
            ) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog.current().table(&self.name, name).is_some()
    }
}
