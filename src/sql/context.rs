//! The DataFusion context a session plans in: GrapeDB's expression and
//! type planners, the KNN optimizer rule, the vector functions and
//! aggregates, and the pg_catalog functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::execution::context::SessionConfig;
use datafusion::prelude::SessionContext;

use super::engine::Engine;
use super::knn::{KnnRule, KnnSettings};
use super::session::Session;
use crate::exec::catalog_provider::{CATALOG_NAME, GrapeCatalog};
use crate::pg_catalog::functions;

/// A new session of `user` with the settings the client sent at startup.
pub fn new_session(engine: &Engine, user: &str, startup: &BTreeMap<String, String>) -> Session {
    let database = startup
        .get("database")
        .cloned()
        .unwrap_or_else(|| user.to_string());
    let grape = Arc::new(GrapeCatalog::new(
        engine.catalog.clone(),
        engine.data.clone(),
        engine.vindexes.clone(),
        database.clone(),
        user.to_string(),
    ));
    let config = SessionConfig::new()
        .with_default_catalog_and_schema(CATALOG_NAME, "public")
        // information_schema is GrapeDB's (PostgreSQL's type names).
        .with_information_schema(false)
        .with_create_default_catalog_and_schema(false)
        .with_target_partitions(4)
        // Scans already have one partition per shard; spreading a point
        // lookup's single batch round-robin only costs time.
        .with_round_robin_repartition(false);
    // PostgreSQL keeps a subquery's ORDER BY (queries rely on it: an
    // aggregate over an ordered subquery, an index scan's rows counted);
    // DataFusion drops it unless a LIMIT needs it.
    let mut config = config;
    config
        .options_mut()
        .sql_parser
        .enable_subquery_sort_elimination = false;
    // `1.5` is numeric, as in PostgreSQL (`sql::rewrite::numbers`).
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    let knn: Arc<KnnSettings> = Default::default();
    let ctx = new_context(config, knn.clone());
    ctx.register_catalog(CATALOG_NAME, grape.clone());
    functions::register(&ctx, &database, user, "public");
    functions::register_regtype(&ctx);
    let mut session = Session::new(ctx, knn, grape.clone(), user, startup);
    session.notify = super::notify::SessionNotify::new(engine.notify.clone());
    register_notify(&session);
    session.xid = super::xid::SessionXid::new(engine.xids.clone());
    register_xid(&session);
    super::sequences::register(
        &session.ctx,
        engine.catalog.clone(),
        session.sequences.clone(),
    );
    super::pg_functions::register(&session.ctx, session.facts.clone());
    register_activity(engine, &session, &grape);
    // `pg_settings` reads what `current_setting` reads.
    let facts = session.facts.clone();
    grape.set_settings_source(crate::pg_catalog::SettingsSource(Arc::new(move || {
        let now = facts.lock().settings.clone();
        super::settings::SETTINGS
            .iter()
            .map(|s| crate::pg_catalog::SettingRow {
                name: super::settings::display_name(&s.name).to_string(),
                setting: now
                    .get(&s.name)
                    .cloned()
                    .unwrap_or_else(|| s.default.clone()),
                default: s.default.clone(),
                description: s.description.clone(),
                read_only: s.read_only,
            })
            .collect()
    })));
    let (g, facts, who) = (grape.clone(), session.facts.clone(), user.to_string());
    let schemas = grape.clone();
    let view = Arc::new(functions::SessionView {
        user: user.to_string(),
        database: database.clone(),
        data: grape.data(),
        catalog: Arc::new(move || g.catalog()),
        // The session's search_path setting, as `Session::search_path`
        // reads it.
        search_path: Arc::new(move || {
            use datafusion::catalog::CatalogProvider;
            let raw = facts
                .lock()
                .settings
                .get("search_path")
                .cloned()
                .unwrap_or_default();
            super::session::parse_search_path(&raw, &who, &schemas.schema_names())
        }),
    });
    functions::register_catalog_functions(&session.ctx, view.clone());
    crate::pg_catalog::pg_stat::register(&session.ctx, &view);
    session
}

/// A DataFusion context with GrapeDB's planners and functions.
fn new_context(config: SessionConfig, knn: Arc<KnnSettings>) -> SessionContext {
    use datafusion::execution::SessionStateDefaults;
    use datafusion::execution::session_state::SessionStateBuilder;
    let mut planners: Vec<Arc<dyn datafusion::logical_expr::planner::ExprPlanner>> = vec![
        Arc::new(super::vector::VectorPlanner::default()),
        Arc::new(super::json::JsonPlanner),
        Arc::new(super::pg_datetime::DatetimePlanner),
        Arc::new(super::array_compare::ArrayTextPlanner),
    ];
    planners.extend(SessionStateDefaults::default_expr_planners());
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_expr_planners(planners)
        .with_type_planner(Arc::new(super::vector::GrapeTypePlanner))
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.add_optimizer_rule(Arc::new(KnnRule { settings: knn }));
    ctx.add_analyzer_rule(Arc::new(super::arithmetic::PgArithmetic));
    ctx.add_analyzer_rule(Arc::new(super::text_casts::PgTextCasts));
    for f in super::vector::udf::all()
        .into_iter()
        .chain(super::vector::state::all())
        .chain(super::vector::bit_ops::all())
    {
        ctx.register_udf(f);
    }
    let options = ctx.state().config_options().clone();
    ctx.register_udf(super::timestamps::to_timestamp(&options));
    ctx.register_udf(super::timestamps::at_time_zone());
    for f in super::pg_datetime::functions() {
        ctx.register_udf(f);
    }
    super::pg_library::register(&ctx);
    for f in super::identifiers::functions() {
        ctx.register_udf(f);
    }
    for f in super::enums::functions() {
        ctx.register_udf(f);
    }
    for f in super::json::functions() {
        ctx.register_udf((*f).clone());
    }
    for f in super::json::srf_functions() {
        ctx.register_udf(f);
    }
    for f in super::vector::aggregate::all() {
        ctx.register_udaf(f);
    }
    ctx
}

/// `pg_stat_activity` (the node's sessions) and `pg_cancel_backend` /
/// `pg_terminate_backend` (true when the pid is one of them).
/// `pg_notify(channel, payload)`: queued with the session's transaction,
/// sent at its commit (sql/notify.rs).
fn register_notify(session: &Session) {
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let notify = session.notify.clone();
    session.ctx.register_udf(create_udf(
        "pg_notify",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let n = crate::pg_catalog::functions::rows(args);
            let channel = args[0].to_array(n)?;
            let payload = args[1].to_array(n)?;
            let (channel, payload) = (channel.as_string::<i32>(), payload.as_string::<i32>());
            for i in 0..n {
                // PostgreSQL: a NULL channel is an error, a NULL payload
                // an empty one.
                if channel.is_null(i) {
                    return Err(datafusion::error::DataFusionError::External(Box::new(
                        crate::error::PgError::new(
                            crate::error::codes::INVALID_PARAMETER_VALUE,
                            "channel name cannot be empty",
                        ),
                    )));
                }
                let p = if payload.is_null(i) {
                    ""
                } else {
                    payload.value(i)
                };
                notify
                    .notify(channel.value(i), p)
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
            }
            Ok(ColumnarValue::Array(Arc::new(StringArray::from(vec![
                Some(
                    ""
                );
                n
            ]))))
        }),
    ));
}

/// `txid_current()`, `pg_current_xact_id()`, `txid_current_if_assigned()`
/// (sql/xid.rs).
fn register_xid(session: &Session) {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    for (name, assign) in [
        ("txid_current", true),
        ("pg_current_xact_id", true),
        ("txid_current_if_assigned", false),
        ("pg_current_xact_id_if_assigned", false),
    ] {
        let xid = session.xid.clone();
        session.ctx.register_udf(create_udf(
            name,
            vec![],
            DataType::Int64,
            Volatility::Stable,
            Arc::new(move |_: &[ColumnarValue]| {
                let v = if assign {
                    Some(xid.current())
                } else {
                    xid.if_assigned()
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Int64(v)))
            }),
        ));
    }
}

fn register_activity(engine: &Engine, session: &Session, grape: &GrapeCatalog) {
    use datafusion::arrow::array::{Array, AsArray, BooleanArray};
    use datafusion::arrow::datatypes::{DataType, Int32Type};
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let backends = engine.backends.clone();
    grape.set_activity_source(crate::pg_catalog::ActivitySource(Arc::new(move || {
        let micros = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64)
        };
        backends
            .list()
            .iter()
            .map(|b| {
                let now = b.now.lock().clone();
                crate::pg_catalog::ActivityRow {
                    pid: b.pid,
                    database: b.database.clone(),
                    user: b.user.clone(),
                    application_name: b.application_name.clone(),
                    client_addr: b.client_addr.map(|a| a.ip().to_string()),
                    client_port: b.client_addr.map(|a| i32::from(a.port())),
                    backend_start: micros(b.backend_start),
                    xact_start: now.xact_start.map(micros),
                    query_start: now.query_start.map(micros),
                    state_change: micros(now.state_change),
                    state: now.state.to_string(),
                    query: now.query,
                }
            })
            .collect()
    })));
    for (name, terminate) in [("pg_cancel_backend", false), ("pg_terminate_backend", true)] {
        let backends = engine.backends.clone();
        session.ctx.register_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                let n = crate::pg_catalog::functions::rows(args);
                let pids =
                    datafusion::arrow::compute::cast(&args[0].to_array(n)?, &DataType::Int32)?;
                let pids = pids.as_primitive::<Int32Type>();
                let out: BooleanArray = (0..pids.len())
                    .map(|i| {
                        (!pids.is_null(i)).then(|| {
                            if terminate {
                                backends.terminate(pids.value(i))
                            } else {
                                backends.cancel(pids.value(i))
                            }
                        })
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        ));
    }
}
