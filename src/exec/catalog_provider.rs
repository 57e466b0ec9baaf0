//! DataFusion's view of the catalog: a catalog provider whose schemas and
//! tables come from [`CatalogStore`], plus one per-session scratch schema
//! (`__grape`) that DML uses to plan over a table with its row keys.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::GrapeTable;
use crate::catalog::locks::{LockMode, SessionLocks};
use crate::catalog::{Catalog, CatalogStore};
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
    /// The session's user (the role `pg_roles` shows).
    user: String,
    /// The catalog as the session's transaction block has changed it (DDL
    /// not yet committed); None: the committed one.
    view: parking_lot::Mutex<Option<Arc<Catalog>>>,
    /// The table locks the session holds.
    locks: Arc<SessionLocks>,
    /// The advisory locks the session holds.
    advisory: Arc<crate::catalog::advisory::SessionAdvisory>,
    /// The session's settings, for `pg_settings` (set once the session
    /// exists).
    settings: parking_lot::Mutex<Option<crate::pg_catalog::SettingsSource>>,
    /// The node's sessions, for `pg_stat_activity`.
    activity: parking_lot::Mutex<Option<crate::pg_catalog::ActivitySource>>,
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
        user: String,
    ) -> Self {
        GrapeCatalog {
            user,
            data,
            scratch: Arc::new(MemorySchemaProvider::new()),
            overlay: Default::default(),
            snapshot: Default::default(),
            indexes,
            database,
            view: Default::default(),
            locks: catalog.locks.session(),
            advisory: Arc::new(catalog.advisory.session()),
            catalog,
            settings: Default::default(),
            activity: Default::default(),
        }
    }

    /// Where `pg_stat_activity` reads the node's sessions.
    pub fn set_activity_source(&self, source: crate::pg_catalog::ActivitySource) {
        *self.activity.lock() = Some(source);
    }

    /// Where `pg_settings` reads the session's settings.
    pub fn set_settings_source(&self, source: crate::pg_catalog::SettingsSource) {
        *self.settings.lock() = Some(source);
    }

    /// The catalog this session sees: its block's uncommitted DDL, or the
    /// committed catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        match &*self.view.lock() {
            Some(v) => v.clone(),
            None => self.catalog.current(),
        }
    }

    /// Show the session `view` instead of the committed catalog (None: stop).
    pub fn set_view(&self, view: Option<Arc<Catalog>>) {
        *self.view.lock() = view;
    }

    /// The advisory locks this session holds.
    pub fn advisory(&self) -> &Arc<crate::catalog::advisory::SessionAdvisory> {
        &self.advisory
    }

    pub fn locks(&self) -> &Arc<SessionLocks> {
        &self.locks
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
    /// The snapshot the session's scans read (`None`: the newest data).
    pub fn snapshot(&self) -> Option<Arc<SnapshotTs>> {
        self.snapshot.lock().clone()
    }

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
        self.catalog().schemas.iter().cloned().collect()
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
                user: self.user.clone(),
                catalog: self.catalog(),
                settings: self
                    .settings
                    .lock()
                    .as_ref()
                    .map_or_else(Vec::new, |f| (f.0)()),
                activity: self.activity.lock().clone(),
            }));
        }
        if name == "information_schema" {
            return Some(Arc::new(
                crate::pg_catalog::information_schema::InformationSchema {
                    catalog: self.catalog(),
                    database: self.database.clone(),
                    user: self.user.clone(),
                },
            ));
        }
        let catalog = self.catalog();
        if !catalog.schemas.contains(name) {
            return None;
        }
        Some(Arc::new(GrapeSchema {
            name: name.to_string(),
            catalog,
            store: self.catalog.clone(),
            view: self.view.lock().is_some(),
            locks: self.locks.clone(),
            data: self.data(),
            overlay: self.overlay(),
        }))
    }
}

impl GrapeSchema {
    /// A sequence read as a relation (`SELECT last_value, is_called FROM
    /// seq`, as pg_dump reads each sequence): its one row.
    async fn sequence(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        use datafusion::arrow::array::{BooleanArray, Int64Array};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let Some(seq) = self.catalog.sequence(&self.name, name) else {
            return Ok(None);
        };
        let (last, log_cnt, called) = self
            .store
            .sequence_state(seq)
            .await
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("last_value", DataType::Int64, false),
            Field::new("log_cnt", DataType::Int64, false),
            Field::new("is_called", DataType::Boolean, false),
        ]));
        let batch = datafusion::arrow::array::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![last])),
                Arc::new(Int64Array::from(vec![log_cnt])),
                Arc::new(BooleanArray::from(vec![called])),
            ],
        )?;
        Ok(Some(Arc::new(datafusion::datasource::MemTable::try_new(
            schema,
            vec![vec![batch]],
        )?)))
    }
}

#[derive(Debug)]
pub struct GrapeSchema {
    name: String,
    /// The catalog the session saw when planning began.
    catalog: Arc<Catalog>,
    store: Arc<CatalogStore>,
    /// The session sees its block's own catalog (not the store's).
    view: bool,
    locks: Arc<SessionLocks>,
    data: Arc<dyn ShardAccess>,
    overlay: Option<Overlay>,
}

#[async_trait]
impl SchemaProvider for GrapeSchema {
    fn table_names(&self) -> Vec<String> {
        self.catalog
            .tables_in(&self.name)
            .map(|t| t.name.clone())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        // Lock the table (a DROP or TRUNCATE waits for this statement), then
        // read its definition again: one committed while we waited wins.
        let mut cat = self.catalog.clone();
        let table = loop {
            let Some(t) = cat.table(&self.name, name) else {
                return self.sequence(name).await;
            };
            self.locks
                .acquire(t.id, LockMode::AccessShare)
                .await
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            if self.view {
                break t.clone();
            }
            let now = self.store.current();
            match now.table(&self.name, name) {
                Some(n) if n.id == t.id => break n.clone(),
                _ => cat = now,
            }
        };
        Ok(Some(Arc::new(
            GrapeTable::new(
                Arc::new(table),
                self.data.clone(),
                false,
                self.overlay.clone(),
            )
            .with_vector_search(),
        ) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        if self.catalog.sequence(&self.name, name).is_some() {
            return true;
        }
        self.catalog.table(&self.name, name).is_some()
    }
}
