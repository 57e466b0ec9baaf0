//! The catalog: schemas, tables, columns and indexes (their SQL types are
//! [`crate::types::SqlType`]).
//!
//! The whole catalog is one versioned value in the meta Raft group; every DDL
//! statement is a compare-and-set of it (see [`store`]), which serialises DDL.

pub mod advisory;
mod legacy;
pub mod locks;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::types::SqlType;
pub use store::CatalogStore;

pub type TableId = u32;
pub type ColumnId = u32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Column {
    pub id: ColumnId,
    pub name: String,
    pub ty: SqlType,
    pub not_null: bool,
    /// Default expression as SQL text (`now()`, `0`, ...).
    pub default: Option<String>,
    /// Sequence that fills the column when no value is given (serial, identity).
    pub sequence: Option<String>,
    /// GENERATED ALWAYS AS IDENTITY: explicit values are rejected.
    pub identity_always: bool,
    /// GENERATED ALWAYS AS (expr) STORED: the expression (SQL text over
    /// the row's columns) computed on every write.
    pub generated: Option<String>,
}

/// A CHECK constraint: a boolean expression over one row that no stored
/// row may make false.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Check {
    pub name: String,
    /// SQL text over the row's columns (by their current names).
    pub expr: String,
    /// Columns the expression reads (dropping one drops the check).
    pub columns: Vec<ColumnId>,
    /// False for NOT VALID until VALIDATE CONSTRAINT has checked old rows.
    pub validated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Index {
    /// Key-space id of the index entries (allocated like table ids).
    pub id: u32,
    pub name: String,
    pub columns: Vec<ColumnId>,
    pub unique: bool,
    /// Index created by a PRIMARY KEY constraint (stored as the row key).
    pub primary: bool,
    /// A vector index (hnsw, ivfflat): derived state beside the rows, not
    /// key entries (see `exec::vindex`).
    pub vector: Option<VectorIndex>,
    /// Being built while writes go on (F1's write-only state): writers
    /// maintain it, queries do not use it. A build a crash stopped is
    /// dropped at the next start.
    pub building: bool,
    /// Made by a PRIMARY KEY or UNIQUE constraint (not CREATE INDEX): the
    /// catalogs show a constraint for it.
    #[serde(default)]
    pub constraint: bool,
}

/// How a vector index is built and searched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VectorIndex {
    /// `hnsw` or `ivfflat`.
    pub method: String,
    /// The operator class (`vector_l2_ops`, ...).
    pub opclass: String,
    pub metric: crate::vector::distance::Metric,
    /// The vector kind the index holds (after the expression, if any).
    pub kind: crate::vector::Kind,
    /// The indexed column, or the column under the indexed expression.
    pub column: ColumnId,
    /// Indexed expression as SQL text (`(binary_quantize(v))::bit(3)`), if not a plain column.
    pub expr: Option<String>,
    pub dims: u32,
    pub m: usize,
    pub ef_construction: usize,
    /// `binary`: graph over 1-bit codes, candidates re-ranked with full
    /// vectors; `halfvec`: graph over half-precision values (half the memory).
    pub quantization: Option<String>,
    /// Candidates re-ranked per result row with binary quantization.
    pub rerank: usize,
    /// IVFFlat: lists per shard (k-means centroids).
    pub lists: usize,
}

/// What a FOREIGN KEY does to referencing rows when the referenced row
/// goes or its key changes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum FkAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl FkAction {
    /// As `pg_get_constraintdef` spells it.
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::NoAction => "NO ACTION",
            FkAction::Restrict => "RESTRICT",
            FkAction::Cascade => "CASCADE",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
        }
    }
}

/// A FOREIGN KEY of the table that holds it (the referencing table):
/// MATCH SIMPLE, so a row with a NULL in its key columns references nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ForeignKey {
    pub name: String,
    /// Key columns in this table.
    pub columns: Vec<ColumnId>,
    pub ref_table: TableId,
    /// The referenced table's columns, in the same order: a PRIMARY KEY or
    /// UNIQUE constraint of it.
    pub ref_columns: Vec<ColumnId>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
    pub deferrable: bool,
    /// INITIALLY DEFERRED: checked at COMMIT, not after each statement.
    pub deferred: bool,
    /// False for NOT VALID until VALIDATE CONSTRAINT has checked old rows.
    pub validated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    pub id: TableId,
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary key columns; empty means rows are keyed by a hidden row id.
    pub primary_key: Vec<ColumnId>,
    pub indexes: Vec<Index>,
    pub next_column_id: ColumnId,
    pub checks: Vec<Check>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    pub fn column_by_id(&self, id: ColumnId) -> Option<&Column> {
        self.columns.iter().find(|c| c.id == id)
    }
    /// Positions (in `columns`) of the primary-key columns.
    pub fn pk_positions(&self) -> Vec<usize> {
        self.primary_key
            .iter()
            .map(|id| {
                self.columns
                    .iter()
                    .position(|c| c.id == *id)
                    .expect("pk column exists")
            })
            .collect()
    }
    pub fn rowid_sequence(&self) -> String {
        format!("rowid.{}", self.id)
    }
    /// Whether `name` is taken by a constraint of this table (CHECK, or
    /// the index of a PRIMARY KEY or UNIQUE constraint).
    pub fn has_constraint(&self, name: &str) -> bool {
        self.checks.iter().any(|c| c.name == name)
            || self.indexes.iter().any(|i| i.name == name)
            || self.foreign_keys.iter().any(|f| f.name == name)
    }
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// A sequence. Its values come from a counter in the meta group
/// (`seq/{key}`, see [`store::CatalogStore::nextval`]): the last value
/// handed out is `base + counter`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sequence {
    pub schema: String,
    pub name: String,
    pub key: String,
    pub base: i64,
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cycle: bool,
    /// smallint, integer or bigint.
    pub data_type: SqlType,
    /// The column a serial or identity column made it for: it goes with it.
    pub owned_by: Option<(TableId, ColumnId)>,
}

/// A view: a stored query, planned where it is named.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct View {
    pub schema: String,
    pub name: String,
    /// The SELECT, as SQL text.
    pub query: String,
    /// Output column names (the view's column list, or the query's).
    pub columns: Vec<String>,
    /// Tables and views the query reads (DROP of one is 2BP01).
    pub depends_on: Vec<u32>,
}

/// An enum type (CREATE TYPE ... AS ENUM): its labels in their order,
/// which comparisons, ORDER BY, min and max follow. Columns store labels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnumType {
    pub schema: String,
    pub name: String,
    pub labels: Vec<String>,
}

/// Relations other than tables, in the same namespace as tables, and
/// types (a table's name is also its row type's in PostgreSQL, so types
/// and relations share one namespace there too).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Relation {
    Sequence(Sequence),
    View(View),
    /// Last, so catalogs written before it still read.
    Type(EnumType),
}

impl Relation {
    pub fn schema(&self) -> &str {
        match self {
            Relation::Sequence(s) => &s.schema,
            Relation::View(v) => &v.schema,
            Relation::Type(t) => &t.schema,
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Relation::Sequence(s) => &s.name,
            Relation::View(v) => &v.name,
            Relation::Type(t) => &t.name,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Catalog {
    pub version: u64,
    pub next_table_id: TableId,
    pub schemas: BTreeSet<String>,
    pub tables: BTreeMap<TableId, Table>,
    /// Sequences and views, by id (ids shared with tables).
    pub relations: BTreeMap<u32, Relation>,
    /// COMMENT ON texts by object (`table:<id>`, `column:<id>:<column
    /// id>`, `index:<id>`, `schema:<name>`, ...).
    pub comments: BTreeMap<String, String>,
}

impl Default for Catalog {
    fn default() -> Self {
        let mut schemas = BTreeSet::new();
        schemas.insert("public".to_string());
        Catalog {
            version: 0,
            next_table_id: 1,
            schemas,
            tables: BTreeMap::new(),
            relations: BTreeMap::new(),
            comments: BTreeMap::new(),
        }
    }
}

/// `find` in `schema` if given, else in each schema of the search path
/// in turn.
fn on_path<T>(
    schema: Option<&str>,
    search_path: &[String],
    find: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    match schema {
        Some(s) => find(s),
        None => search_path.iter().find_map(|s| find(s)),
    }
}

impl Catalog {
    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables
            .values()
            .find(|t| t.schema == schema && t.name == name)
    }
    pub fn table_mut(&mut self, schema: &str, name: &str) -> Option<&mut Table> {
        self.tables
            .values_mut()
            .find(|t| t.schema == schema && t.name == name)
    }
    /// Resolve a possibly unqualified name along the search path.
    pub fn resolve(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<&Table> {
        on_path(schema, search_path, |s| self.table(s, name))
    }
    /// Tables given new ids (TRUNCATE: `(old, new)`): what names them by
    /// id follows — foreign keys, views' dependencies, owned sequences.
    pub fn renumber_tables(&mut self, moved: &[(TableId, TableId)]) {
        let map = |id: &mut TableId| {
            if let Some((_, new)) = moved.iter().find(|(old, _)| old == id) {
                *id = *new;
            }
        };
        for t in self.tables.values_mut() {
            for f in &mut t.foreign_keys {
                map(&mut f.ref_table);
            }
        }
        for r in self.relations.values_mut() {
            match r {
                Relation::View(v) => v.depends_on.iter_mut().for_each(map),
                Relation::Sequence(s) => {
                    if let Some((t, _)) = &mut s.owned_by {
                        map(t);
                    }
                }
                Relation::Type(_) => {}
            }
        }
    }

    /// After tables were dropped wholesale (DROP SCHEMA CASCADE): foreign
    /// keys into them, views over them and sequences they owned go too.
    pub fn forget_dangling(&mut self) {
        let ids: BTreeSet<u32> = self
            .tables
            .keys()
            .chain(self.relations.keys())
            .copied()
            .collect();
        for t in self.tables.values_mut() {
            t.foreign_keys.retain(|f| ids.contains(&f.ref_table));
        }
        loop {
            let gone: Vec<u32> =
                self.relations
                    .iter()
                    .filter(|(_, r)| match r {
                        Relation::View(v) => v.depends_on.iter().any(|d| {
                            !self.tables.contains_key(d) && !self.relations.contains_key(d)
                        }),
                        Relation::Sequence(s) => s
                            .owned_by
                            .is_some_and(|(t, _)| !self.tables.contains_key(&t)),
                        Relation::Type(_) => false,
                    })
                    .map(|(id, _)| *id)
                    .collect();
            if gone.is_empty() {
                break;
            }
            for id in gone {
                self.relations.remove(&id);
            }
        }
    }

    /// The foreign keys (with their tables) that reference table `id`.
    pub fn referencing(&self, id: TableId) -> impl Iterator<Item = (&Table, &ForeignKey)> {
        self.tables.values().flat_map(move |t| {
            t.foreign_keys
                .iter()
                .filter(move |f| f.ref_table == id)
                .map(move |f| (t, f))
        })
    }
    /// Whether a table, sequence or view of `schema` is called `name`.
    pub fn relation_exists(&self, schema: &str, name: &str) -> bool {
        self.table(schema, name).is_some()
            || self
                .relations
                .values()
                .any(|r| r.schema() == schema && r.name() == name)
    }
    /// The sequence or view `name` along the search path, with its id.
    pub fn resolve_relation(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<(u32, &Relation)> {
        let find = |s: &str| {
            self.relations
                .iter()
                .find(|(_, r)| {
                    r.schema() == s && r.name() == name && !matches!(r, Relation::Type(_))
                })
                .map(|(id, r)| (*id, r))
        };
        on_path(schema, search_path, find)
    }
    /// The enum type `name` along the search path (`pg_catalog` first, as
    /// PostgreSQL looks types up), with its id.
    pub fn resolve_type(
        &self,
        schema: Option<&str>,
        name: &str,
        search_path: &[String],
    ) -> Option<(u32, &EnumType)> {
        let find = |s: &str| {
            self.relations.iter().find_map(|(id, r)| match r {
                Relation::Type(t) if t.schema == s && t.name == name => Some((*id, t)),
                _ => None,
            })
        };
        on_path(schema, search_path, find)
    }
    /// The enum type `schema.name`.
    pub fn enum_type(&self, schema: &str, name: &str) -> Option<&EnumType> {
        self.relations.values().find_map(|r| match r {
            Relation::Type(t) if t.schema == schema && t.name == name => Some(t),
            _ => None,
        })
    }
    /// Whether any enum type exists (the planner's enum rewrite is skipped
    /// when none does).
    pub fn has_enums(&self) -> bool {
        self.relations
            .values()
            .any(|r| matches!(r, Relation::Type(_)))
    }
    /// The sequence whose counter is `key`.
    pub fn sequence_by_key(&self, key: &str) -> Option<&Sequence> {
        self.relations.values().find_map(|r| match r {
            Relation::Sequence(s) if s.key == key => Some(s),
            _ => None,
        })
    }
    pub fn tables_in(&self, schema: &str) -> impl Iterator<Item = &Table> {
        self.tables.values().filter(move |t| t.schema == schema)
    }
    /// Carry the changes a transaction block made from `base` to `mine`
    /// over to `onto`, the catalog as other sessions have changed it since:
    /// objects the block changed must be as `base` had them (else 40001),
    /// and names must stay unique (42P07, 42P06).
    pub fn rebase(
        base: &Catalog,
        mine: &Catalog,
        onto: &Catalog,
    ) -> crate::error::PgResult<Catalog> {
        use crate::error::{PgError, codes};
        if onto.version == base.version {
            return Ok(mine.clone());
        }
        let conflict = |what: String| {
            PgError::new(
                codes::SERIALIZATION_FAILURE,
                format!("could not serialize access due to concurrent change of {what}"),
            )
        };
        let mut out = onto.clone();
        let ids: BTreeSet<TableId> = base
            .tables
            .keys()
            .chain(mine.tables.keys())
            .copied()
            .collect();
        for id in ids {
            let (b, m) = (base.tables.get(&id), mine.tables.get(&id));
            if b == m {
                continue;
            }
            if onto.tables.get(&id) != b {
                let name = b.or(m).map(|t| t.qualified_name()).unwrap_or_default();
                return Err(conflict(format!("table {name}")));
            }
            match m {
                Some(t) => {
                    if out
                        .tables
                        .values()
                        .any(|o| o.id != id && o.schema == t.schema && o.name == t.name)
                    {
                        return Err(PgError::new(
                            codes::DUPLICATE_TABLE,
                            format!("relation \"{}\" already exists", t.name),
                        ));
                    }
                    out.tables.insert(id, t.clone());
                }
                None => {
                    out.tables.remove(&id);
                }
            }
        }
        let rel_ids: BTreeSet<u32> = base
            .relations
            .keys()
            .chain(mine.relations.keys())
            .copied()
            .collect();
        for id in rel_ids {
            let (b, m) = (base.relations.get(&id), mine.relations.get(&id));
            if b == m {
                continue;
            }
            if onto.relations.get(&id) != b {
                let name = b.or(m).map(|r| r.name().to_string()).unwrap_or_default();
                return Err(conflict(format!("relation {name}")));
            }
            match m {
                Some(r) => {
                    if out
                        .relations
                        .iter()
                        .any(|(o, x)| *o != id && x.schema() == r.schema() && x.name() == r.name())
                        || out.table(r.schema(), r.name()).is_some()
                    {
                        return Err(PgError::new(
                            codes::DUPLICATE_TABLE,
                            format!("relation \"{}\" already exists", r.name()),
                        ));
                    }
                    out.relations.insert(id, r.clone());
                }
                None => {
                    out.relations.remove(&id);
                }
            }
        }
        // Comments the block set or removed.
        let keys: BTreeSet<&String> = base.comments.keys().chain(mine.comments.keys()).collect();
        for k in keys {
            match (base.comments.get(k), mine.comments.get(k)) {
                (b, m) if b == m => {}
                (_, Some(m)) => {
                    out.comments.insert(k.clone(), m.clone());
                }
                (_, None) => {
                    out.comments.remove(k);
                }
            }
        }
        for s in mine.schemas.difference(&base.schemas) {
            if !out.schemas.insert(s.clone()) {
                return Err(PgError::new(
                    codes::DUPLICATE_SCHEMA,
                    format!("schema \"{s}\" already exists"),
                ));
            }
        }
        for s in base.schemas.difference(&mine.schemas) {
            if out.tables_in(s).next().is_some() {
                return Err(conflict(format!("schema {s}")));
            }
            out.schemas.remove(s);
        }
        out.next_table_id = onto.next_table_id.max(mine.next_table_id);
        Ok(out)
    }

    /// Find the table owning an index, by schema and index name.
    pub fn index_owner(&self, schema: &str, index: &str) -> Option<&Table> {
        self.tables_in(schema)
            .find(|t| t.indexes.iter().any(|i| i.name == index))
    }
}
