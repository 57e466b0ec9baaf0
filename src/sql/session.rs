//! Per-connection session state: settings (SET/SHOW/RESET), the transaction
//! block, and the DataFusion context queries are planned in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::context::SessionConfig;
use datafusion::prelude::SessionContext;

use crate::error::{PgError, PgResult, codes};
use crate::exec::catalog_provider::{CATALOG_NAME, GrapeCatalog};
use crate::exec::write::RowWrite;

pub const SERVER_VERSION: &str = concat!("15.0 (GrapeDB ", env!("CARGO_PKG_VERSION"), ")");

/// A setting a session knows (from `catalog/settings.tsv`).
pub struct Setting {
    pub name: String,
    pub default: String,
    pub read_only: bool,
    pub description: String,
}

/// Every setting a session knows, with its default. Anything else is
/// "unrecognized configuration parameter", as in PostgreSQL.
pub static SETTINGS: std::sync::LazyLock<Vec<Setting>> = std::sync::LazyLock::new(|| {
    include_str!("../../catalog/settings.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Setting {
                name: f[0].to_string(),
                default: f
                    .get(1)
                    .unwrap_or(&"")
                    .replace("$SERVER_VERSION", SERVER_VERSION),
                read_only: f.get(2) == Some(&"read-only"),
                description: f.get(3).unwrap_or(&"").to_string(),
            }
        })
        .collect()
});

fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

pub fn description(name: &str) -> &'static str {
    setting(name).map(|s| s.description.as_str()).unwrap_or("")
}

fn is_read_only(name: &str) -> bool {
    setting(name).is_some_and(|s| s.read_only)
}

/// Display names (SHOW ALL and ParameterStatus use PostgreSQL's spelling).
pub fn display_name(name: &str) -> &str {
    match name {
        "datestyle" => "DateStyle",
        "intervalstyle" => "IntervalStyle",
        "timezone" => "TimeZone",
        other => other,
    }
}

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
    /// COPY FROM STDIN in progress (owned by the frontend).
    pub copy_in: std::sync::Mutex<Option<super::copy::CopyState>>,
    /// KNN settings the planner's rule reads (`hnsw.ef_search`, ...).
    pub knn: Arc<super::knn::KnnSettings>,
    /// Binary vector parameters of the statement about to run, left as
    /// placeholders for the direct KNN path (see `params::Param::Vector`);
    /// taken by `Engine::execute`.
    pub unbound: Vec<super::params::Unbound>,
}

impl Session {
    pub fn new(
        grape: Arc<GrapeCatalog>,
        user: &str,
        startup: &BTreeMap<String, String>,
    ) -> Session {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG_NAME, "public")
            .with_information_schema(true)
            .with_create_default_catalog_and_schema(false)
            .with_target_partitions(4)
            // Scans already have one partition per shard; spreading a point
            // lookup's single batch round-robin only costs time.
            .with_round_robin_repartition(false);
        let knn: Arc<super::knn::KnnSettings> = Default::default();
        let ctx = new_context(config, knn.clone());
        ctx.register_catalog(CATALOG_NAME, grape.clone());
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
            copy_in: Default::default(),
            knn,
            unbound: Vec::new(),
        };
        let database = startup
            .get("database")
            .cloned()
            .unwrap_or_else(|| user.to_string());
        super::functions::register(&s.ctx, &database, user, "public");
        super::functions::register_regtype(&s.ctx);
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
        let value = self.validate(&key, value)?;
        let old = self.settings.insert(key.clone(), value);
        if let Err(e) = self.apply_side_effects(&key) {
            if let Some(old) = old {
                self.settings.insert(key, old);
            }
            return Err(e);
        }
        Ok(())
    }

    fn validate(&self, key: &str, value: String) -> PgResult<String> {
        match key {
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
                parse_duration_ms(&value)
                    .map(|_| value.clone())
                    .ok_or_else(|| {
                        PgError::new(
                            codes::INVALID_PARAMETER_VALUE,
                            format!("invalid value for parameter \"{key}\": \"{value}\""),
                        )
                    })
            }
            "extra_float_digits" => match value.trim().parse::<i32>() {
                Ok(v) if (-15..=3).contains(&v) => Ok(v.to_string()),
                Ok(v) => Err(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!(
                        "{v} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
                    ),
                )),
                Err(_) => Err(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"extra_float_digits\": \"{value}\""),
                )),
            },
            "client_encoding" => {
                let v = value.to_uppercase().replace('-', "");
                if v == "UTF8" || v == "UNICODE" {
                    Ok("UTF8".into())
                } else {
                    Err(PgError::new(
                        codes::FEATURE_NOT_SUPPORTED,
                        format!("conversion between {value} and UTF8 is not supported"),
                    ))
                }
            }
            "timezone" => {
                let v = value.trim().to_string();
                let ok = v.eq_ignore_ascii_case("utc")
                    || v.eq_ignore_ascii_case("gmt")
                    || v.eq_ignore_ascii_case("Etc/UTC")
                    || offset_of(&v).is_some();
                if ok {
                    Ok(v)
                } else {
                    Err(PgError::new(
                        codes::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"TimeZone\": \"{v}\""),
                    ))
                }
            }
            "hnsw.ef_search" => int_in_range(key, &value, 1, 1000),
            "hnsw.max_scan_tuples" => int_in_range(key, &value, 1, i32::MAX as i64),
            "hnsw.scan_mem_multiplier" => int_in_range(key, &value, 1, 1000),
            "ivfflat.probes" | "ivfflat.max_probes" => int_in_range(key, &value, 1, 32768),
            "max_parallel_maintenance_workers" => int_in_range(key, &value, 0, 1024),
            "hnsw.iterative_scan" => one_of(key, &value, &["off", "relaxed_order", "strict_order"]),
            "ivfflat.iterative_scan" => one_of(key, &value, &["off", "relaxed_order"]),
            "enable_indexscan" | "enable_seqscan" => match value.trim().to_lowercase().as_str() {
                "on" | "true" | "yes" | "1" | "t" => Ok("on".into()),
                "off" | "false" | "no" | "0" | "f" => Ok("off".into()),
                _ => Err(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!("parameter \"{key}\" requires a Boolean value"),
                )),
            },
            _ => Ok(value),
        }
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

/// "5s", "100ms", "1min", "250" (ms) → milliseconds.
/// A DataFusion context with GrapeDB's planners and functions.
fn new_context(config: SessionConfig, knn: Arc<super::knn::KnnSettings>) -> SessionContext {
    use datafusion::execution::SessionStateDefaults;
    use datafusion::execution::session_state::SessionStateBuilder;
    let mut planners: Vec<Arc<dyn datafusion::logical_expr::planner::ExprPlanner>> =
        vec![Arc::new(super::vector::VectorPlanner::default())];
    planners.extend(SessionStateDefaults::default_expr_planners());
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_expr_planners(planners)
        .with_type_planner(Arc::new(super::vector::GrapeTypePlanner))
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.add_optimizer_rule(Arc::new(super::knn::KnnRule { settings: knn }));
    for f in super::vector::udf::all() {
        ctx.register_udf(f);
    }
    for f in super::vector::aggregate::all() {
        ctx.register_udaf(f);
    }
    ctx
}

/// An integer setting within PostgreSQL's GUC bounds, with its error words.
fn int_in_range(key: &str, value: &str, min: i64, max: i64) -> PgResult<String> {
    match value.trim().parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v.to_string()),
        Ok(v) => Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            format!("{v} is outside the valid range for parameter \"{key}\" ({min} .. {max})"),
        )),
        Err(_) => Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{key}\": \"{value}\""),
        )),
    }
}

/// An enum setting, with PostgreSQL's HINT listing the values.
fn one_of(key: &str, value: &str, values: &[&str]) -> PgResult<String> {
    let v = value.trim().to_lowercase();
    if values.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{key}\": \"{value}\""),
        )
        .with_hint(format!("Available values: {}.", values.join(", "))))
    }
}

pub fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim().trim_matches('\'').to_lowercase();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "us" => 0.001,
        _ => return None,
    };
    Some((n * mult) as u64)
}

/// "+02:00", "-5", "UTC" → an Arrow time-zone offset string.
fn offset_of(tz: &str) -> Option<String> {
    let t = tz.trim();
    if t.eq_ignore_ascii_case("utc")
        || t.eq_ignore_ascii_case("gmt")
        || t.eq_ignore_ascii_case("etc/utc")
    {
        return Some("+00:00".into());
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => ('+', &t[1..]),
        b'-' => ('-', &t[1..]),
        b'0'..=b'9' => ('+', t),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (rest.parse::<u32>().ok()?, 0),
    };
    if h > 15 || m > 59 {
        return None;
    }
    Some(format!("{sign}{h:02}:{m:02}"))
}
