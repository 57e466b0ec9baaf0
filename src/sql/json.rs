//! JSON and JSONB operators (`->`, `->>`, `#>`, `#>>`, `@>`, `<@`, `?`)
//! and functions (`jsonb_typeof`, `jsonb_array_length`,
//! `jsonb_build_object`, `jsonb_set`) over the validated text GrapeDB
//! stores json and jsonb as, with PostgreSQL's jsonb text form.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DFSchema, DataFusionError, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;
use serde_json::Value;

use crate::error::{PgError, codes};
use crate::types::PG_TYPE_KEY;
use crate::types::text::jsonb_text;

/// PostgreSQL's containment (`@>`): objects hold the other's pairs,
/// arrays hold each of the other's elements, scalars are equal; a
/// top-level array also contains a scalar it holds.
fn contains(a: &Value, b: &Value, top: bool) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => y
            .iter()
            .all(|(k, v)| x.get(k).is_some_and(|w| contains(w, v, false))),
        (Value::Array(x), Value::Array(y)) => {
            y.iter().all(|v| x.iter().any(|w| contains(w, v, false)))
        }
        (Value::Array(x), s) if top && !s.is_object() => x.iter().any(|w| w == s),
        (x, y) => x == y && !x.is_object() && !x.is_array(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    /// `->`, `#>`: the value (as jsonb).
    Get {
        text: bool,
        path: bool,
    },
    Contains,
    ContainedBy,
    Exists,
    TypeOf,
    ArrayLength,
    BuildObject,
    Set,
    /// `x::json`, `x::jsonb` (second argument: which).
    In,
    /// `to_jsonb(x)`, `to_json(x)`: rows are objects (`f1`, `f2`...
    /// for anonymous ones), arrays arrays, numbers and booleans keep
    /// their kind.
    ToJson,
    /// `jsonb_path_query_first(doc, path)`, `jsonb_path_exists(doc, path)`
    /// for paths of member and element accessors ([`json_path`]).
    PathFirst,
    PathExists,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonFn {
    name: &'static str,
    op: Op,
    signature: Signature,
}

fn df(e: PgError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn parse(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|_| {
        df(PgError::new(
            codes::INVALID_TEXT_REPRESENTATION,
            "invalid input syntax for type json",
        ))
    })
}

fn jsonb_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
        .with_metadata([(PG_TYPE_KEY.to_string(), "jsonb".to_string())].into())
}

/// One step into a value: an object's key or an array's index (negative
/// counts from the end, as jsonb does).
fn step<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => {
            let i: i64 = key.parse().ok()?;
            let i = if i < 0 { a.len() as i64 + i } else { i };
            a.get(usize::try_from(i).ok()?)
        }
        _ => None,
    }
}

/// A text[] path written as text (`'{a,b,1}'`).
fn path_parts(p: &str) -> Vec<String> {
    let inner = p.trim().trim_start_matches('{').trim_end_matches('}');
    if inner.is_empty() {
        return Vec::new();
    }
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect()
}

fn as_text(v: &Value, text: bool) -> Option<String> {
    match v {
        Value::Null if text => None,
        Value::String(s) if text => Some(s.clone()),
        other => Some(jsonb_text(other)),
    }
}

/// A SQL value as JSON for jsonb_build_object: jsonb arguments embed,
/// numbers and booleans keep their kind, the rest is text.
fn sql_to_json(a: &ArrayRef, f: &Field, row: usize) -> Result<Value> {
    if a.is_null(row) {
        return Ok(Value::Null);
    }
    let is_json = matches!(
        f.metadata().get(PG_TYPE_KEY).map(String::as_str),
        Some("json" | "jsonb")
    );
    let s = datafusion::arrow::util::display::array_value_to_string(a, row)?;
    Ok(match a.data_type() {
        _ if is_json => parse(&s)?,
        DataType::Boolean => Value::Bool(s == "true"),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..) => serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s)),
        _ => Value::String(s),
    })
}

impl ScalarUDFImpl for JsonFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(
            "use return_field_from_args".into(),
        ))
    }
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(match self.op {
            Op::Get { text: true, .. } => Field::new(self.name, DataType::Utf8, true),
            Op::Get { .. } | Op::BuildObject | Op::Set => jsonb_field(self.name),
            Op::Contains | Op::ContainedBy | Op::Exists => {
                Field::new(self.name, DataType::Boolean, true)
            }
            Op::TypeOf => Field::new(self.name, DataType::Utf8, true),
            Op::In => {
                let kind = match _args.scalar_arguments.get(1).copied().flatten() {
                    Some(datafusion::common::ScalarValue::Utf8(Some(k))) => k.clone(),
                    _ => "jsonb".to_string(),
                };
                Field::new(self.name, DataType::Utf8, true)
                    .with_metadata([(PG_TYPE_KEY.to_string(), kind)].into())
            }
            Op::ArrayLength => Field::new(self.name, DataType::Int32, true),
            Op::ToJson | Op::PathFirst => jsonb_field(self.name),
            Op::PathExists => Field::new(self.name, DataType::Boolean, true),
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<Result<_>>()?;
        if self.op == Op::BuildObject {
            if arrays.len() % 2 != 0 {
                return Err(df(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    "argument list must have even number of elements",
                )
                .with_hint("The arguments of jsonb_build_object() must consist of alternating keys and values.")));
            }
            let mut out = Vec::with_capacity(n);
            for r in 0..n {
                let mut m = serde_json::Map::new();
                for p in (0..arrays.len()).step_by(2) {
                    if arrays[p].is_null(r) {
                        return Err(df(PgError::new(
                            codes::INVALID_PARAMETER_VALUE,
                            "argument 1: key must not be null",
                        )));
                    }
                    let k = datafusion::arrow::util::display::array_value_to_string(&arrays[p], r)?;
                    let v = sql_to_json(&arrays[p + 1], &args.arg_fields[p + 1], r)?;
                    m.insert(k, v);
                }
                out.push(Some(jsonb_text(&Value::Object(m))));
            }
            return Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))));
        }
        if self.op == Op::ToJson {
            let mut out = Vec::with_capacity(n);
            for r in 0..n {
                out.push(if arrays[0].is_null(r) {
                    None
                } else {
                    Some(jsonb_text(&to_json_value(
                        &arrays[0],
                        &args.arg_fields[0],
                        r,
                    )?))
                });
            }
            return Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))));
        }
        let texts: Vec<ArrayRef> = arrays
            .iter()
            .map(|a| datafusion::arrow::compute::cast(a, &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let get = |i: usize, r: usize| -> Option<String> {
            let s = texts.get(i)?.as_string::<i32>();
            (!s.is_null(r)).then(|| s.value(r).to_string())
        };
        let out: ArrayRef = match self.op {
            Op::Get { text, path } => {
                let mut out = Vec::with_capacity(n);
                for r in 0..n {
                    let (Some(doc), Some(key)) = (get(0, r), get(1, r)) else {
                        out.push(None);
                        continue;
                    };
                    let v = parse(&doc)?;
                    let found = if path {
                        path_parts(&key).iter().try_fold(&v, |v, k| step(v, k))
                    } else {
                        step(&v, &key)
                    };
                    out.push(found.and_then(|f| as_text(f, text)));
                }
                Arc::new(StringArray::from(out))
            }
            Op::Contains | Op::ContainedBy | Op::Exists => {
                let mut out = Vec::with_capacity(n);
                for r in 0..n {
                    let (Some(a), Some(b)) = (get(0, r), get(1, r)) else {
                        out.push(None);
                        continue;
                    };
                    let a = parse(&a)?;
                    out.push(Some(match self.op {
                        Op::Contains => contains(&a, &parse(&b)?, true),
                        Op::ContainedBy => contains(&parse(&b)?, &a, true),
                        _ => match &a {
                            Value::Object(m) => m.contains_key(&b),
                            Value::Array(x) => x.iter().any(|e| e.as_str() == Some(b.as_str())),
                            Value::String(s) => *s == b,
                            _ => false,
                        },
                    }));
                }
                Arc::new(BooleanArray::from(out))
            }
            Op::PathFirst | Op::PathExists => {
                let mut first = Vec::with_capacity(n);
                let mut exists = Vec::with_capacity(n);
                for r in 0..n {
                    let (Some(doc), Some(path)) = (get(0, r), get(1, r)) else {
                        first.push(None);
                        exists.push(None);
                        continue;
                    };
                    let found = json_path(&parse(&doc)?, &path).map_err(df)?;
                    exists.push(Some(!found.is_empty()));
                    first.push(found.first().map(|v| jsonb_text(v)));
                }
                if self.op == Op::PathExists {
                    Arc::new(BooleanArray::from(exists))
                } else {
                    Arc::new(StringArray::from(first))
                }
            }
            Op::TypeOf => {
                let mut out = Vec::with_capacity(n);
                for r in 0..n {
                    out.push(match get(0, r) {
                        None => None,
                        Some(d) => Some(
                            match parse(&d)? {
                                Value::Object(_) => "object",
                                Value::Array(_) => "array",
                                Value::String(_) => "string",
                                Value::Number(_) => "number",
                                Value::Bool(_) => "boolean",
                                Value::Null => "null",
                            }
                            .to_string(),
                        ),
                    });
                }
                Arc::new(StringArray::from(out))
            }
            Op::ArrayLength => {
                let mut out = Vec::with_capacity(n);
                for r in 0..n {
                    out.push(match get(0, r) {
                        None => None,
                        Some(d) => match parse(&d)? {
                            Value::Array(a) => Some(a.len() as i32),
                            Value::Object(_) => {
                                return Err(df(PgError::new(
                                    codes::INVALID_PARAMETER_VALUE,
                                    "cannot get array length of a non-array",
                                )));
                            }
                            _ => {
                                return Err(df(PgError::new(
                                    codes::INVALID_PARAMETER_VALUE,
                                    "cannot get array length of a scalar",
                                )));
                            }
                        },
                    });
                }
                Arc::new(Int32Array::from(out))
            }
            Op::Set => {
                let mut out = Vec::with_capacity(n);
                for r in 0..n {
                    let (Some(doc), Some(p), Some(new)) = (get(0, r), get(1, r), get(2, r)) else {
                        out.push(None);
                        continue;
                    };
                    let mut v = parse(&doc)?;
                    let new = parse(&new)?;
                    let parts = path_parts(&p);
                    if let Some((last, head)) = parts.split_last() {
                        let mut at = Some(&mut v);
                        for k in head {
                            at = at.and_then(|x| match x {
                                Value::Object(m) => m.get_mut(k),
                                Value::Array(a) => {
                                    k.parse::<usize>().ok().and_then(move |i| a.get_mut(i))
                                }
                                _ => None,
                            });
                        }
                        match at {
                            Some(Value::Object(m)) => {
                                m.insert(last.clone(), new);
                            }
                            Some(Value::Array(a)) => {
                                if let Some(slot) =
                                    last.parse::<usize>().ok().and_then(|i| a.get_mut(i))
                                {
                                    *slot = new;
                                }
                            }
                            _ => {}
                        }
                    }
                    out.push(Some(jsonb_text(&v)));
                }
                Arc::new(StringArray::from(out))
            }
            Op::In => {
                let mut out = Vec::with_capacity(n);
                for r in 0..n {
                    let (Some(text), Some(kind)) = (get(0, r), get(1, r)) else {
                        out.push(None);
                        continue;
                    };
                    let v = parse(&text)?;
                    out.push(Some(if kind == "jsonb" {
                        jsonb_text(&v)
                    } else {
                        text
                    }));
                }
                Arc::new(StringArray::from(out))
            }
            Op::BuildObject | Op::ToJson => unreachable!("answered above"),
        };
        Ok(ColumnarValue::Array(out))
    }
}

fn udf(name: &'static str, op: Op, signature: Signature) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(JsonFn {
        name,
        op,
        signature,
    }))
}

/// The JSON functions, to register in a session.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    let any = |n| Signature::any(n, Volatility::Immutable);
    vec![
        udf(
            "grape_json_get",
            Op::Get {
                text: false,
                path: false,
            },
            any(2),
        ),
        udf(
            "grape_json_get_text",
            Op::Get {
                text: true,
                path: false,
            },
            any(2),
        ),
        udf(
            "grape_json_path",
            Op::Get {
                text: false,
                path: true,
            },
            any(2),
        ),
        udf(
            "grape_json_path_text",
            Op::Get {
                text: true,
                path: true,
            },
            any(2),
        ),
        udf("grape_json_contains", Op::Contains, any(2)),
        udf("grape_json_contained", Op::ContainedBy, any(2)),
        udf("grape_json_exists", Op::Exists, any(2)),
        udf("jsonb_typeof", Op::TypeOf, any(1)),
        udf("json_typeof", Op::TypeOf, any(1)),
        udf("jsonb_array_length", Op::ArrayLength, any(1)),
        udf("json_array_length", Op::ArrayLength, any(1)),
        udf(
            "jsonb_build_object",
            Op::BuildObject,
            Signature::variadic_any(Volatility::Immutable),
        ),
        udf(
            "json_build_object",
            Op::BuildObject,
            Signature::variadic_any(Volatility::Immutable),
        ),
        udf("jsonb_set", Op::Set, any(3)),
        udf("grape_json_in", Op::In, any(2)),
        udf("to_jsonb", Op::ToJson, any(1)),
        udf("to_json", Op::ToJson, any(1)),
        udf("jsonb_path_query_first", Op::PathFirst, any(2)),
        udf("jsonb_path_exists", Op::PathExists, any(2)),
    ]
}

/// A SQL value as JSON for to_jsonb: rows (structs) become objects,
/// arrays arrays, the rest as `jsonb_build_object` reads its values.
fn to_json_value(a: &ArrayRef, f: &Field, row: usize) -> Result<Value> {
    use datafusion::arrow::array::AsArray;
    if a.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match a.data_type() {
        DataType::Struct(fields) => {
            let st = a.as_struct();
            let mut m = serde_json::Map::new();
            for (i, (field, col)) in fields.iter().zip(st.columns()).enumerate() {
                // ROW(...) fields are c0, c1... to DataFusion, f1, f2... to PostgreSQL.
                let name = match field.name().strip_prefix('c') {
                    Some(d) if d.parse::<usize>() == Ok(i) => format!("f{}", i + 1),
                    _ => field.name().clone(),
                };
                m.insert(name, to_json_value(col, field, row)?);
            }
            Value::Object(m)
        }
        DataType::List(item) => {
            let items = a.as_list::<i32>().value(row);
            (0..items.len())
                .map(|i| to_json_value(&items, item, i))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array)?
        }
        _ => sql_to_json(a, f, row)?,
    })
}

/// The values a jsonpath selects from `doc`, in lax mode (members of an
/// array's objects, a non-array as a one-element array): `$`, `.key`,
/// `."key"`, `.*`, `[n]`, `[n, m]`, `[*]`, `last`. Filters, methods and
/// arithmetic are 0A000.
fn json_path(doc: &Value, path: &str) -> std::result::Result<Vec<Value>, PgError> {
    let unsupported = || {
        PgError::new(
            codes::FEATURE_NOT_SUPPORTED,
            format!("jsonpath \"{path}\" is not supported (member and element accessors only)"),
        )
    };
    let mut p = path.trim();
    for mode in ["lax ", "strict "] {
        if let Some(rest) = p.strip_prefix(mode) {
            p = rest.trim_start();
        }
    }
    let mut p = p.strip_prefix('$').ok_or_else(unsupported)?;
    let mut cur = vec![doc.clone()];
    while !p.is_empty() {
        p = p.trim_start();
        if let Some(rest) = p.strip_prefix(".*") {
            cur = cur
                .iter()
                .flat_map(|v| match v {
                    Value::Object(m) => m.values().cloned().collect::<Vec<_>>(),
                    _ => vec![],
                })
                .collect();
            p = rest;
        } else if let Some(rest) = p.strip_prefix('.') {
            let (key, after) = if let Some(q) = rest.strip_prefix('"') {
                let end = q.find('"').ok_or_else(unsupported)?;
                (q[..end].to_string(), &q[end + 1..])
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if end == 0 {
                    return Err(unsupported());
                }
                (rest[..end].to_string(), &rest[end..])
            };
            let member = |v: &Value| match v {
                Value::Object(m) => m.get(&key).cloned(),
                _ => None,
            };
            cur = cur
                .iter()
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().filter_map(member).collect::<Vec<_>>(),
                    other => member(other).into_iter().collect(),
                })
                .collect();
            p = after;
        } else if let Some(rest) = p.strip_prefix('[') {
            let end = rest.find(']').ok_or_else(unsupported)?;
            let inner = rest[..end].trim();
            let mut next = Vec::new();
            for v in &cur {
                let items: Vec<Value> = match v {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                if inner == "*" {
                    next.extend(items);
                    continue;
                }
                for part in inner.split(',') {
                    let part = part.trim();
                    let i = if part == "last" {
                        items.len() as i64 - 1
                    } else {
                        part.parse::<i64>().map_err(|_| unsupported())?
                    };
                    if let Some(x) = usize::try_from(i).ok().and_then(|i| items.get(i)) {
                        next.push(x.clone());
                    }
                }
            }
            cur = next;
            p = &rest[end + 1..];
        } else {
            return Err(unsupported());
        }
    }
    Ok(cur)
}

/// What a set-returning JSON function yields, as a list per row (the
/// SQL rewrite unnests it: `sql::rewrite::table_functions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Part {
    /// An object's keys, in jsonb's key order (jsonb_object_keys).
    Keys,
    /// An array's elements as jsonb (jsonb_array_elements), or as text
    /// (`_text`: strings unquoted, JSON null as NULL).
    Elements { text: bool },
    /// An object's values in key order (jsonb_each's second column).
    Values { text: bool },
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonSrf {
    name: &'static str,
    part: Part,
    signature: Signature,
}

/// The list function a set-returning JSON function's column unnests:
/// `(function, column) → list function`, `None` when it is not one.
pub fn srf_lists(name: &str) -> Option<&'static [(&'static str, &'static str)]> {
    Some(match name {
        "jsonb_object_keys" | "json_object_keys" => &[("grape_json_keys", "")],
        "jsonb_array_elements" | "json_array_elements" => &[("grape_json_elements", "value")],
        "jsonb_array_elements_text" | "json_array_elements_text" => {
            &[("grape_json_elements_text", "value")]
        }
        "jsonb_each" | "json_each" => &[("grape_json_keys", "key"), ("grape_json_values", "value")],
        "jsonb_each_text" | "json_each_text" => &[
            ("grape_json_keys", "key"),
            ("grape_json_values_text", "value"),
        ],
        _ => return None,
    })
}

impl ScalarUDFImpl for JsonSrf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        let item = match self.part {
            Part::Keys | Part::Elements { text: true } | Part::Values { text: true } => {
                Field::new("item", DataType::Utf8, true)
            }
            _ => jsonb_field("item"),
        };
        Ok(DataType::List(Arc::new(item)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{ListBuilder, StringBuilder};
        let n = args.number_rows;
        let a = args.args[0].to_array(n)?;
        let mut b = ListBuilder::new(StringBuilder::new());
        if let DataType::List(f) = self.return_type(&[])? {
            b = b.with_field(f);
        }
        let what = |v: &Value| match v {
            Value::Object(_) => "an object",
            Value::Array(_) => "an array",
            _ => "a scalar",
        };
        for r in 0..n {
            if a.is_null(r) {
                b.append(false);
                continue;
            }
            let v = parse(&datafusion::arrow::util::display::array_value_to_string(
                &a, r,
            )?)?;
            let fail = |verb: &str| {
                df(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!("cannot call {} on {}", verb, what(&v)),
                ))
            };
            match (self.part, &v) {
                (Part::Keys, Value::Object(m)) | (Part::Values { .. }, Value::Object(m)) => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
                    for k in keys {
                        match self.part {
                            Part::Keys => b.values().append_value(k),
                            Part::Values { text } => b.values().append_option(as_text(&m[k], text)),
                            _ => unreachable!(),
                        }
                    }
                }
                (Part::Elements { text }, Value::Array(items)) => {
                    for x in items {
                        b.values().append_option(as_text(x, text));
                    }
                }
                (Part::Keys, _) => return Err(fail("jsonb_object_keys")),
                (Part::Values { .. }, _) => return Err(fail("jsonb_each")),
                (Part::Elements { .. }, Value::Object(_)) => {
                    return Err(df(PgError::new(
                        codes::INVALID_PARAMETER_VALUE,
                        "cannot extract elements from an object",
                    )));
                }
                (Part::Elements { .. }, _) => {
                    return Err(df(PgError::new(
                        codes::INVALID_PARAMETER_VALUE,
                        "cannot extract elements from a scalar",
                    )));
                }
            }
            b.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

/// The list functions behind the set-returning JSON functions.
pub fn srf_functions() -> Vec<ScalarUDF> {
    [
        ("grape_json_keys", Part::Keys),
        ("grape_json_elements", Part::Elements { text: false }),
        ("grape_json_elements_text", Part::Elements { text: true }),
        ("grape_json_values", Part::Values { text: false }),
        ("grape_json_values_text", Part::Values { text: true }),
    ]
    .into_iter()
    .map(|(name, part)| {
        ScalarUDF::new_from_impl(JsonSrf {
            name,
            part,
            signature: Signature::any(1, Volatility::Immutable),
        })
    })
    .collect()
}

/// Plans the JSON operators as calls of the functions above.
#[derive(Debug, Default)]
pub struct JsonPlanner;

impl ExprPlanner for JsonPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let name = match &expr.op {
            BinaryOperator::Arrow => "grape_json_get",
            BinaryOperator::LongArrow => "grape_json_get_text",
            BinaryOperator::HashArrow => "grape_json_path",
            BinaryOperator::HashLongArrow => "grape_json_path_text",
            BinaryOperator::Question => "grape_json_exists",
            BinaryOperator::AtArrow | BinaryOperator::ArrowAt => {
                // Arrays have their own @> and <@.
                let is_list = |e: &Expr| {
                    matches!(
                        e.get_type(schema),
                        Ok(DataType::List(_)
                            | DataType::LargeList(_)
                            | DataType::FixedSizeList(..))
                    )
                };
                if is_list(&expr.left) || is_list(&expr.right) {
                    return Ok(PlannerResult::Original(expr));
                }
                if expr.op == BinaryOperator::AtArrow {
                    "grape_json_contains"
                } else {
                    "grape_json_contained"
                }
            }
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let f = functions()
            .into_iter()
            .find(|f| f.name() == name)
            .expect("registered above");
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(f, vec![expr.left, expr.right]),
        )))
    }
}
