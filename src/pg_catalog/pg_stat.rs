//! Activity statistics and sizes of relations: `pg_stat_user_tables`,
//! `pg_stat_all_tables`, `pg_stat_user_indexes`, `pg_stat_all_indexes`,
//! `pg_stat_get_numscans`, `pg_stat_get_live_tuples`, and
//! `pg_relation_size`, `pg_table_size`, `pg_indexes_size`,
//! `pg_total_relation_size`, `pg_database_size`. BI tools read them on
//! every sync (Metabase's row-count estimate is `n_live_tup`; DBeaver lists
//! index sizes and scans).
//!
//! The counts are the node's ([`crate::dataplane::Activity`]): since it
//! started, of its own sessions. Sizes are what RocksDB's files hold for a
//! relation's keys, every version counted; what is still in memory is
//! not. A primary key's index is the table's rows: its size is counted
//! with the table, and its own is 0. What GrapeDB does not track
//! (`seq_tup_read`, `n_dead_tup`, ...) is NULL.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, Volatility};
use datafusion::prelude::SessionContext;

use super::common::{SessionView, i64s, oid, strs, table};
use super::oids;
use crate::catalog::{Catalog, Index, Table};
use crate::dataplane::{Activity, ShardAccess};
use crate::encoding::key::table_prefix;

fn int8(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn when(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        true,
    )
}

fn opt(v: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(Int64Array::from_iter(v))
}

fn never(n: usize) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(vec![None; n]).with_timezone("+00:00"))
}

/// Lookups through any of `t`'s indexes (its primary key's counted on
/// the table's id), NULL when it has none, as PostgreSQL shows it.
fn index_scans(a: &Activity, t: &Table) -> Option<i64> {
    (!t.indexes.is_empty()).then(|| {
        t.indexes
            .iter()
            .map(|i| a.of(i.id).index_scans as i64)
            .sum()
    })
}

/// `pg_stat_user_tables` (and `pg_stat_all_tables`: GrapeDB's own
/// catalogs are not tables, so the two agree).
pub fn tables(cat: &Catalog, data: &dyn ShardAccess) -> DfResult<Arc<dyn TableProvider>> {
    let a = data.activity();
    let ts: Vec<&Table> = cat.tables.values().collect();
    let n = ts.len();
    let counts: Vec<_> = ts.iter().map(|t| a.of(t.id)).collect();
    let mut fields = vec![
        oid("relid"),
        Field::new("schemaname", DataType::Utf8, false),
        Field::new("relname", DataType::Utf8, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        i64s(ts.iter().map(|t| oids::relation(t.id))),
        strs(ts.iter().map(|t| t.schema.clone())),
        strs(ts.iter().map(|t| t.name.clone())),
    ];
    let count = |f: &dyn Fn(&crate::dataplane::activity::Counts) -> u64| {
        opt(counts.iter().map(|c| Some(f(c) as i64)))
    };
    for (name, col) in [
        ("seq_scan", count(&|c| c.seq_scans)),
        ("seq_tup_read", opt(vec![None; n])),
        ("idx_scan", opt(ts.iter().map(|t| index_scans(&a, t)))),
        ("idx_tup_fetch", opt(vec![None; n])),
        ("n_tup_ins", count(&|c| c.inserted)),
        ("n_tup_upd", count(&|c| c.updated)),
        ("n_tup_del", count(&|c| c.deleted)),
        // No heap-only tuples here: every update writes the row anew.
        ("n_tup_hot_upd", count(&|_| 0)),
        ("n_live_tup", count(&|c| c.live())),
        ("n_dead_tup", opt(vec![None; n])),
        ("n_mod_since_analyze", opt(vec![None; n])),
        ("n_ins_since_vacuum", opt(vec![None; n])),
    ] {
        fields.push(int8(name));
        columns.push(col);
    }
    for name in [
        "last_vacuum",
        "last_autovacuum",
        "last_analyze",
        "last_autoanalyze",
    ] {
        fields.push(when(name));
        columns.push(never(n));
    }
    // Never vacuumed or analyzed: GrapeDB has neither.
    for name in [
        "vacuum_count",
        "autovacuum_count",
        "analyze_count",
        "autoanalyze_count",
    ] {
        fields.push(int8(name));
        columns.push(count(&|_| 0));
    }
    table(Arc::new(Schema::new(fields)), columns)
}

/// `pg_stat_user_indexes` (and `pg_stat_all_indexes`): B-tree and vector
/// indexes with their lookups.
pub fn indexes(cat: &Catalog, data: &dyn ShardAccess) -> DfResult<Arc<dyn TableProvider>> {
    let a = data.activity();
    let all: Vec<(&Table, &Index)> = cat
        .tables
        .values()
        .flat_map(|t| t.indexes.iter().map(move |i| (t, i)))
        .collect();
    let n = all.len();
    let schema = Arc::new(Schema::new(vec![
        oid("relid"),
        oid("indexrelid"),
        Field::new("schemaname", DataType::Utf8, false),
        Field::new("relname", DataType::Utf8, false),
        Field::new("indexrelname", DataType::Utf8, false),
        int8("idx_scan"),
        int8("idx_tup_read"),
        int8("idx_tup_fetch"),
    ]));
    table(
        schema,
        vec![
            i64s(all.iter().map(|(t, _)| oids::relation(t.id))),
            i64s(all.iter().map(|(t, i)| oids::index(t, i))),
            strs(all.iter().map(|(t, _)| t.schema.clone())),
            strs(all.iter().map(|(t, _)| t.name.clone())),
            strs(all.iter().map(|(_, i)| i.name.clone())),
            opt(all.iter().map(|(_, i)| Some(a.of(i.id).index_scans as i64))),
            opt(vec![None; n]),
            opt(vec![None; n]),
        ],
    )
}

/// What the size functions measure of the relation `oid`.
enum Rel<'a> {
    Table(&'a Table),
    Index(&'a Table, &'a Index),
    /// A view or a sequence: no storage of its own here.
    Other,
}

fn find(cat: &Catalog, oid: i64) -> Option<Rel<'_>> {
    if cat.relations.keys().any(|id| oids::relation(*id) == oid) {
        return Some(Rel::Other);
    }
    cat.tables.values().find_map(|t| {
        if oids::relation(t.id) == oid {
            return Some(Rel::Table(t));
        }
        t.indexes
            .iter()
            .find(|i| oids::index(t, i) == oid)
            .map(|i| Rel::Index(t, i))
    })
}

fn index_size(data: &dyn ShardAccess, t: &Table, i: &Index) -> i64 {
    if i.id == t.id {
        0
    } else {
        data.approximate_size(&table_prefix(i.id)) as i64
    }
}

fn table_size(data: &dyn ShardAccess, t: &Table) -> i64 {
    data.approximate_size(&table_prefix(t.id)) as i64
}

fn indexes_size(data: &dyn ShardAccess, t: &Table) -> i64 {
    t.indexes.iter().map(|i| index_size(data, t, i)).sum()
}

/// The functions of this module, reading the catalog and shards the
/// session sees.
pub fn register(ctx: &SessionContext, view: &Arc<SessionView>) {
    type Measure = fn(&dyn ShardAccess, &Rel<'_>) -> Option<i64>;
    // The relation's own keys (no TOAST here: a table's size is its
    // relation's).
    let own: Measure = |d, r| {
        Some(match r {
            Rel::Table(t) => table_size(d, t),
            Rel::Index(t, i) => index_size(d, t, i),
            Rel::Other => 0,
        })
    };
    let sizes: [(&str, Measure); 4] = [
        ("pg_relation_size", own),
        ("pg_table_size", own),
        ("pg_indexes_size", |d, r| {
            Some(match r {
                Rel::Table(t) => indexes_size(d, t),
                Rel::Index(..) | Rel::Other => 0,
            })
        }),
        ("pg_total_relation_size", |d, r| {
            Some(match r {
                Rel::Table(t) => table_size(d, t) + indexes_size(d, t),
                Rel::Index(t, i) => index_size(d, t, i),
                Rel::Other => 0,
            })
        }),
    ];
    let per_oid = |name: &str,
                   measure: Box<
        dyn Fn(&Catalog, &dyn ShardAccess, i64) -> Option<i64> + Send + Sync,
    >| {
        let v = view.clone();
        ScalarUDF::from(
            datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
                name,
                Signature::any(1, Volatility::Volatile),
                DataType::Int64,
                Arc::new(move |args: &[ColumnarValue]| {
                    let cat = (v.catalog)();
                    let oids = match args[0].data_type() {
                        // `pg_relation_size('items')`: the name is regclass
                        // input (42P01 when there is no such relation).
                        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                            let path = (v.search_path)();
                            super::functions::text_arg(args, 0)?
                                .into_iter()
                                .map(|t| {
                                    t.map(|t| super::functions::regclass_oid(&cat, &path, &t))
                                        .transpose()
                                })
                                .collect::<DfResult<Vec<_>>>()?
                        }
                        _ => super::functions::int_arg(args, 0)?,
                    };
                    let out: Int64Array = oids
                        .into_iter()
                        .map(|o| o.and_then(|o| measure(&cat, v.data.as_ref(), o)))
                        .collect();
                    Ok(ColumnarValue::Array(Arc::new(out)))
                }),
            ),
        )
    };
    // A relation that does not exist (any more) gives NULL, as in
    // PostgreSQL.
    for (name, measure) in sizes {
        ctx.register_udf(per_oid(
            name,
            Box::new(move |cat, data, o| find(cat, o).and_then(|r| measure(data, &r))),
        ));
    }
    ctx.register_udf(per_oid(
        "pg_stat_get_numscans",
        Box::new(|cat, data, o| {
            let a = data.activity();
            // 0 for an OID that is no relation, as PostgreSQL's.
            Some(match find(cat, o) {
                Some(Rel::Table(t)) => a.of(t.id).seq_scans as i64,
                Some(Rel::Index(_, i)) => a.of(i.id).index_scans as i64,
                Some(Rel::Other) | None => 0,
            })
        }),
    ));
    ctx.register_udf(per_oid(
        "pg_stat_get_live_tuples",
        Box::new(|cat, data, o| match find(cat, o) {
            Some(Rel::Table(t)) => Some(data.activity().of(t.id).live() as i64),
            _ => Some(0),
        }),
    ));
    // pg_database_size(oid | name): every relation of the one database.
    let v = view.clone();
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::from(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "pg_database_size",
            Signature::any(1, Volatility::Volatile),
            DataType::Int64,
            Arc::new(move |args: &[ColumnarValue]| {
                let cat = (v.catalog)();
                let data = v.data.as_ref();
                let total: i64 = cat
                    .tables
                    .values()
                    .map(|t| table_size(data, t) + indexes_size(data, t))
                    .sum();
                let n = super::functions::rows(args);
                let a = args[0].to_array(n)?;
                let mut out = Vec::with_capacity(n);
                for i in 0..n {
                    let known = match ScalarValue::try_from_array(&a, i)? {
                        ScalarValue::Utf8(Some(name))
                        | ScalarValue::Utf8View(Some(name))
                        | ScalarValue::LargeUtf8(Some(name)) => {
                            if name != v.database {
                                return Err(datafusion::error::DataFusionError::External(
                                    Box::new(crate::error::PgError::new(
                                        crate::error::codes::INVALID_CATALOG_NAME,
                                        format!("database \"{name}\" does not exist"),
                                    )),
                                ));
                            }
                            true
                        }
                        s if s.is_null() => false,
                        // An OID not of a database: NULL, as in PostgreSQL.
                        s => s
                            .cast_to(&DataType::Int64)
                            .is_ok_and(|o| o == ScalarValue::Int64(Some(oids::DATABASE))),
                    };
                    out.push(known.then_some(total));
                }
                let out = Int64Array::from(out);
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        ),
    ));
}
