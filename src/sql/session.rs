//! Per-connection session state: settings (SET/SHOW/RESET), the transaction
//! block, and the DataFusion context queries are planned in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::prelude::SessionContext;

use super::knn::KnnSettings;
use super::params::Unbound;
use super::settings::{SETTINGS, is_read_only, offset_of, parse_duration_ms, setting, validate};
use crate::dataplane::write::RowWrite;
use crate::error::{PgError, PgResult, codes};
use crate::exec::catalog_provider::GrapeCatalog;

/// State of the transaction block.
#[derive(Default)]
pub enum TxnState {
    #[default]
    Idle,
    /// Inside BEGIN ... COMMIT: writes are buffered here until COMMIT.
    Block { writes: BTreeMap<Vec<u8>, RowWrite> },
    /// A statement failed inside the block; only ROLLBACK/COMMIT are accepted.
    Failed,
}

pub struct Session {
    pub ctx: SessionContext,
    pub grape: Arc<GrapeCatalog>,
    pub user: String,
    settings: BTreeMap<String, String>,
    pub txn: TxnState,
    /// Notices raised by the running statement, sent before its result.
    pub notices: Vec<crate::error::Notice>,
    /// KNN settings the planner's rule reads (`hnsw.ef_search`, ...).
    pub knn: Arc<KnnSettings>,
    /// Set when the running statement has begun a durable write: from then
    /// on cancel and statement_timeout wait for its outcome.
    pub committing: Arc<std::sync::atomic::AtomicBool>,
    /// Binary vector parameters of the statement about to run, left as
    /// placeholders for the direct KNN path (see `params::Param::Vector`);
    /// taken by `Engine::execute`.
    pub unbound: Vec<Unbound>,
}

impl Session {
    /// A session planning in `ctx` (built by [`super::context::new_session`]
    /// with the KNN rule reading `knn`), over the catalog `grape`.
    pub fn new(
        ctx: SessionContext,
        knn: Arc<KnnSettings>,
        grape: Arc<GrapeCatalog>,
        user: &str,
        startup: &BTreeMap<String, String>,
    ) -> Session {
        let mut settings: BTreeMap<String, String> = SETTINGS
            .iter()
            .map(|s| (s.name.clone(), s.default.clone()))
            .collect();
        for (k, v) in startup {
            let k = k.to_lowercase();
            if settings.contains_key(&k) && !is_read_only(&k) {
                settings.insert(k, v.clone());
            }
        }
        let mut s = Session {
            ctx,
            grape,
            user: user.to_string(),
            settings,
            txn: TxnState::Idle,
            notices: Vec::new(),
            knn,
            committing: Default::default(),
            unbound: Vec::new(),
        };
        let _ = s.apply_side_effects("timezone");
        s
    }

    pub fn get(&self, name: &str) -> PgResult<String> {
        let key = name.to_lowercase();
        self.settings.get(&key).cloned().ok_or_else(|| {
            PgError::new(
                codes::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            )
        })
    }

    pub fn all(&self) -> impl Iterator<Item = (&String, &String)> {
        self.settings.iter()
    }

    pub fn set(&mut self, name: &str, value: Option<String>) -> PgResult<()> {
        let key = name.to_lowercase();
        let default = setting(&key).map(|s| s.default.clone());
        let Some(default) = default else {
            return Err(PgError::new(
                codes::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{name}\""),
            ));
        };
        if is_read_only(&key) {
            return Err(PgError::new(
                codes::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{key}\" cannot be changed"),
            ));
        }
        let value = value.unwrap_or(default);
        let value = validate(&key, value)?;
        let old = self.settings.insert(key.clone(), value);
        if let Err(e) = self.apply_side_effects(&key) {
            if let Some(old) = old {
                self.settings.insert(key, old);
            }
            return Err(e);
        }
        Ok(())
    }

    fn apply_side_effects(&mut self, key: &str) -> PgResult<()> {
        match key {
            "timezone" => {
                let tz = self.settings.get("timezone").cloned().unwrap_or_default();
                let tz = offset_of(&tz).unwrap_or_else(|| "+00:00".into());
                let state = self.ctx.state_ref();
                let mut state = state.write();
                state.config_mut().options_mut().execution.time_zone = Some(tz);
                Ok(())
            }
            "search_path" => {
                let first = self
                    .search_path()
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| "public".into());
                let state = self.ctx.state_ref();
                let mut state = state.write();
                state.config_mut().options_mut().catalog.default_schema = first;
                Ok(())
            }
            "hnsw.ef_search" | "hnsw.max_scan_tuples" | "ivfflat.probes" | "enable_indexscan" => {
                use std::sync::atomic::Ordering::Relaxed;
                let get = |k: &str| self.settings.get(k).cloned().unwrap_or_default();
                self.knn
                    .ef_search
                    .store(get("hnsw.ef_search").parse().unwrap_or(40), Relaxed);
                self.knn
                    .probes
                    .store(get("ivfflat.probes").parse().unwrap_or(1), Relaxed);
                self.knn.max_scan_tuples.store(
                    get("hnsw.max_scan_tuples").parse().unwrap_or(20_000),
                    Relaxed,
                );
                self.knn
                    .enable_indexscan
                    .store(get("enable_indexscan") == "on", Relaxed);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Schemas of the search path that exist, in order.
    pub fn search_path(&self) -> Vec<String> {
        let raw = self
            .settings
            .get("search_path")
            .cloned()
            .unwrap_or_default();
        let cat = self.grape_catalog_schemas();
        raw.split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .map(|s| if s == "$user" { self.user.clone() } else { s })
            .filter(|s| cat.contains(s))
            .collect()
    }

    fn grape_catalog_schemas(&self) -> Vec<String> {
        use datafusion::catalog::CatalogProvider;
        self.grape.schema_names()
    }

    /// The schema new objects go to.
    pub fn creation_schema(&self) -> PgResult<String> {
        self.search_path().into_iter().next().ok_or_else(|| {
            PgError::new(
                codes::INVALID_SCHEMA_NAME,
                "no schema has been selected to create in",
            )
        })
    }

    pub fn statement_timeout(&self) -> Option<Duration> {
        let v = self.settings.get("statement_timeout")?;
        match parse_duration_ms(v) {
            Some(0) | None => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        }
    }

    pub fn in_block(&self) -> bool {
        !matches!(self.txn, TxnState::Idle)
    }
}
