//! `pg_opclass`: the operator classes of btree, hash, hnsw and ivfflat as
//! PostgreSQL 15 + pgvector 0.8.6 list them (recorded into
//! catalog/pg_opclass.tsv by scripts/record_pg_opclass.sh), for the types
//! GrapeDB has. `pg_index.indclass` names them; SQLAlchemy's index
//! reflection, pg_dump and DBeaver join them.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use super::common::{i64s, oid, strs, table};
use super::oids;

/// One operator class.
pub struct OpClass {
    pub oid: i64,
    pub method: &'static str,
    pub name: &'static str,
    pub family: i64,
    /// Its input type's OID in GrapeDB's pg_type.
    pub input: i64,
    pub default: bool,
    pub key: i64,
}

/// The recorded classes whose types GrapeDB has.
pub static OPCLASSES: LazyLock<Vec<OpClass>> = LazyLock::new(|| {
    include_str!("../../catalog/pg_opclass.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&'static str> = l.split('\t').collect();
            let [oid, method, name, family, input, default, key] = f.as_slice() else {
                return None;
            };
            Some(OpClass {
                oid: oid.parse().ok()?,
                method,
                name,
                family: family.parse().ok()?,
                input: crate::types::regtype_oid(input)?,
                default: *default == "t",
                key: match *key {
                    "-" => 0,
                    k => crate::types::regtype_oid(k)?,
                },
            })
        })
        .collect()
});

/// The class an index column uses: `named` (a vector index's), else the
/// method's default class for the column's type; 0 when there is none.
pub fn class_for(method: &str, named: Option<&str>, type_oid: Option<i64>) -> i64 {
    // varchar has no class of its own: PostgreSQL indexes it with text's.
    let type_oid = match type_oid {
        Some(1043) => Some(25),
        t => t,
    };
    OPCLASSES
        .iter()
        .find(|c| {
            c.method == method
                && match named {
                    Some(n) => c.name == n,
                    None => c.default && Some(c.input) == type_oid,
                }
        })
        .map_or(0, |c| c.oid)
}

/// `pg_opclass`.
pub fn pg_opclass() -> DfResult<Arc<dyn TableProvider>> {
    let rows = &*OPCLASSES;
    let schema = Arc::new(Schema::new(vec![
        oid("oid"),
        oid("opcmethod"),
        Field::new("opcname", DataType::Utf8, false),
        oid("opcnamespace"),
        oid("opcowner"),
        oid("opcfamily"),
        oid("opcintype"),
        Field::new("opcdefault", DataType::Boolean, false),
        oid("opckeytype"),
    ]));
    table(
        schema,
        vec![
            i64s(rows.iter().map(|c| c.oid)),
            i64s(rows.iter().map(|c| oids::am_oid(c.method))),
            strs(rows.iter().map(|c| c.name.to_string())),
            i64s(rows.iter().map(|_| oids::namespace("pg_catalog"))),
            i64s(rows.iter().map(|_| oids::OWNER)),
            i64s(rows.iter().map(|c| c.family)),
            i64s(rows.iter().map(|c| c.input)),
            Arc::new(BooleanArray::from(
                rows.iter().map(|c| c.default).collect::<Vec<_>>(),
            )),
            i64s(rows.iter().map(|c| c.key)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_pgvector_classes_resolve() {
        assert_eq!(class_for("btree", None, Some(23)), 1978, "int4_ops");
        assert_eq!(class_for("btree", None, Some(25)), 3126, "text_ops");
        assert_eq!(
            class_for("btree", None, Some(1043)),
            3126,
            "varchar: text_ops"
        );
        assert_ne!(class_for("hnsw", Some("vector_l2_ops"), None), 0);
        assert_ne!(
            class_for("hnsw", Some("vector_l2_ops"), None),
            class_for("ivfflat", Some("vector_l2_ops"), None)
        );
        assert_eq!(class_for("btree", None, None), 0);
    }
}
