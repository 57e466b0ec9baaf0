//! The catalogs of what is not a relation: `pg_extension` (plpgsql and
//! pgvector, which is built in), `pg_description` (COMMENT ON),
//! `pg_database`, `pg_roles`, `pg_user` and `pg_authid`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{char1, i64s, oid, strs, table};
use super::oids;
use crate::catalog::Catalog;

/// pgvector's version, as `\dx` shows it.
pub const VECTOR_VERSION: &str = "0.8.6";

/// `(oid, name, owner, namespace, version, description)` of each extension.
fn extensions() -> [(i64, &'static str, i64, &'static str, &'static str); 2] {
    [
        (
            oids::PLPGSQL_EXTENSION,
            "plpgsql",
            oids::namespace("pg_catalog"),
            "1.0",
            "PL/pgSQL procedural language",
        ),
        (
            oids::VECTOR_EXTENSION,
            "vector",
            oids::namespace("public"),
            VECTOR_VERSION,
            "vector data type and ivfflat and hnsw access methods",
        ),
    ]
}

/// `pg_extension`.
pub fn pg_extension() -> DfResult<Arc<dyn TableProvider>> {
    let ext = extensions();
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("extname", DataType::Utf8, false),
        oid("extowner"),
        oid("extnamespace"),
        Field::new("extrelocatable", DataType::Boolean, false),
        Field::new("extversion", DataType::Utf8, false),
        Field::new("extconfig", DataType::Utf8, true),
        Field::new("extcondition", DataType::Utf8, true),
    ]));
    table(
        schema,
        vec![
            i64s(ext.iter().map(|e| e.0)),
            strs(ext.iter().map(|e| e.1.to_string())),
            i64s(ext.iter().map(|_| oids::OWNER)),
            i64s(ext.iter().map(|e| e.2)),
            Arc::new(BooleanArray::from(vec![false, true])),
            strs(ext.iter().map(|e| e.3.to_string())),
            Arc::new(StringArray::new_null(ext.len())),
            Arc::new(StringArray::new_null(ext.len())),
        ],
    )
}

/// `pg_description`: the extensions' own descriptions and every COMMENT
/// ON kept in the catalog (`objsubid` is the column's number for a
/// column comment, else 0).
pub fn pg_description(cat: &Catalog) -> DfResult<Arc<dyn TableProvider>> {
    let pg_class = 1259;
    let mut rows: Vec<(i64, i64, i32, String)> = extensions()
        .iter()
        .map(|e| (e.0, 3079, 0, e.4.to_string()))
        .collect();
    // PostgreSQL's own comment on `public`, until COMMENT ON replaces it.
    if !cat.comments.contains_key("schema:public") {
        rows.push((
            oids::namespace("public"),
            2615,
            0,
            "standard public schema".into(),
        ));
    }
    for (key, text) in &cat.comments {
        let mut parts = key.split(':');
        let kind = parts.next().unwrap_or("");
        let id = parts.next().and_then(|p| p.parse::<u32>().ok());
        let row = match (kind, id) {
            ("table" | "relation", Some(id)) => (oids::relation(id), pg_class, 0),
            // A primary key's index shares its table's id (`oids::index`).
            ("index", Some(id)) => {
                let oid = cat
                    .tables
                    .values()
                    .find_map(|t| {
                        t.indexes
                            .iter()
                            .find(|i| i.id == id)
                            .map(|i| oids::index(t, i))
                    })
                    .unwrap_or_else(|| oids::relation(id));
                (oid, pg_class, 0)
            }
            ("column", Some(id)) => {
                let col = parts.next().and_then(|p| p.parse::<u32>().ok());
                let num = cat.tables.get(&id).and_then(|t| {
                    t.columns
                        .iter()
                        .position(|c| Some(c.id) == col)
                        .map(|p| p as i32 + 1)
                });
                match num {
                    Some(n) => (oids::relation(id), pg_class, n),
                    None => continue,
                }
            }
            ("schema", _) => (oids::namespace(&key["schema:".len()..]), 2615, 0),
            _ => continue,
        };
        rows.push((row.0, row.1, row.2, text.clone()));
    }
    let schema = Arc::new(Schema::new(vec![
        oid("objoid"),
        oid("classoid"),
        Field::new("objsubid", DataType::Int32, false),
        Field::new("description", DataType::Utf8, false),
    ]));
    table(
        schema,
        vec![
            i64s(rows.iter().map(|r| r.0)),
            i64s(rows.iter().map(|r| r.1)),
            Arc::new(Int32Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            strs(rows.iter().map(|r| r.3.clone())),
        ],
    )
}

/// `pg_database`: the session's database (UTF8, C locale).
pub fn pg_database(database: &str) -> DfResult<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        Field::new("datname", DataType::Utf8, false),
        oid("datdba"),
        Field::new("encoding", DataType::Int32, false),
        char1("datlocprovider"),
        Field::new("datistemplate", DataType::Boolean, false),
        Field::new("datallowconn", DataType::Boolean, false),
        Field::new("datconnlimit", DataType::Int32, false),
        Field::new("datfrozenxid", DataType::Utf8, false),
        Field::new("datminmxid", DataType::Utf8, false),
        oid("dattablespace"),
        Field::new("datcollate", DataType::Utf8, false),
        Field::new("datctype", DataType::Utf8, false),
        Field::new("daticulocale", DataType::Utf8, true),
        Field::new("datcollversion", DataType::Utf8, true),
        Field::new(
            "datacl",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]));
    let one = |v: &str| strs([v.to_string()]);
    table(
        schema,
        vec![
            i64s([oids::DATABASE]),
            one(database),
            i64s([oids::OWNER]),
            Arc::new(Int32Array::from(vec![6])),
            one("c"),
            Arc::new(BooleanArray::from(vec![false])),
            Arc::new(BooleanArray::from(vec![true])),
            Arc::new(Int32Array::from(vec![-1])),
            // No xid wraparound to guard against: the first ids.
            one("716"),
            one("1"),
            // pg_default.
            i64s([1663]),
            one("C.UTF-8"),
            one("C.UTF-8"),
            Arc::new(StringArray::new_null(1)) as ArrayRef,
            Arc::new(StringArray::new_null(1)),
            Arc::new(datafusion::arrow::array::ListArray::new_null(
                Arc::new(Field::new("item", DataType::Utf8, true)),
                1,
            )),
        ],
    )
}

/// `pg_roles` (and `pg_authid`, `pg_user` with their own column names):
/// the one role, a superuser, named as the session's user.
pub fn pg_roles(user: &str, shape: &str) -> DfResult<Arc<dyn TableProvider>> {
    let b = |name: &str| Field::new(name, DataType::Boolean, false);
    let t = || Arc::new(BooleanArray::from(vec![true])) as ArrayRef;
    let null = || Arc::new(StringArray::new_null(1)) as ArrayRef;
    if shape == "pg_user" {
        let schema = Arc::new(Schema::new(vec![
            Field::new("usename", DataType::Utf8, false),
            oid("usesysid"),
            b("usecreatedb"),
            b("usesuper"),
            b("userepl"),
            b("usebypassrls"),
            Field::new("passwd", DataType::Utf8, true),
            Field::new("valuntil", DataType::Utf8, true),
            Field::new("useconfig", DataType::Utf8, true),
        ]));
        return table(
            schema,
            vec![
                strs([user.to_string()]),
                i64s([oids::OWNER]),
                t(),
                t(),
                t(),
                t(),
                strs(["********".to_string()]),
                null(),
                null(),
            ],
        );
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("rolname", DataType::Utf8, false),
        b("rolsuper"),
        b("rolinherit"),
        b("rolcreaterole"),
        b("rolcreatedb"),
        b("rolcanlogin"),
        b("rolreplication"),
        Field::new("rolconnlimit", DataType::Int32, false),
        Field::new("rolpassword", DataType::Utf8, true),
        Field::new("rolvaliduntil", DataType::Utf8, true),
        b("rolbypassrls"),
        Field::new("rolconfig", DataType::Utf8, true),
        oid("oid"),
    ]));
    // The session's user (a superuser), then PostgreSQL 15's predefined
    // roles: group roles nobody logs in as, which own nothing here but
    // `public` (pg_database_owner), as in PostgreSQL.
    let mut roles = vec![(user.to_string(), oids::OWNER, true)];
    roles.extend(
        PREDEFINED_ROLES
            .iter()
            .map(|(n, o)| (n.to_string(), *o, false)),
    );
    let n = roles.len();
    let flags = |f: &dyn Fn(bool) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(
            roles.iter().map(|r| f(r.2)).collect::<Vec<_>>(),
        ))
    };
    table(
        schema,
        vec![
            strs(roles.iter().map(|r| r.0.clone())),
            flags(&|me| me),
            flags(&|_| true),
            flags(&|me| me),
            flags(&|me| me),
            flags(&|me| me),
            flags(&|me| me),
            Arc::new(Int32Array::from(vec![-1; n])),
            strs(roles.iter().map(|_| "********".to_string())),
            Arc::new(StringArray::new_null(n)),
            flags(&|me| me),
            Arc::new(StringArray::new_null(n)),
            i64s(roles.iter().map(|r| r.1)),
        ],
    )
}

/// PostgreSQL 15's predefined roles and their OIDs.
pub(super) const PREDEFINED_ROLES: [(&str, i64); 12] = [
    ("pg_database_owner", oids::DATABASE_OWNER),
    ("pg_read_all_data", 6181),
    ("pg_write_all_data", 6182),
    ("pg_monitor", 3373),
    ("pg_read_all_settings", 3374),
    ("pg_read_all_stats", 3375),
    ("pg_stat_scan_tables", 3377),
    ("pg_read_server_files", 4569),
    ("pg_write_server_files", 4570),
    ("pg_execute_server_program", 4571),
    ("pg_signal_backend", 4200),
    ("pg_checkpoint", 4544),
];
