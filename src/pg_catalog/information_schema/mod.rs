//! `information_schema` as PostgreSQL 15 fills it, for the user's
//! objects: `schemata`, `tables`, `columns`, `views`, `sequences` and the constraint views (constraints.rs), with
//! PostgreSQL's type names (`integer`, `character varying`, `USER-DEFINED`
//! for vector and enum columns), not Arrow's. The session's catalog
//! answers (its block's DDL included).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::deparse;
use super::pg_attribute::default_text;
use crate::catalog::{Catalog, Relation};
use crate::types::SqlType;

mod constraints;
mod rows;

use rows::{Cell, Rows, int, none, t, yes_no};

const TABLES: [&str; 10] = [
    "schemata",
    "tables",
    "columns",
    "views",
    "sequences",
    "table_constraints",
    "key_column_usage",
    "referential_constraints",
    "constraint_column_usage",
    "check_constraints",
];

/// The `information_schema` schema of a session's catalog.
#[derive(Debug)]
pub struct InformationSchema {
    pub catalog: Arc<Catalog>,
    pub database: String,
    /// The session's user: the one role, owner of what it made.
    pub user: String,
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let (cat, db) = (&self.catalog, self.database.as_str());
        Ok(Some(match name {
            "schemata" => schemata(cat, db, &self.user)?,
            "tables" => tables(cat, db)?,
            "columns" => columns(cat, db)?,
            "views" => views(cat, db)?,
            "sequences" => sequences(cat, db)?,
            "table_constraints" => constraints::table_constraints(cat, db)?,
            "key_column_usage" => constraints::key_column_usage(cat, db)?,
            "referential_constraints" => constraints::referential_constraints(cat, db)?,
            "constraint_column_usage" => constraints::constraint_column_usage(cat, db)?,
            "check_constraints" => constraints::check_constraints(cat, db)?,
            _ => return Ok(None),
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}

fn schemata(cat: &Catalog, db: &str, user: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "catalog_name",
        "schema_name",
        "schema_owner",
        "default_character_set_catalog",
        "default_character_set_schema",
        "default_character_set_name",
        "sql_path",
    ]);
    let mut names: Vec<String> = vec!["information_schema".into(), "pg_catalog".into()];
    names.extend(cat.schemas.iter().cloned());
    names.sort();
    names.dedup();
    for n in names {
        let owner = if n == "public" {
            "pg_database_owner"
        } else {
            user
        };
        r.rows
            .push(vec![t(db), t(n), t(owner), none(), none(), none(), none()]);
    }
    r.build()
}

fn tables(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "table_catalog",
        "table_schema",
        "table_name",
        "table_type",
        "self_referencing_column_name",
        "reference_generation",
        "user_defined_type_catalog",
        "user_defined_type_schema",
        "user_defined_type_name",
        "is_insertable_into",
        "is_typed",
        "commit_action",
    ]);
    let row = |schema: &str, name: &str, kind: &str, insertable: bool| {
        vec![
            t(db),
            t(schema),
            t(name),
            t(kind),
            none(),
            none(),
            none(),
            none(),
            none(),
            yes_no(insertable),
            t("NO"),
            none(),
        ]
    };
    for tb in cat.tables.values() {
        r.rows.push(row(&tb.schema, &tb.name, "BASE TABLE", true));
    }
    for rel in cat.relations.values() {
        if let Relation::View(v) = rel {
            r.rows.push(row(&v.schema, &v.name, "VIEW", false));
        }
    }
    r.build()
}

/// PostgreSQL's `data_type` and `udt_name` of a column type.
fn type_names(ty: &SqlType) -> (String, String) {
    let (data, udt) = match ty {
        SqlType::Bool => ("boolean", "bool"),
        SqlType::Int2 => ("smallint", "int2"),
        SqlType::Int4 => ("integer", "int4"),
        SqlType::Int8 => ("bigint", "int8"),
        SqlType::Float4 => ("real", "float4"),
        SqlType::Float8 => ("double precision", "float8"),
        SqlType::Numeric { .. } => ("numeric", "numeric"),
        SqlType::Text => ("text", "text"),
        SqlType::Varchar(_) => ("character varying", "varchar"),
        SqlType::Char(_) => ("character", "bpchar"),
        SqlType::Bytea => ("bytea", "bytea"),
        SqlType::Date => ("date", "date"),
        SqlType::Time => ("time without time zone", "time"),
        SqlType::Timestamp => ("timestamp without time zone", "timestamp"),
        SqlType::TimestampTz => ("timestamp with time zone", "timestamptz"),
        SqlType::Interval => ("interval", "interval"),
        SqlType::Uuid => ("uuid", "uuid"),
        SqlType::Json => ("json", "json"),
        SqlType::Jsonb => ("jsonb", "jsonb"),
        SqlType::Bit(_) => ("bit", "bit"),
        SqlType::VarBit(_) => ("bit varying", "varbit"),
        SqlType::Vector(_) => ("USER-DEFINED", "vector"),
        SqlType::HalfVec(_) => ("USER-DEFINED", "halfvec"),
        SqlType::SparseVec(_) => ("USER-DEFINED", "sparsevec"),
        SqlType::Enum { name, .. } => return ("USER-DEFINED".into(), name.clone()),
        SqlType::Array(inner) => return ("ARRAY".into(), format!("_{}", type_names(inner).1)),
    };
    (data.to_string(), udt.to_string())
}

/// `numeric_precision`, `numeric_precision_radix`, `numeric_scale`.
fn numeric_facts(ty: &SqlType) -> (Option<i32>, Option<i32>, Option<i32>) {
    match ty {
        SqlType::Int2 => (Some(16), Some(2), Some(0)),
        SqlType::Int4 => (Some(32), Some(2), Some(0)),
        SqlType::Int8 => (Some(64), Some(2), Some(0)),
        SqlType::Float4 => (Some(24), Some(2), None),
        SqlType::Float8 => (Some(53), Some(2), None),
        SqlType::Numeric { precision, scale } => (
            precision.map(i32::from),
            Some(10),
            precision.map(|_| scale.unwrap_or(0) as i32),
        ),
        _ => (None, None, None),
    }
}

fn columns(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "table_catalog",
        "table_schema",
        "table_name",
        "column_name",
        "#ordinal_position",
        "column_default",
        "is_nullable",
        "data_type",
        "#character_maximum_length",
        "#character_octet_length",
        "#numeric_precision",
        "#numeric_precision_radix",
        "#numeric_scale",
        "#datetime_precision",
        "interval_type",
        "#interval_precision",
        "udt_catalog",
        "udt_schema",
        "udt_name",
        "dtd_identifier",
        "is_self_referencing",
        "is_identity",
        "identity_generation",
        "identity_start",
        "identity_increment",
        "identity_maximum",
        "identity_minimum",
        "identity_cycle",
        "is_generated",
        "generation_expression",
        "is_updatable",
    ]);
    // Tables' columns, then views' (as their queries typed them).
    let views: Vec<(&str, &str, Vec<crate::catalog::Column>)> = cat
        .relations
        .values()
        .filter_map(|r| match r {
            crate::catalog::Relation::View(v) => {
                Some((v.schema.as_str(), v.name.as_str(), v.column_defs()))
            }
            _ => None,
        })
        .collect();
    let owners = cat
        .tables
        .values()
        .map(|t| {
            (
                t.schema.as_str(),
                t.name.as_str(),
                t.columns.as_slice(),
                Some(t),
            )
        })
        .chain(views.iter().map(|(s, n, c)| (*s, *n, c.as_slice(), None)));
    for (schema, name, cols, tb) in owners {
        for (i, c) in cols.iter().enumerate() {
            let (data_type, udt) = type_names(&c.ty);
            let udt_schema = match &c.ty {
                SqlType::Vector(_) | SqlType::HalfVec(_) | SqlType::SparseVec(_) => {
                    "public".to_string()
                }
                SqlType::Enum { schema, .. } => schema.clone(),
                _ => "pg_catalog".to_string(),
            };
            let length = match &c.ty {
                SqlType::Varchar(n) | SqlType::Char(n) | SqlType::Bit(n) | SqlType::VarBit(n) => {
                    n.map(|n| n as i32)
                }
                _ => None,
            };
            let octets = match &c.ty {
                SqlType::Varchar(n) | SqlType::Char(n) => {
                    Some(n.map_or(1_073_741_824, |n| n as i32 * 4))
                }
                SqlType::Text => Some(1_073_741_824),
                _ => None,
            };
            let (precision, radix, scale) = numeric_facts(&c.ty);
            let datetime = match &c.ty {
                SqlType::Date => Some(0),
                SqlType::Time | SqlType::Timestamp | SqlType::TimestampTz | SqlType::Interval => {
                    Some(6)
                }
                _ => None,
            };
            let pk = tb.is_some_and(|tb| tb.primary_key.contains(&c.id));
            let identity = c.identity().is_some();
            // PostgreSQL: pg_get_expr(adbin, adrelid), not pretty.
            let plain = |e: &str| deparse::expr(e, cols, None, false);
            let default = tb
                .and_then(|tb| default_text(cat, tb, c))
                .filter(|_| c.generated.is_none());
            r.rows.push(vec![
                t(db),
                t(schema.to_string()),
                t(name.to_string()),
                t(c.name.clone()),
                int(Some(i as i32 + 1)),
                Cell::Text(default.as_deref().map(plain)),
                yes_no(!(c.not_null || pk)),
                t(data_type),
                int(length),
                int(octets),
                int(precision),
                int(radix),
                int(scale),
                int(datetime),
                none(),
                int(None),
                t(db),
                t(udt_schema),
                t(udt),
                t((i + 1).to_string()),
                t("NO"),
                yes_no(identity),
                if identity {
                    t(if c.identity_always {
                        "ALWAYS"
                    } else {
                        "BY DEFAULT"
                    })
                } else {
                    none()
                },
                none(),
                none(),
                none(),
                none(),
                if identity { t("NO") } else { none() },
                t(if c.generated.is_some() {
                    "ALWAYS"
                } else {
                    "NEVER"
                }),
                Cell::Text(
                    c.generated
                        .as_ref()
                        .and_then(|_| tb.and_then(|tb| default_text(cat, tb, c)))
                        .map(|g| plain(&g)),
                ),
                t("YES"),
            ]);
        }
    }
    r.build()
}

fn views(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "table_catalog",
        "table_schema",
        "table_name",
        "view_definition",
        "check_option",
        "is_updatable",
        "is_insertable_into",
        "is_trigger_updatable",
        "is_trigger_deletable",
        "is_trigger_insertable_into",
    ]);
    for rel in cat.relations.values() {
        if let Relation::View(v) = rel {
            r.rows.push(vec![
                t(db),
                t(v.schema.clone()),
                t(v.name.clone()),
                t(v.query.clone()),
                t("NONE"),
                t("NO"),
                t("NO"),
                t("NO"),
                t("NO"),
                t("NO"),
            ]);
        }
    }
    r.build()
}

fn sequences(cat: &Catalog, db: &str) -> DfResult<Arc<dyn TableProvider>> {
    let mut r = Rows::new(&[
        "sequence_catalog",
        "sequence_schema",
        "sequence_name",
        "data_type",
        "#numeric_precision",
        "#numeric_precision_radix",
        "#numeric_scale",
        "start_value",
        "minimum_value",
        "maximum_value",
        "increment",
        "cycle_option",
    ]);
    for rel in cat.relations.values() {
        if let Relation::Sequence(s) = rel {
            // An identity column's sequence is internal (PostgreSQL leaves
            // it out here).
            let identity = s.owned_by.is_some_and(|(t, c)| {
                cat.tables
                    .get(&t)
                    .and_then(|t| t.column_by_id(c))
                    .is_some_and(|c| c.identity().is_some())
            });
            if identity {
                continue;
            }
            let (precision, radix, scale) = numeric_facts(&s.data_type);
            r.rows.push(vec![
                t(db),
                t(s.schema.clone()),
                t(s.name.clone()),
                t(type_names(&s.data_type).0),
                int(precision),
                int(radix),
                int(scale),
                t(s.start.to_string()),
                t(s.min.to_string()),
                t(s.max.to_string()),
                t(s.increment.to_string()),
                yes_no(s.cycle),
            ]);
        }
    }
    r.build()
}
