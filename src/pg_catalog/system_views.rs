//! PostgreSQL's system views over the catalog: `pg_tables`, `pg_views`,
//! `pg_indexes`, `pg_sequences` (and the `pg_sequence` catalog under it),
//! with PostgreSQL 15's columns: what pgjdbc's metadata, ORMs and
//! people's own queries read.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{i64s, oid, strs, table};
use super::describe::index_definition;
use super::oids;
use crate::catalog::{Catalog, Relation, Sequence};

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn bool_field(name: &str) -> Field {
    Field::new(name, DataType::Boolean, false)
}

fn bools(v: impl IntoIterator<Item = bool>) -> ArrayRef {
    Arc::new(BooleanArray::from_iter(v.into_iter().map(Some)))
}

fn nulls(n: usize) -> ArrayRef {
    Arc::new(StringArray::new_null(n))
}

/// `pg_tables`.
pub fn pg_tables(cat: &Catalog, owner: &str) -> DfResult<Arc<dyn TableProvider>> {
    let ts: Vec<_> = cat.tables.values().collect();
    let schema = Arc::new(Schema::new(vec![
        text("schemaname"),
        text("tablename"),
        text("tableowner"),
        text("tablespace"),
        bool_field("hasindexes"),
        bool_field("hasrules"),
        bool_field("hastriggers"),
        bool_field("rowsecurity"),
    ]));
    table(
        schema,
        vec![
            strs(ts.iter().map(|t| t.schema.clone())),
            strs(ts.iter().map(|t| t.name.clone())),
            strs(ts.iter().map(|_| owner.to_string())),
            nulls(ts.len()),
            bools(ts.iter().map(|t| !t.indexes.is_empty())),
            bools(ts.iter().map(|_| false)),
            // Foreign keys are triggers on both tables in PostgreSQL.
            bools(ts.iter().map(|t| {
                !t.foreign_keys.is_empty()
                    || cat
                        .tables
                        .values()
                        .any(|o| o.foreign_keys.iter().any(|f| f.ref_table == t.id))
            })),
            bools(ts.iter().map(|_| false)),
        ],
    )
}

/// `pg_views`: the definition as stored (PostgreSQL prints its own
/// normalised text of the query).
pub fn pg_views(cat: &Catalog, owner: &str) -> DfResult<Arc<dyn TableProvider>> {
    let vs: Vec<_> = cat
        .relations
        .values()
        .filter_map(|r| match r {
            Relation::View(v) => Some(v),
            _ => None,
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        text("schemaname"),
        text("viewname"),
        text("viewowner"),
        text("definition"),
    ]));
    table(
        schema,
        vec![
            strs(vs.iter().map(|v| v.schema.clone())),
            strs(vs.iter().map(|v| v.name.clone())),
            strs(vs.iter().map(|_| owner.to_string())),
            strs(
                vs.iter()
                    .map(|v| format!(" {};", v.query.trim().trim_end_matches(';'))),
            ),
        ],
    )
}

/// `pg_indexes`.
pub fn pg_indexes(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let mut rows = Vec::new();
    for t in cat.tables.values() {
        for i in t.indexes.iter().filter(|i| !i.building) {
            rows.push((
                t.schema.clone(),
                t.name.clone(),
                i.name.clone(),
                index_definition(t, i, 0, true).unwrap_or_default(),
            ));
        }
    }
    let schema = Arc::new(Schema::new(vec![
        text("schemaname"),
        text("tablename"),
        text("indexname"),
        text("tablespace"),
        text("indexdef"),
    ]));
    table(
        schema,
        vec![
            strs(rows.iter().map(|r| r.0.clone())),
            strs(rows.iter().map(|r| r.1.clone())),
            strs(rows.iter().map(|r| r.2.clone())),
            nulls(rows.len()),
            strs(rows.iter().map(|r| r.3.clone())),
        ],
    )
}

fn sequences(cat: &Catalog) -> Vec<(u32, &Sequence)> {
    cat.relations
        .iter()
        .filter_map(|(id, r)| match r {
            Relation::Sequence(s) => Some((*id, s)),
            _ => None,
        })
        .collect()
}

/// `pg_sequences`. `last_value` is NULL: the counter lives in the meta
/// group, read by `nextval`/`currval`, not by catalog scans.
pub fn pg_sequences(cat: &Catalog, owner: &str) -> DfResult<Arc<dyn TableProvider>> {
    let ss = sequences(cat);
    let ints = |f: &dyn Fn(&Sequence) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(ss.iter().map(|(_, s)| f(s))))
    };
    let schema = Arc::new(Schema::new(vec![
        text("schemaname"),
        text("sequencename"),
        text("sequenceowner"),
        text("data_type"),
        Field::new("start_value", DataType::Int64, false),
        Field::new("min_value", DataType::Int64, false),
        Field::new("max_value", DataType::Int64, false),
        Field::new("increment_by", DataType::Int64, false),
        bool_field("cycle"),
        Field::new("cache_size", DataType::Int64, false),
        Field::new("last_value", DataType::Int64, true),
    ]));
    table(
        schema,
        vec![
            strs(ss.iter().map(|(_, s)| s.schema.clone())),
            strs(ss.iter().map(|(_, s)| s.name.clone())),
            strs(ss.iter().map(|_| owner.to_string())),
            strs(ss.iter().map(|(_, s)| s.data_type.pg_name())),
            ints(&|s| s.start),
            ints(&|s| s.min),
            ints(&|s| s.max),
            ints(&|s| s.increment),
            bools(ss.iter().map(|(_, s)| s.cycle)),
            ints(&|_| 1),
            Arc::new(Int64Array::new_null(ss.len())),
        ],
    )
}

/// `pg_sequence`: one row per sequence, by its relation's OID.
pub fn pg_sequence(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let ss = sequences(cat);
    let ints = |f: &dyn Fn(&Sequence) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(ss.iter().map(|(_, s)| f(s))))
    };
    let schema = Arc::new(Schema::new(vec![
        oid("seqrelid"),
        oid("seqtypid"),
        Field::new("seqstart", DataType::Int64, false),
        Field::new("seqincrement", DataType::Int64, false),
        Field::new("seqmax", DataType::Int64, false),
        Field::new("seqmin", DataType::Int64, false),
        Field::new("seqcache", DataType::Int64, false),
        bool_field("seqcycle"),
    ]));
    table(
        schema,
        vec![
            i64s(ss.iter().map(|(id, _)| oids::relation(*id))),
            i64s(ss.iter().map(|(_, s)| s.data_type.oid().unwrap_or(20))),
            ints(&|s| s.start),
            ints(&|s| s.increment),
            ints(&|s| s.max),
            ints(&|s| s.min),
            ints(&|_| 1),
            bools(ss.iter().map(|(_, s)| s.cycle)),
        ],
    )
}

/// `pg_settings`: the session's settings, with PostgreSQL's columns
/// (`context` user for those SET may change, internal for the others).
pub fn pg_settings(rows: &[super::common::SettingRow]) -> DfResult<Arc<dyn TableProvider>> {
    let vartype = |r: &super::common::SettingRow| {
        if matches!(r.default.as_str(), "on" | "off") {
            "bool"
        } else if !r.default.is_empty() && r.default.parse::<i64>().is_ok() {
            "integer"
        } else {
            "string"
        }
    };
    let schema = Arc::new(Schema::new(vec![
        text("name"),
        text("setting"),
        text("unit"),
        text("category"),
        text("short_desc"),
        text("extra_desc"),
        text("context"),
        text("vartype"),
        text("source"),
        text("min_val"),
        text("max_val"),
        Field::new(
            "enumvals",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        text("boot_val"),
        text("reset_val"),
        text("sourcefile"),
        Field::new("sourceline", DataType::Int32, true),
        bool_field("pending_restart"),
    ]));
    let n = rows.len();
    table(
        schema,
        vec![
            strs(rows.iter().map(|r| r.name.clone())),
            strs(rows.iter().map(|r| r.setting.clone())),
            nulls(n),
            strs(
                rows.iter()
                    .map(|_| "Client Connection Defaults".to_string()),
            ),
            strs(rows.iter().map(|r| r.description.clone())),
            nulls(n),
            strs(
                rows.iter()
                    .map(|r| if r.read_only { "internal" } else { "user" }.to_string()),
            ),
            strs(rows.iter().map(|r| vartype(r).to_string())),
            strs(rows.iter().map(|r| {
                if r.setting == r.default {
                    "default"
                } else {
                    "session"
                }
                .to_string()
            })),
            nulls(n),
            nulls(n),
            Arc::new(datafusion::arrow::array::ListArray::new_null(
                Arc::new(Field::new("item", DataType::Utf8, true)),
                n,
            )),
            strs(rows.iter().map(|r| r.default.clone())),
            strs(rows.iter().map(|r| r.default.clone())),
            nulls(n),
            Arc::new(datafusion::arrow::array::Int32Array::new_null(n)),
            bools(rows.iter().map(|_| false)),
        ],
    )
}

/// `pg_stat_activity`: the node's sessions (client backends).
pub fn pg_stat_activity(rows: &[super::common::ActivityRow]) -> DfResult<Arc<dyn TableProvider>> {
    use datafusion::arrow::array::{Int32Array, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::TimeUnit;
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let schema = Arc::new(Schema::new(vec![
        oid("datid"),
        text("datname"),
        Field::new("pid", DataType::Int32, false),
        Field::new("leader_pid", DataType::Int32, true),
        oid("usesysid"),
        text("usename"),
        text("application_name"),
        text("client_addr"),
        text("client_hostname"),
        Field::new("client_port", DataType::Int32, true),
        Field::new("backend_start", ts(), true),
        Field::new("xact_start", ts(), true),
        Field::new("query_start", ts(), true),
        Field::new("state_change", ts(), true),
        text("wait_event_type"),
        text("wait_event"),
        text("state"),
        text("backend_xid"),
        text("backend_xmin"),
        Field::new("query_id", DataType::Int64, true),
        text("query"),
        text("backend_type"),
    ]));
    let n = rows.len();
    let times = |f: &dyn Fn(&super::common::ActivityRow) -> Option<i64>| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(f).collect::<Vec<_>>())
                .with_timezone("+00:00"),
        )
    };
    table(
        schema,
        vec![
            i64s(rows.iter().map(|_| super::oids::DATABASE)),
            strs(rows.iter().map(|r| r.database.clone())),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.pid))),
            Arc::new(Int32Array::new_null(n)),
            i64s(rows.iter().map(|_| oids::OWNER)),
            strs(rows.iter().map(|r| r.user.clone())),
            strs(rows.iter().map(|r| r.application_name.clone())),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.client_addr.clone()),
            )),
            nulls(n),
            Arc::new(Int32Array::from(
                rows.iter().map(|r| r.client_port).collect::<Vec<_>>(),
            )),
            times(&|r| Some(r.backend_start)),
            times(&|r| r.xact_start),
            times(&|r| r.query_start),
            times(&|r| Some(r.state_change)),
            nulls(n),
            nulls(n),
            strs(rows.iter().map(|r| r.state.clone())),
            nulls(n),
            nulls(n),
            Arc::new(Int64Array::new_null(n)),
            strs(rows.iter().map(|r| r.query.clone())),
            strs(rows.iter().map(|_| "client backend".to_string())),
        ],
    )
}
