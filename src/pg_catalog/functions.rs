//! PostgreSQL functions that clients call to learn about the server and
//! session (`version()`, `current_database()`, ...).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

/// What `version()` and `server_version` say: PostgreSQL 15, as GrapeDB
/// speaks it.
pub const SERVER_VERSION: &str = concat!("15.0 (GrapeDB ", env!("CARGO_PKG_VERSION"), ")");

fn constant(ctx: &SessionContext, name: &str, value: String) {
    let v = ScalarValue::Utf8(Some(value));
    let f = create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(v.clone()))),
    );
    ctx.register_udf(f);
}

/// Register the session functions; `database`, `user` and `schema` are the
/// session's.
pub fn register(ctx: &SessionContext, database: &str, user: &str, schema: &str) {
    constant(
        ctx,
        "version",
        format!(
            "PostgreSQL {SERVER_VERSION} on {}-linux, compiled by rustc",
            std::env::consts::ARCH
        ),
    );
    constant(ctx, "current_database", database.to_string());
    constant(ctx, "current_schema", schema.to_string());
    constant(ctx, "current_user", user.to_string());
    constant(ctx, "session_user", user.to_string());
    // An options array (`{name=value,...}`) sorted by name, byte-wise as
    // in the C collation: what `pg_options_to_table` unnests
    // (`sql::rewrite::options_table`).
    ctx.register_udf(create_udf(
        "grape_options_sorted",
        vec![DataType::List(Arc::new(
            datafusion::arrow::datatypes::Field::new("item", DataType::Utf8, true),
        ))],
        DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new(
            "item",
            DataType::Utf8,
            true,
        ))),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
            let a = args[0].to_array(1)?;
            let list = a.as_list::<i32>();
            let mut out = ListBuilder::new(StringBuilder::new());
            for i in 0..list.len() {
                if list.is_null(i) {
                    out.append_null();
                    continue;
                }
                let items = list.value(i);
                let items = items.as_string::<i32>();
                let mut v: Vec<Option<&str>> = items.iter().collect();
                let key =
                    |o: &Option<&str>| o.map(|s| s.split('=').next().unwrap_or("").to_string());
                v.sort_by_key(key);
                for o in v {
                    out.values().append_option(o);
                }
                out.append(true);
            }
            let out: Arc<dyn Array> = Arc::new(out.finish());
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => {
                    ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
                }
                ColumnarValue::Array(_) => ColumnarValue::Array(out),
            })
        }),
    ));
    // Every node serves writes (a follower forwards them to its group's
    // leader), so none is a standby replaying a primary's log; pg_dump
    // asks before it picks its snapshot mode.
    ctx.register_udf(create_udf(
        "pg_is_in_recovery",
        vec![],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(false))))
        }),
    ));
}

/// `to_regtype(name)` and the `::regtype` cast (as `grape_regtype(oid)`),
/// which drivers use to look types up by name (psycopg's TypeInfo.fetch).
pub fn register_regtype(ctx: &SessionContext) {
    use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
    let to_oid = create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int64,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = args[0].to_array(1)?;
            let s = a.as_string::<i32>();
            let out: Int64Array = s
                .iter()
                .map(|v| v.and_then(crate::types::regtype_oid))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    ctx.register_udf(to_oid);
    let name = create_udf(
        "grape_regtype",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = args[0].to_array(1)?;
            let a = datafusion::arrow::compute::cast(&a, &DataType::Int64)?;
            let ints = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let out: StringArray = (0..ints.len())
                .map(|i| {
                    if ints.is_null(i) {
                        None
                    } else {
                        crate::types::regtype_name(ints.value(i))
                            .or_else(|| Some(ints.value(i).to_string()))
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    ctx.register_udf(name);
}

pub use super::common::SessionView;

/// The OID of relation `name` as text (`schema.name`, or the first on the
/// search path; PostgreSQL's own catalogs by their names; a string of
/// digits is an OID already, `'16385'::regclass`).
fn relation_oid(cat: &crate::catalog::Catalog, path: &[String], name: &str) -> Option<i64> {
    if let Ok(oid) = name.trim().parse::<i64>() {
        return Some(oid);
    }
    let parts: Vec<String> = name
        .split('.')
        .map(|p| {
            let p = p.trim();
            match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(q) => q.replace("\"\"", "\""),
                None => p.to_lowercase(),
            }
        })
        .collect();
    match parts.as_slice() {
        [r] => find_relation(cat, path, None, r),
        [s, r] => find_relation(cat, path, Some(s), r),
        _ => None,
    }
}

/// `'name'::regclass`: the relation's OID, 42P01 when there is none.
pub(super) fn regclass_oid(
    cat: &crate::catalog::Catalog,
    path: &[String],
    name: &str,
) -> datafusion::common::Result<i64> {
    relation_oid(cat, path, name).ok_or_else(|| {
        datafusion::common::DataFusionError::External(Box::new(crate::error::PgError::new(
            crate::error::codes::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )))
    })
}

/// The OID of relation `rel` in `schema`, or the first of that name
/// along `path` (a table, an index, a view or a sequence).
fn find_relation(
    cat: &crate::catalog::Catalog,
    path: &[String],
    schema: Option<&str>,
    rel: &str,
) -> Option<i64> {
    if schema.is_none_or(|s| s == "pg_catalog")
        && let Some((_, o)) = super::oids::SYSTEM_RELATIONS
            .iter()
            .find(|(n, _)| *n == rel)
    {
        return Some(*o);
    }
    let schemas: Vec<&str> = match schema {
        Some(s) => vec![s],
        None => path.iter().map(String::as_str).collect(),
    };
    schemas.into_iter().find_map(|s| {
        if let Some(t) = cat.table(s, rel) {
            return Some(super::oids::relation(t.id));
        }
        if let Some(t) = cat.index_owner(s, rel) {
            let i = t.indexes.iter().find(|i| i.name == rel)?;
            return Some(super::oids::index(t, i));
        }
        let (id, _) = cat.resolve_relation(Some(s), rel, path)?;
        Some(super::oids::relation(id))
    })
}

/// The relation with OID `oid`: its schema, its name and the key its
/// COMMENT ON text has in the catalog (None for PostgreSQL's own).
struct Found {
    schema: String,
    name: String,
    comment_key: Option<String>,
}

fn relation_of(cat: &crate::catalog::Catalog, oid: i64) -> Option<Found> {
    let found = |schema: &str, name: &str, key: String| Found {
        schema: schema.to_string(),
        name: name.to_string(),
        comment_key: Some(key),
    };
    if let Some((n, _)) = super::oids::SYSTEM_RELATIONS
        .iter()
        .find(|(_, o)| *o == oid)
    {
        return Some(Found {
            schema: "pg_catalog".into(),
            name: n.to_string(),
            comment_key: None,
        });
    }
    for t in cat.tables.values() {
        if super::oids::relation(t.id) == oid {
            return Some(found(&t.schema, &t.name, format!("table:{}", t.id)));
        }
        if let Some(i) = t.indexes.iter().find(|i| super::oids::index(t, i) == oid) {
            return Some(found(&t.schema, &i.name, format!("index:{}", i.id)));
        }
    }
    cat.relations.iter().find_map(|(id, r)| {
        (super::oids::relation(*id) == oid)
            .then(|| found(r.schema(), r.name(), format!("relation:{id}")))
    })
}

/// The rows a call computes: its array arguments' length (1 when all
/// are constants).
pub fn rows(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

pub(super) fn int_arg(
    args: &[ColumnarValue],
    i: usize,
) -> datafusion::common::Result<Vec<Option<i64>>> {
    use datafusion::arrow::array::AsArray;
    let a = args[i].to_array(rows(args))?;
    let a = datafusion::arrow::compute::cast(&a, &DataType::Int64)?;
    Ok(a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .iter()
        .collect())
}

pub(super) fn text_arg(
    args: &[ColumnarValue],
    i: usize,
) -> datafusion::common::Result<Vec<Option<String>>> {
    use datafusion::arrow::array::AsArray;
    let a = args[i].to_array(rows(args))?;
    let a = datafusion::arrow::compute::cast(&a, &DataType::Utf8)?;
    Ok(a.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// The name of role `oid` (the session's user owns everything but
/// `public`).
fn role_name(v: &SessionView, oid: i64) -> Option<String> {
    if oid == super::oids::OWNER {
        Some(v.user.clone())
    } else {
        super::objects::PREDEFINED_ROLES
            .iter()
            .find(|(_, o)| *o == oid)
            .map(|(n, _)| n.to_string())
    }
}

/// Register the functions tools call on catalog rows: `pg_get_userbyid`,
/// `pg_table_is_visible`, `pg_encoding_to_char`, `obj_description`,
/// `col_description`, `to_regclass` and the `::regclass` cast (as
/// `grape_regclass(text)` and `grape_regclass_name(oid)`).
pub fn register_catalog_functions(ctx: &SessionContext, view: Arc<SessionView>) {
    use datafusion::arrow::array::{BooleanArray, Int64Array, StringArray};
    use datafusion::common::DataFusionError;
    for f in super::describe::functions(&view) {
        ctx.register_udf(f);
    }
    let v = view.clone();
    ctx.register_udf(create_udf(
        "pg_get_userbyid",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let out: StringArray = int_arg(args, 0)?
                .into_iter()
                .map(|o| {
                    o.map(|o| role_name(&v, o).unwrap_or_else(|| format!("unknown (OID={o})")))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    // `acldefault(kind, owner)`: the privileges an object of that kind has
    // when its ACL is NULL (every ACL here), as PostgreSQL 15 spells them;
    // pg_dump compares each object's ACL with it.
    let v = view.clone();
    ctx.register_udf(create_udf(
        "acldefault",
        vec![DataType::Utf8, DataType::Int64],
        // aclitem[]'s text form: tools read it as text, and pg_dump's
        // `CASE ... ELSE '{}' END` around it needs a text.
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            use datafusion::arrow::array::StringBuilder;
            let kinds = text_arg(args, 0)?;
            let owners = int_arg(args, 1)?;
            let mut out = StringBuilder::new();
            for (kind, owner) in kinds.into_iter().zip(owners) {
                let (Some(kind), Some(owner)) = (kind, owner) else {
                    out.append_null();
                    continue;
                };
                let name = role_name(&v, owner).unwrap_or_else(|| owner.to_string());
                let (public, own) = match kind.as_str() {
                    "c" => (None, None),
                    "r" => (None, Some("arwdDxt")),
                    "s" => (None, Some("rwU")),
                    "d" => (Some("Tc"), Some("CTc")),
                    "f" => (Some("X"), Some("X")),
                    "l" | "T" => (Some("U"), Some("U")),
                    "L" => (None, Some("rw")),
                    "n" => (None, Some("UC")),
                    "t" => (None, Some("C")),
                    "F" | "S" => (None, Some("U")),
                    "p" => (None, Some("sA")),
                    other => {
                        return Err(DataFusionError::External(Box::new(
                            crate::error::PgError::new(
                                crate::error::codes::INTERNAL_ERROR,
                                format!("unrecognized objtype abbreviation: {other}"),
                            ),
                        )));
                    }
                };
                let items: Vec<String> = public
                    .map(|p| format!("={p}/{name}"))
                    .into_iter()
                    .chain(own.map(|p| format!("{name}={p}/{name}")))
                    .collect();
                out.append_value(format!("{{{}}}", items.join(",")));
            }
            let out = out.finish();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    let v = view.clone();
    ctx.register_udf(create_udf(
        "pg_table_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let cat = (v.catalog)();
            let path = (v.search_path)();
            let out: BooleanArray = int_arg(args, 0)?
                .into_iter()
                .map(|o| {
                    o.map(|o| match relation_of(&cat, o) {
                        // Visible: the first of its name on the path.
                        Some(f) => {
                            f.schema == "pg_catalog"
                                || find_relation(&cat, &path, None, &f.name) == Some(o)
                        }
                        None => false,
                    })
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    ctx.register_udf(create_udf(
        "pg_encoding_to_char",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let out: StringArray = int_arg(args, 0)?
                .into_iter()
                .map(|e| e.map(|e| if e == 6 { "UTF8" } else { "" }.to_string()))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    for (name, strict) in [("grape_regclass", true), ("to_regclass", false)] {
        let v = view.clone();
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Utf8],
            DataType::Int64,
            Volatility::Stable,
            Arc::new(move |args: &[ColumnarValue]| {
                let (cat, path) = ((v.catalog)(), (v.search_path)());
                let mut out = Vec::new();
                for t in text_arg(args, 0)? {
                    let Some(t) = t else {
                        out.push(None);
                        continue;
                    };
                    out.push(if strict {
                        Some(regclass_oid(&cat, &path, &t)?)
                    } else {
                        relation_oid(&cat, &path, &t)
                    });
                }
                Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
            }),
        ));
    }
    // `'name'::regnamespace` (42704 when there is no such schema) and
    // `to_regnamespace` (NULL then).
    for (name, strict) in [("grape_regnamespace", true), ("to_regnamespace", false)] {
        let v = view.clone();
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Utf8],
            DataType::Int64,
            Volatility::Stable,
            Arc::new(move |args: &[ColumnarValue]| {
                let cat = (v.catalog)();
                let mut out = Vec::new();
                for t in text_arg(args, 0)? {
                    let Some(t) = t else {
                        out.push(None);
                        continue;
                    };
                    let plain = match t.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                        Some(q) => q.replace("\"\"", "\""),
                        None => t.to_lowercase(),
                    };
                    let known = ["pg_catalog", "information_schema"].contains(&plain.as_str())
                        || cat.schemas.contains(&plain);
                    match (known, strict) {
                        (true, _) => out.push(Some(super::oids::namespace(&plain))),
                        (false, false) => out.push(None),
                        (false, true) => {
                            return Err(DataFusionError::External(Box::new(
                                crate::error::PgError::new(
                                    crate::error::codes::INVALID_SCHEMA_NAME,
                                    format!("schema \"{t}\" does not exist"),
                                ),
                            )));
                        }
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(Int64Array::from(out))))
            }),
        ));
    }
    let v = view.clone();
    // `x::regclass` of a column or expression: the relation's name (of an
    // OID, or of a name, which must exist).
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
        RegclassName {
            view: v,
            signature: datafusion::logical_expr::Signature::any(
                1,
                datafusion::logical_expr::Volatility::Stable,
            ),
        },
    ));
    // One role, a superuser: every privilege check passes, as
    // PostgreSQL's do for a superuser.
    for name in [
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_sequence_privilege",
        "has_function_privilege",
        "has_any_column_privilege",
    ] {
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
            Constant {
                name,
                signature: datafusion::logical_expr::Signature::variadic_any(Volatility::Stable),
            },
        ));
    }
    ctx.register_udf(create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let out: StringArray = int_arg(args, 0)?
                .into_iter()
                .map(|b| b.map(size_pretty))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    let v = view.clone();
    ctx.register_udf(create_udf(
        "current_schemas",
        vec![DataType::Boolean],
        DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new(
            "item",
            DataType::Utf8,
            true,
        ))),
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
            let implicit = args[0].to_array(1)?;
            let implicit = implicit.as_boolean();
            let path = (v.search_path)();
            let mut out = ListBuilder::new(StringBuilder::new());
            for i in 0..implicit.len() {
                if implicit.is_null(i) {
                    out.append(false);
                    continue;
                }
                if implicit.value(i) && !path.iter().any(|s| s == "pg_catalog") {
                    out.values().append_value("pg_catalog");
                }
                for s in &path {
                    out.values().append_value(s);
                }
                out.append(true);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    ));
    let v = view.clone();
    ctx.register_udf(create_udf(
        "obj_description",
        vec![DataType::Int64, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let cat = (v.catalog)();
            let out: StringArray = int_arg(args, 0)?
                .into_iter()
                .zip(text_arg(args, 1)?)
                .map(|(o, class)| {
                    let (o, class) = (o?, class?);
                    match class.as_str() {
                        "pg_class" => relation_of(&cat, o)
                            .and_then(|f| f.comment_key)
                            .and_then(|k| cat.comments.get(&k).cloned()),
                        "pg_namespace" => cat.schemas.iter().find_map(|s| {
                            (super::oids::namespace(s) == o)
                                .then(|| cat.comments.get(&format!("schema:{s}")).cloned())
                                .flatten()
                        }),
                        _ => None,
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    let v = view;
    ctx.register_udf(create_udf(
        "col_description",
        vec![DataType::Int64, DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let cat = (v.catalog)();
            let out: StringArray = int_arg(args, 0)?
                .into_iter()
                .zip(int_arg(args, 1)?)
                .map(|(o, n)| {
                    let (o, n) = (o?, n?);
                    let t = cat
                        .tables
                        .values()
                        .find(|t| super::oids::relation(t.id) == o)?;
                    let c = t.columns.get(usize::try_from(n).ok()?.checked_sub(1)?)?;
                    cat.comments
                        .get(&format!("column:{}:{}", t.id, c.id))
                        .cloned()
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
}

/// `x::regclass` of anything but a constant: the relation's name, from an
/// OID or from a name (which must exist).
struct RegclassName {
    view: Arc<SessionView>,
    signature: datafusion::logical_expr::Signature,
}

impl std::fmt::Debug for RegclassName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegclassName")
    }
}

impl PartialEq for RegclassName {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RegclassName {}

impl std::hash::Hash for RegclassName {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        "grape_regclass_name".hash(h);
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for RegclassName {
    fn name(&self) -> &str {
        "grape_regclass_name"
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let v = &self.view;
        let cat = (v.catalog)();
        let path = (v.search_path)();
        let args = &args.args;
        let oids: Vec<Option<i64>> = match args[0].data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let mut out = Vec::new();
                for t in text_arg(args, 0)? {
                    out.push(match t {
                        None => None,
                        Some(t) => Some(relation_oid(&cat, &path, &t).ok_or_else(|| {
                            datafusion::common::DataFusionError::External(Box::new(
                                crate::error::PgError::new(
                                    crate::error::codes::UNDEFINED_TABLE,
                                    format!("relation \"{t}\" does not exist"),
                                ),
                            ))
                        })?),
                    });
                }
                out
            }
            _ => int_arg(args, 0)?,
        };
        let out: datafusion::arrow::array::StringArray = oids
            .into_iter()
            .map(|o| {
                o.map(|o| match relation_of(&cat, o) {
                    Some(f) if f.schema == "pg_catalog" || path.contains(&f.schema) => f.name,
                    Some(f) => format!("{}.{}", f.schema, f.name),
                    None => o.to_string(),
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `pg_size_pretty(bigint)`, as PostgreSQL 15's dbsize.c: each unit used
/// below its limit, halves rounded away from zero.
fn size_pretty(bytes: i64) -> String {
    // (name, limit, rounded, bits)
    const UNITS: [(&str, i64, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = bytes;
    for (i, (name, limit, round, bits)) in UNITS.iter().enumerate() {
        let last = i + 1 == UNITS.len();
        if last || size.unsigned_abs() < *limit as u64 {
            if *round {
                size = half_rounded(size);
            }
            return format!("{size} {name}");
        }
        let next = UNITS[i + 1];
        let shift = next.3 - bits - u32::from(next.2) + u32::from(*round);
        size /= 1i64 << shift;
    }
    unreachable!("the last unit returns")
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_print_as_postgresql() {
        use super::size_pretty;
        assert_eq!(size_pretty(1024), "1024 bytes");
        assert_eq!(size_pretty(20480), "20 kB");
        assert_eq!(size_pretty(10 * 1024 * 1024), "10 MB");
        assert_eq!(size_pretty(-20480), "-20 kB");
        assert_eq!(size_pretty(i64::MAX), "8192 PB");
    }
}

/// A function whose answer is always true (privilege checks).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constant {
    name: &'static str,
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for Constant {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(
        &self,
        _args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
    }
}
