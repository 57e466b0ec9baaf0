//! Per-connection session state: settings (SET/SHOW/RESET), the transaction
//! block, and the DataFusion context queries are planned in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::prelude::SessionContext;

use super::knn::KnnSettings;
use super::params::Unbound;
pub use super::settings::Isolation;
use super::settings::{SETTINGS, is_read_only, parse_duration_ms, setting, validate};
use crate::catalog::Catalog;
use crate::catalog::locks::SessionLocks;
use crate::dataplane::write::RowWrite;
use crate::dataplane::{Overlay, SnapshotTs};
use crate::error::{PgError, PgResult, codes};
use crate::exec::catalog_provider::GrapeCatalog;

/// State of the transaction block.
#[derive(Default)]
pub enum TxnState {
    #[default]
    Idle,
    /// Inside BEGIN ... COMMIT.
    Block(Box<Block>),
}

/// An open transaction block.
pub struct Block {
    /// Writes, buffered until COMMIT (each with the value it read).
    pub writes: BTreeMap<Vec<u8>, RowWrite>,
    pub isolation: Isolation,
    pub read_only: bool,
    /// REPEATABLE READ and SERIALIZABLE: the snapshot every statement of
    /// the block reads, taken by its first statement.
    pub snapshot: Option<Arc<SnapshotTs>>,
    /// The new values of `writes`, as the block's reads merge them (kept
    /// in step with `writes`).
    pub overlay: Overlay,
    /// Savepoints, oldest first.
    pub savepoints: Vec<Savepoint>,
    /// A statement failed: only ROLLBACK [TO SAVEPOINT] and COMMIT now.
    pub failed: bool,
    /// A statement other than transaction control ran (the isolation level
    /// can no longer change).
    pub started: bool,
    /// The transaction holding the block's row locks (FOR UPDATE), begun
    /// with the first; COMMIT writes the buffered writes into it.
    pub txn: Option<crate::dataplane::Txn>,
    /// The block's schema changes, committed with its writes.
    pub ddl: Option<BlockDdl>,
    /// Opened by a DDL statement outside a block, which commits it.
    pub implicit: bool,
    /// Checks of DEFERRED foreign keys, run at COMMIT.
    pub pending_fks: Vec<PendingFk>,
}

/// A DEFERRED foreign-key check waiting for COMMIT.
#[derive(Clone, Debug)]
pub enum PendingFk {
    /// A row of `table` references key `vals` through its constraint `fk`.
    References {
        table: crate::catalog::TableId,
        fk: String,
        vals: Vec<crate::types::Datum>,
    },
    /// Key `vals`, referenced through constraint `fk` of `table`, went.
    Referenced {
        table: crate::catalog::TableId,
        fk: String,
        vals: Vec<crate::types::Datum>,
    },
}

impl PendingFk {
    /// The checks of a table given a new id (ADD PRIMARY KEY, TRUNCATE)
    /// follow it, so COMMIT still runs them.
    pub fn renumber(
        pending: &mut [PendingFk],
        old: crate::catalog::TableId,
        new: crate::catalog::TableId,
    ) {
        for p in pending {
            let (PendingFk::References { table, .. } | PendingFk::Referenced { table, .. }) = p;
            if *table == old {
                *table = new;
            }
        }
    }
}

/// What ROLLBACK TO SAVEPOINT returns to.
pub struct Savepoint {
    pub name: String,
    pub writes: BTreeMap<Vec<u8>, RowWrite>,
    pub overlay: Overlay,
    pub ddl: Option<BlockDdl>,
    pub pending_fks: Vec<PendingFk>,
}

/// Schema changes of a transaction block: its own copy of the catalog,
/// committed at COMMIT together with the block's writes (one decision).
#[derive(Clone)]
pub struct BlockDdl {
    /// The committed catalog `mine` is based on.
    pub base: Arc<Catalog>,
    /// The catalog as the block changed it.
    pub mine: Catalog,
    /// Key prefixes to delete once committed (dropped and truncated data).
    pub purges: Vec<Vec<u8>>,
    /// Table and index ids reserved for this block: `[next, end)`.
    pub ids: (u32, u32),
}

impl BlockDdl {
    pub fn new(base: Arc<Catalog>) -> BlockDdl {
        BlockDdl {
            mine: (*base).clone(),
            base,
            purges: Vec::new(),
            ids: (0, 0),
        }
    }

    /// Move onto `current` (other sessions' DDL committed since): the
    /// block's changes carried over, or an error if they collide.
    pub fn rebase(&mut self, current: &Arc<Catalog>) -> PgResult<()> {
        if current.version != self.base.version {
            self.mine = Catalog::rebase(&self.base, &self.mine, current)?;
            self.base = current.clone();
        }
        Ok(())
    }
}

impl Block {
    pub fn new(isolation: Isolation, read_only: bool) -> Block {
        Block {
            writes: BTreeMap::new(),
            isolation,
            read_only,
            snapshot: None,
            overlay: Overlay::new(),
            savepoints: Vec::new(),
            failed: false,
            started: false,
            txn: None,
            ddl: None,
            implicit: false,
            pending_fks: Vec::new(),
        }
    }
}

/// A statement SQL PREPARE kept (`sql::prepare`), with its parameters'
/// declared types.
#[derive(Debug, Clone)]
pub struct SqlPrepared {
    pub statement: datafusion::sql::sqlparser::ast::Statement,
    pub types: Vec<datafusion::sql::sqlparser::ast::DataType>,
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
    /// A cancel or timeout that arrived while committing: passed to the
    /// write, which stops if it is still waiting for locks.
    pub interrupt: Arc<crate::dataplane::Interrupt>,
    /// Binary vector parameters of the statement about to run, left as
    /// placeholders for the direct KNN path (see `params::Param::Vector`);
    /// taken by `Engine::execute`.
    pub unbound: Vec<Unbound>,
    /// What the sequence functions see of the session (refreshed before
    /// each statement) and remember for it (`currval`, `lastval`).
    pub sequences: crate::sql::sequences::SharedSequenceState,
    /// What `current_setting` and `pg_backend_pid` answer (refreshed
    /// before each statement; the pid set at startup).
    pub facts: crate::sql::pg_functions::SharedFacts,
    /// Open cursors (DECLARE ... CURSOR).
    pub cursors: crate::sql::cursors::Cursors,
    /// Statements SQL PREPARE kept, by name.
    pub sql_prepared: std::collections::BTreeMap<String, SqlPrepared>,
    /// What the open transaction will NOTIFY and LISTEN to (the node's hub
    /// set by `context::new_session`).
    pub notify: Arc<crate::sql::notify::SessionNotify>,
    /// The transaction's id once `txid_current()` asked (the node's
    /// counter set by `context::new_session`).
    pub xid: crate::sql::xid::SessionXid,
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
            interrupt: Default::default(),
            unbound: Vec::new(),
            sequences: Default::default(),
            facts: Default::default(),
            cursors: Default::default(),
            sql_prepared: Default::default(),
            notify: crate::sql::notify::SessionNotify::new(crate::sql::notify::Hub::new()),
            xid: crate::sql::xid::SessionXid::new(crate::sql::xid::Xids::new()),
        };
        let _ = s.apply_side_effects("timezone");
        s
    }

    /// Show the sequence functions the catalog and search path of the
    /// statement about to run.
    pub fn refresh_sequences(&self) {
        let mut st = self.sequences.lock();
        st.catalog = self.catalog();
        st.search_path = self.search_path();
        drop(st);
        let settings = self
            .all()
            .map(|(k, _)| (k.clone(), self.get(k).unwrap_or_default()))
            .collect();
        self.facts.lock().settings = settings;
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
            "default_transaction_isolation" => {
                // Outside a block SHOW transaction_isolation tells the
                // level the next one gets.
                if !self.in_block() {
                    let level = self.default_isolation();
                    self.settings
                        .insert("transaction_isolation".into(), level.name().into());
                }
                Ok(())
            }
            "transaction_isolation" => {
                let level = self
                    .settings
                    .get(key)
                    .and_then(|v| Isolation::parse(v))
                    .unwrap_or(Isolation::ReadCommitted);
                self.set_block_isolation(level)
            }
            "timezone" => {
                let tz = self.settings.get("timezone").cloned().unwrap_or_default();
                let tz = super::settings::arrow_zone(&tz).unwrap_or_else(|| "+00:00".into());
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
            "hnsw.ef_search"
            | "hnsw.max_scan_tuples"
            | "ivfflat.probes"
            | "enable_indexscan"
            | "enable_seqscan" => {
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
                self.knn
                    .enable_seqscan
                    .store(get("enable_seqscan") != "off", Relaxed);
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
        parse_search_path(&raw, &self.user, &self.grape_catalog_schemas())
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

    /// The catalog as this session sees it (its block's DDL included).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.grape.catalog()
    }

    /// Show the block's catalog copy to this session's planning.
    pub fn show_block_catalog(&self) {
        let view = self
            .block()
            .and_then(|b| b.ddl.as_ref())
            .map(|d| Arc::new(d.mine.clone()));
        self.grape.set_view(view);
    }

    pub fn locks(&self) -> &Arc<SessionLocks> {
        self.grape.locks()
    }

    /// A statement (and whatever it streamed) is over: outside a block its
    /// table locks go.
    pub fn statement_done(&self) {
        if !self.in_block() {
            self.xid.end();
            self.locks().release_all();
            self.grape.advisory().end_transaction();
        }
    }

    pub fn in_block(&self) -> bool {
        !matches!(self.txn, TxnState::Idle)
    }

    /// Whether the open block reads one snapshot throughout (REPEATABLE
    /// READ, SERIALIZABLE): a row changed since fails with 40001 instead
    /// of being read again.
    pub fn repeatable(&self) -> bool {
        self.block()
            .is_some_and(|b| b.isolation >= Isolation::RepeatableRead)
    }

    /// The open block, if any.
    pub fn block(&self) -> Option<&Block> {
        match &self.txn {
            TxnState::Block(b) => Some(b),
            TxnState::Idle => None,
        }
    }

    pub fn block_mut(&mut self) -> Option<&mut Block> {
        match &mut self.txn {
            TxnState::Block(b) => Some(b),
            TxnState::Idle => None,
        }
    }

    /// A statement of the open block failed (25P02 until it ends or rolls
    /// back to a savepoint).
    pub fn fail_block(&mut self) {
        // A DDL statement's own block (its statement was interrupted
        // before it could end it) ends with it: nothing of it committed.
        if self.block().is_some_and(|b| b.implicit) {
            self.end_block();
            return;
        }
        if let TxnState::Block(b) = &mut self.txn {
            b.failed = true;
            self.grape.set_overlay(None);
        }
    }

    pub fn block_failed(&self) -> bool {
        self.block().is_some_and(|b| b.failed)
    }

    /// Make the block's own writes what its reads see.
    pub fn show_block_writes(&self) {
        self.grape
            .set_overlay(self.block().map(|b| b.overlay.clone()));
    }

    /// Open a block at the default isolation (or `isolation`).
    pub fn begin(&mut self, isolation: Option<Isolation>, read_only: bool) {
        let level = isolation.unwrap_or_else(|| self.default_isolation());
        self.txn = TxnState::Block(Box::new(Block::new(level, read_only)));
        self.settings
            .insert("transaction_isolation".into(), level.name().into());
    }

    /// Close the block (COMMIT or ROLLBACK). Its table locks are let go
    /// when the statement ends ([`Session::statement_done`]).
    pub fn end_block(&mut self) {
        // As a rollback for the cursors; COMMIT has first taken out its
        // WITH HOLD ones (txn::commit).
        self.cursors.end_transaction();
        self.notify.discard_uncommitted();
        self.xid.end();
        self.txn = TxnState::Idle;
        self.grape.set_overlay(None);
        self.grape.set_view(None);
        let level = self.default_isolation();
        self.settings
            .insert("transaction_isolation".into(), level.name().into());
    }

    /// SET TRANSACTION ISOLATION LEVEL: only before the block's first
    /// query (outside a block it lasts until the next BEGIN, as the
    /// implicit transaction of the SET itself ends).
    pub fn set_block_isolation(&mut self, level: Isolation) -> PgResult<()> {
        match &mut self.txn {
            TxnState::Block(b) if b.started && b.isolation != level => Err(PgError::new(
                codes::ACTIVE_SQL_TRANSACTION,
                "SET TRANSACTION ISOLATION LEVEL must be called before any query",
            )),
            TxnState::Block(b) => {
                b.isolation = level;
                Ok(())
            }
            TxnState::Idle => Ok(()),
        }
    }

    pub fn default_isolation(&self) -> Isolation {
        self.settings
            .get("default_transaction_isolation")
            .and_then(|v| Isolation::parse(v))
            .unwrap_or(Isolation::ReadCommitted)
    }
}

/// The schemas of a `search_path` setting that exist (`$user` is `user`).
pub fn parse_search_path(raw: &str, user: &str, existing: &[String]) -> Vec<String> {
    raw.split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .map(|s| if s == "$user" { user.to_string() } else { s })
        .filter(|s| existing.contains(s))
        .collect()
}
