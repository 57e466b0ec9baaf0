//! The catalog as the first versions stored it (bincode, which cannot
//! read a struct that has grown a field): the shapes of the structs that
//! have grown since, to read such a catalog and convert it. Everything
//! not here is unchanged.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;

use super::{Check, ColumnId, ForeignKey, TableId};
use crate::types::SqlType;

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub struct Catalog {
    version: u64,
    next_table_id: TableId,
    schemas: BTreeSet<String>,
    tables: BTreeMap<TableId, Table>,
    relations: BTreeMap<u32, Relation>,
    comments: BTreeMap<String, String>,
}

/// Before a view's `types`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
enum Relation {
    Sequence(super::Sequence),
    View(View),
    Type(super::EnumType),
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct View {
    schema: String,
    name: String,
    query: String,
    columns: Vec<String>,
    depends_on: Vec<u32>,
}

impl From<Relation> for super::Relation {
    fn from(r: Relation) -> Self {
        match r {
            Relation::Sequence(s) => super::Relation::Sequence(s),
            Relation::Type(t) => super::Relation::Type(t),
            Relation::View(v) => super::Relation::View(super::View {
                schema: v.schema,
                name: v.name,
                query: v.query,
                columns: v.columns,
                depends_on: v.depends_on,
                types: Vec::new(),
            }),
        }
    }
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct Table {
    id: TableId,
    schema: String,
    name: String,
    columns: Vec<Column>,
    primary_key: Vec<ColumnId>,
    indexes: Vec<Index>,
    next_column_id: ColumnId,
    checks: Vec<Check>,
    foreign_keys: Vec<ForeignKey>,
}

/// Before `identity_by_default`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct Column {
    id: ColumnId,
    name: String,
    ty: SqlType,
    not_null: bool,
    default: Option<String>,
    sequence: Option<String>,
    identity_always: bool,
    generated: Option<String>,
}

impl From<Column> for super::Column {
    fn from(c: Column) -> Self {
        super::Column {
            id: c.id,
            name: c.name,
            ty: c.ty,
            not_null: c.not_null,
            default: c.default,
            // A BY DEFAULT identity column was stored as a serial.
            sequence: c.sequence,
            identity_always: c.identity_always,
            generated: c.generated,
            identity_by_default: false,
        }
    }
}

/// Before `options`; also the shape vector-index checkpoints keep
/// (`vindex/checkpoint.rs`: the options do not change a graph).
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct VectorIndex {
    method: String,
    opclass: String,
    metric: crate::vector::distance::Metric,
    kind: crate::vector::Kind,
    column: ColumnId,
    expr: Option<String>,
    dims: u32,
    m: usize,
    ef_construction: usize,
    quantization: Option<String>,
    rerank: usize,
    lists: usize,
}

impl From<VectorIndex> for super::VectorIndex {
    fn from(v: VectorIndex) -> Self {
        super::VectorIndex {
            method: v.method,
            opclass: v.opclass,
            metric: v.metric,
            kind: v.kind,
            column: v.column,
            expr: v.expr,
            dims: v.dims,
            m: v.m,
            ef_construction: v.ef_construction,
            quantization: v.quantization,
            rerank: v.rerank,
            lists: v.lists,
            options: Vec::new(),
        }
    }
}

impl From<&super::VectorIndex> for VectorIndex {
    fn from(v: &super::VectorIndex) -> Self {
        VectorIndex {
            method: v.method.clone(),
            opclass: v.opclass.clone(),
            metric: v.metric,
            kind: v.kind,
            column: v.column,
            expr: v.expr.clone(),
            dims: v.dims,
            m: v.m,
            ef_construction: v.ef_construction,
            quantization: v.quantization.clone(),
            rerank: v.rerank,
            lists: v.lists,
        }
    }
}

/// Before `constraint`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct Index {
    id: u32,
    name: String,
    columns: Vec<ColumnId>,
    unique: bool,
    primary: bool,
    vector: Option<VectorIndex>,
    building: bool,
}

impl From<Catalog> for super::Catalog {
    fn from(c: Catalog) -> Self {
        super::Catalog {
            version: c.version,
            next_table_id: c.next_table_id,
            schemas: c.schemas,
            tables: c.tables.into_iter().map(|(id, t)| (id, t.into())).collect(),
            relations: c
                .relations
                .into_iter()
                .map(|(id, r)| (id, r.into()))
                .collect(),
            comments: c.comments,
        }
    }
}

impl From<Table> for super::Table {
    fn from(t: Table) -> Self {
        // A unique index named as CREATE TABLE names a UNIQUE
        // constraint's (`..._key`) was one: the old catalog did not say
        // (CREATE UNIQUE INDEX names its own, `..._idx` by default).
        let indexes = t
            .indexes
            .iter()
            .map(|i| super::Index {
                id: i.id,
                name: i.name.clone(),
                columns: i.columns.clone(),
                unique: i.unique,
                primary: i.primary,
                vector: i.vector.clone().map(Into::into),
                building: i.building,
                constraint: i.primary
                    || (i.unique && i.vector.is_none() && i.name.ends_with("_key")),
            })
            .collect();
        super::Table {
            id: t.id,
            schema: t.schema,
            name: t.name,
            columns: t.columns.into_iter().map(Into::into).collect(),
            primary_key: t.primary_key,
            indexes,
            next_column_id: t.next_column_id,
            checks: t.checks,
            foreign_keys: t.foreign_keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_catalogs_read_with_their_unique_constraints() {
        let col = |id: u32, name: &str| Column {
            id,
            name: name.into(),
            ty: crate::types::SqlType::Int4,
            not_null: false,
            default: None,
            sequence: None,
            identity_always: false,
            generated: None,
        };
        let index = |id: u32, name: &str, unique: bool, primary: bool| Index {
            id,
            name: name.into(),
            columns: vec![if primary { 1 } else { 2 }],
            unique,
            primary,
            vector: None,
            building: false,
        };
        let t = Table {
            id: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: vec![col(1, "id"), col(2, "a")],
            primary_key: vec![1],
            indexes: vec![
                index(1, "t_pkey", true, true),
                index(2, "t_a_key", true, false),
                index(3, "t_a_idx", true, false),
                index(4, "t_a_plain", false, false),
            ],
            next_column_id: 3,
            checks: vec![],
            foreign_keys: vec![],
        };
        let old = Catalog {
            version: 7,
            next_table_id: 5,
            schemas: ["public".to_string()].into(),
            tables: [(1, t)].into(),
            relations: BTreeMap::new(),
            comments: BTreeMap::new(),
        };
        let bytes = bincode::serialize(&old).unwrap();
        let cat: super::super::Catalog = bincode::deserialize::<Catalog>(&bytes).unwrap().into();
        let flags: Vec<(String, bool)> = cat.tables[&1]
            .indexes
            .iter()
            .map(|i| (i.name.clone(), i.constraint))
            .collect();
        assert_eq!(
            flags,
            [
                ("t_pkey".to_string(), true),
                ("t_a_key".to_string(), true),
                ("t_a_idx".to_string(), false),
                ("t_a_plain".to_string(), false)
            ]
        );
        assert_eq!(cat.version, 7);
    }
}
