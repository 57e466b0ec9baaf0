//! The functions that print objects back as SQL or names, as psql's `\d`,
//! pg_dump and ORMs' reflection call them: `format_type`, `pg_get_expr`,
//! `pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_viewdef`, the
//! `::regnamespace` cast, `pg_type_is_visible` and the other
//! `*_is_visible`, and the answers for features GrapeDB lacks
//! (`pg_get_triggerdef`, `pg_relation_is_publishable`,
//! `pg_partition_ancestors` of a relation that is no partition).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use super::common::SessionView;
use super::pg_constraint::{constraints, definition, table_constraints};
use super::{deparse, oids};
use crate::catalog::{Catalog, Relation, Table};
use crate::types::text::quote_ident_if_needed;
use crate::types::{pg_type_rows, regtype_name};

/// What a call sees: the session's catalog and search path, read once per
/// call.
pub struct Seen {
    pub cat: Arc<Catalog>,
    pub path: Vec<String>,
    /// Constraint OIDs to their tables, built by the first call of the
    /// batch that needs it (a lookup per row would walk them all).
    constraint_tables: std::sync::OnceLock<std::collections::HashMap<i64, u32>>,
}

impl Seen {
    /// Whether `t` is the first relation of its name on the path (so its
    /// name needs no schema).
    fn visible(&self, t: &Table) -> bool {
        self.path
            .iter()
            .find(|s| {
                self.cat.table(s, &t.name).is_some()
                    || self
                        .cat
                        .resolve_relation(Some(s), &t.name, &self.path)
                        .is_some()
            })
            .is_some_and(|s| *s == t.schema)
    }

    fn qualified(&self, schema: &str, name: &str) -> String {
        if schema == "pg_catalog" || self.path.first().is_some_and(|s| s == schema) {
            quote_ident_if_needed(name)
        } else {
            format!(
                "{}.{}",
                quote_ident_if_needed(schema),
                quote_ident_if_needed(name)
            )
        }
    }
}

type Body = dyn Fn(&Seen, &[ScalarValue]) -> Option<ScalarValue> + Send + Sync;

/// A catalog function computed row by row (NULL where `f` says None).
struct CatalogFn {
    name: &'static str,
    ret: DataType,
    signature: Signature,
    view: Arc<SessionView>,
    f: Box<Body>,
}

impl std::fmt::Debug for CatalogFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for CatalogFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for CatalogFn {}
impl std::hash::Hash for CatalogFn {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name.hash(h)
    }
}

impl ScalarUDFImpl for CatalogFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let seen = Seen {
            cat: (self.view.catalog)(),
            path: (self.view.search_path)(),
            constraint_tables: Default::default(),
        };
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let null = ScalarValue::try_from(&self.ret)?;
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            let vals = args
                .args
                .iter()
                .map(|a| match a {
                    ColumnarValue::Scalar(s) => Ok(s.clone()),
                    ColumnarValue::Array(arr) => ScalarValue::try_from_array(arr, i),
                })
                .collect::<Result<Vec<_>>>()?;
            out.push((self.f)(&seen, &vals).unwrap_or_else(|| null.clone()));
        }
        if rows == 0 {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&self.ret),
            ));
        }
        if all_scalar {
            return Ok(ColumnarValue::Scalar(out.pop().expect("one row")));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// An integer argument (an OID, a typmod, a column number).
fn int(v: Option<&ScalarValue>) -> Option<i64> {
    let v = v?;
    if v.is_null() {
        return None;
    }
    v.cast_to(&DataType::Int64).ok().and_then(|v| match v {
        ScalarValue::Int64(i) => i,
        _ => None,
    })
}

fn text(v: Option<&ScalarValue>) -> Option<String> {
    let v = v?;
    if v.is_null() {
        return None;
    }
    match v.cast_to(&DataType::Utf8).ok()? {
        ScalarValue::Utf8(s) => s,
        _ => None,
    }
}

fn flag(v: Option<&ScalarValue>) -> bool {
    matches!(v, Some(ScalarValue::Boolean(Some(true))))
}

fn utf8(s: String) -> Option<ScalarValue> {
    Some(ScalarValue::Utf8(Some(s)))
}

/// The table with OID `oid`.
fn table_of(cat: &Catalog, oid: i64) -> Option<&Table> {
    cat.tables.values().find(|t| oids::relation(t.id) == oid)
}

/// `format_type(oid, typmod)`, as PostgreSQL 15's format_type.c.
pub fn format_type(seen: &Seen, oid: i64, typmod: Option<i64>) -> String {
    if oid == 0 {
        return "-".into();
    }
    let Some(row) = pg_type_rows().iter().find(|r| r.oid == oid) else {
        // An enum type, or a table's row type.
        return seen
            .cat
            .relations
            .iter()
            .find(|(id, r)| oids::enum_type(**id) == oid && matches!(r, Relation::Type(_)))
            .map(|(_, r)| seen.qualified(r.schema(), r.name()))
            .unwrap_or_else(|| "???".into());
    };
    if row.elem != 0 && row.name.starts_with('_') {
        return format!("{}[]", format_type(seen, row.elem, typmod));
    }
    let mut base = regtype_name(oid).unwrap_or_else(|| row.name.clone());
    // pgvector's types live in `public`: qualified where it is not on the
    // search path (pg_dump's empty path), as PostgreSQL prints them.
    if row.namespace == oids::namespace("public") && !seen.path.iter().any(|p| p == "public") {
        base = format!("public.{base}");
    }
    let Some(m) = typmod else {
        return base;
    };
    let with = |n: i64| format!("{base}({n})");
    match row.name.as_str() {
        "bpchar" if m < 0 => "bpchar".into(),
        "bit" if m < 0 => "\"bit\"".into(),
        _ if m < 0 => base,
        "varchar" | "bpchar" => with(m - 4),
        "numeric" => format!("numeric({},{})", (m - 4) >> 16, (m - 4) & 0xffff),
        "vector" | "halfvec" | "sparsevec" | "bit" | "varbit" => with(m),
        _ => base,
    }
}

/// `pg_get_indexdef(oid)`: the CREATE INDEX statement; with `column` >
/// 0, that key column's text only.
fn index_definition_of(seen: &Seen, oid: i64, column: i64) -> Option<String> {
    let (t, ix) = seen.cat.tables.values().find_map(|t| {
        t.indexes
            .iter()
            .find(|i| oids::index(t, i) == oid)
            .map(|i| (t, i))
    })?;
    index_definition(t, ix, column, seen.path.iter().any(|p| p == "public"))
}

/// Index `ix` of `t` as `pg_get_indexdef` prints it (`column` > 0: that
/// key column's text only).
pub fn index_definition(
    t: &Table,
    ix: &crate::catalog::Index,
    column: i64,
    public_visible: bool,
) -> Option<String> {
    let keys: Vec<String> = match &ix.vector {
        Some(v) => {
            let key = match &v.expr {
                Some(e) => format!("({})", deparse::expr(e, &t.columns, None, false)),
                None => quote_ident_if_needed(&t.column_by_id(v.column)?.name),
            };
            // One column's text is the key alone; the statement names its
            // operator class.
            // (pgvector's classes are in `public`.)
            if column > 0 {
                vec![key]
            } else if public_visible {
                vec![format!("{key} {}", v.opclass)]
            } else {
                vec![format!("{key} public.{}", v.opclass)]
            }
        }
        None => ix
            .columns
            .iter()
            .filter_map(|c| t.column_by_id(*c))
            .map(|c| quote_ident_if_needed(&c.name))
            .collect(),
    };
    if column > 0 {
        return keys.get(column as usize - 1).cloned();
    }
    let method = ix.vector.as_ref().map_or("btree", |v| v.method.as_str());
    let mut s = format!(
        "CREATE {}INDEX {} ON {}.{} USING {method} ({})",
        if ix.unique || ix.primary {
            "UNIQUE "
        } else {
            ""
        },
        quote_ident_if_needed(&ix.name),
        quote_ident_if_needed(&t.schema),
        quote_ident_if_needed(&t.name),
        keys.join(", ")
    );
    if let Some(v) = &ix.vector {
        let opts: Vec<String> = v
            .reloptions()
            .iter()
            .map(|(k, v)| format!("{k}='{v}'"))
            .collect();
        if !opts.is_empty() {
            s.push_str(&format!(" WITH ({})", opts.join(", ")));
        }
    }
    Some(s)
}

fn udf(
    view: &Arc<SessionView>,
    name: &'static str,
    args: Vec<Vec<DataType>>,
    ret: DataType,
    f: impl Fn(&Seen, &[ScalarValue]) -> Option<ScalarValue> + Send + Sync + 'static,
) -> ScalarUDF {
    // An OID may come as a string constant (`'16385'`, psql writes them
    // so): each signature taking one first also takes text there.
    let mut all = args.clone();
    for a in &args {
        if a.first() == Some(&DataType::Int64) {
            let mut t = a.clone();
            t[0] = DataType::Utf8;
            all.push(t);
        }
    }
    let signature = Signature::one_of(
        all.into_iter().map(TypeSignature::Exact).collect(),
        Volatility::Stable,
    );
    ScalarUDF::new_from_impl(CatalogFn {
        name,
        ret,
        signature,
        view: view.clone(),
        f: Box::new(f),
    })
}

/// The functions of this module, for a session.
pub fn functions(view: &Arc<SessionView>) -> Vec<ScalarUDF> {
    use DataType::{Boolean as B, Int64 as I, Utf8 as T};
    let b = |v: bool| Some(ScalarValue::Boolean(Some(v)));
    let mut out = vec![
        udf(view, "format_type", vec![vec![I, I]], T, |s, a| {
            let oid = int(a.first())?;
            utf8(format_type(s, oid, int(a.get(1))))
        }),
        udf(
            view,
            "pg_get_expr",
            vec![vec![T, I], vec![T, I, B]],
            T,
            |s, a| {
                let expr = text(a.first())?;
                let table = int(a.get(1)).and_then(|o| table_of(&s.cat, o));
                let columns = table.map_or(&[][..], |t| &t.columns[..]);
                let names = deparse::Names {
                    cat: &s.cat,
                    path: &s.path,
                    home: table.map(|t| t.schema.as_str()),
                };
                utf8(deparse::expr_named(&expr, columns, flag(a.get(2)), &names))
            },
        ),
        udf(
            view,
            "pg_get_constraintdef",
            vec![vec![I], vec![I, B]],
            T,
            |s, a| {
                let oid = int(a.first())?;
                let table = *s
                    .constraint_tables
                    .get_or_init(|| {
                        constraints(&s.cat)
                            .iter()
                            .map(|c| (c.oid, c.table.id))
                            .collect()
                    })
                    .get(&oid)?;
                let t = s.cat.tables.get(&table)?;
                let mine = table_constraints(t);
                let c = mine.iter().find(|c| c.oid == oid)?;
                utf8(definition(&s.cat, c, flag(a.get(1)), &|t| s.visible(t)))
            },
        ),
        udf(
            view,
            "pg_get_indexdef",
            vec![vec![I], vec![I, I, B]],
            T,
            |s, a| {
                let oid = int(a.first())?;
                utf8(index_definition_of(s, oid, int(a.get(1)).unwrap_or(0))?)
            },
        ),
        udf(
            view,
            "pg_get_viewdef",
            vec![vec![I], vec![I, B], vec![T], vec![T, B]],
            T,
            |s, a| {
                let oid = int(a.first())?;
                s.cat.relations.iter().find_map(|(id, r)| match r {
                    Relation::View(v) if oids::relation(*id) == oid => {
                        let names = deparse::Names {
                            cat: &s.cat,
                            path: &s.path,
                            home: Some(v.schema.as_str()),
                        };
                        let query = names.qualify_relations(v.query.trim().trim_end_matches(';'));
                        utf8(format!(" {query};"))
                    }
                    _ => None,
                })
            },
        ),
        udf(view, "grape_regnamespace_name", vec![vec![I]], T, |s, a| {
            let oid = int(a.first())?;
            let name = s
                .cat
                .schemas
                .iter()
                .chain(["pg_catalog".to_string(), "information_schema".to_string()].iter())
                .find(|n| oids::namespace(n) == oid)
                .map(|n| quote_ident_if_needed(n))
                .unwrap_or_else(|| oid.to_string());
            utf8(name)
        }),
        udf(view, "pg_type_is_visible", vec![vec![I]], B, move |s, a| {
            let oid = int(a.first())?;
            let ns = pg_type_rows()
                .iter()
                .find(|r| r.oid == oid)
                .map(|r| r.namespace)
                .or_else(|| {
                    s.cat.relations.iter().find_map(|(id, r)| {
                        let own = match r {
                            Relation::Type(_) => oids::enum_type(*id),
                            _ => oids::row_type(*id),
                        };
                        (own == oid).then(|| oids::namespace(r.schema()))
                    })
                })?;
            b(ns == 11 || s.path.iter().any(|p| oids::namespace(p) == ns))
        }),
        udf(
            view,
            "pg_relation_is_publishable",
            vec![vec![I]],
            B,
            move |s, a| {
                let oid = int(a.first())?;
                b(table_of(&s.cat, oid).is_some())
            },
        ),
        // No partitions: a relation's only ancestor is itself.
        udf(view, "pg_partition_ancestors", vec![vec![I]], I, |_, a| {
            Some(ScalarValue::Int64(Some(int(a.first())?)))
        }),
        udf(
            view,
            "pg_get_statisticsobjdef_columns",
            vec![vec![I]],
            T,
            |_, _| None,
        ),
        udf(
            view,
            "pg_get_triggerdef",
            vec![vec![I], vec![I, B]],
            T,
            |_, _| None,
        ),
        udf(
            view,
            "pg_get_ruledef",
            vec![vec![I], vec![I, B]],
            T,
            |_, _| None,
        ),
        udf(view, "pg_get_partkeydef", vec![vec![I]], T, |_, _| None),
        udf(view, "shobj_description", vec![vec![I, T]], T, |_, _| None),
    ];
    // Functions, operators, collations, ... : all of them are in
    // pg_catalog or pgvector's public, both on every path GrapeDB has.
    for name in [
        "pg_function_is_visible",
        "pg_operator_is_visible",
        "pg_opclass_is_visible",
        "pg_opfamily_is_visible",
        "pg_collation_is_visible",
        "pg_conversion_is_visible",
        "pg_statistics_obj_is_visible",
        "pg_ts_config_is_visible",
        "pg_ts_dict_is_visible",
        "pg_ts_parser_is_visible",
        "pg_ts_template_is_visible",
    ] {
        out.push(udf(view, name, vec![vec![I]], B, move |_, a| {
            int(a.first())?;
            b(true)
        }));
    }
    out
}
