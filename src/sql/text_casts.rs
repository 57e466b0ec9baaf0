//! Casts to text in PostgreSQL's text forms. Arrow's cast writes floats,
//! timestamps, times and arrays its own way (`15000000000.0`,
//! `2024-01-01T10:00:00`, `[1, 2]`); PostgreSQL writes them as it prints
//! them (`15000000000`, `2024-01-01 10:00:00`, `{1,2}`). An analyzer rule
//! (after type coercion, so every cast is explicit) turns such casts into
//! `grape_text(x)`, which writes the same text the wire does.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::optimizer::utils::NamePreserver;

use crate::format::{Zone, pg_float_text, pg_time_text, pg_timestamp_text};

/// Whether Arrow's text for values of this type differs from PostgreSQL's.
fn needs_pg_text(t: &DataType) -> bool {
    match t {
        DataType::Float32 | DataType::Float64 | DataType::Timestamp(..) | DataType::Time64(_) => {
            true
        }
        DataType::Decimal128(38, s) => *s == crate::types::NUMERIC_DEFAULT_SCALE,
        DataType::List(f) => is_scalar_element(f.data_type()),
        _ => false,
    }
}

/// Element types whose arrays are written here (arrays of vectors and
/// other binary-backed types keep their own casts).
fn is_scalar_element(t: &DataType) -> bool {
    match t {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Utf8
        | DataType::Utf8View
        | DataType::LargeUtf8
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Time64(_) => true,
        DataType::List(f) => is_scalar_element(f.data_type()),
        _ => false,
    }
}

/// The analyzer rule (see the module's comment).
#[derive(Debug, Default)]
pub struct PgTextCasts;

impl AnalyzerRule for PgTextCasts {
    fn name(&self) -> &str {
        "grape_pg_text_casts"
    }
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        // timestamptz is written in the session's time zone.
        let zone: Option<Arc<str>> = config.execution.time_zone.as_deref().map(Arc::from);
        rewrite_plan_exprs(plan, |_, schema, e| {
            e.transform_up(|x| rewrite(x, schema, &zone))
        })
    }
}

/// Rewrite every top-level expression of every plan node (subqueries
/// too) with `f(is_sort, input schema, expr)`, keeping the names the nodes
/// above refer to, and recompute each node's schema (a rewritten
/// expression's field may lose or gain metadata: a vector kind, an enum).
pub(super) fn rewrite_plan_exprs(
    plan: LogicalPlan,
    f: impl Fn(bool, &DFSchema, Expr) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let schema = input_schema(&node);
        let is_sort = matches!(node, LogicalPlan::Sort(_));
        let node = map_keeping_names(node, |e| f(is_sort, &schema, e))?;
        let transformed = node.transformed;
        let plan = node.data.recompute_schema()?;
        Ok(Transformed::new_transformed(plan, transformed))
    })
    .map(|t| t.data)
}

/// Rewrite each top-level expression of `node` with `f`, keeping the
/// names the nodes above refer to. A grouping set keeps its own
/// expressions' names (an alias around the set would make it a plain
/// expression).
pub(super) fn map_keeping_names(
    node: LogicalPlan,
    mut f: impl FnMut(Expr) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let names = NamePreserver::new(&node);
    let mut rewrite = |e: Expr| {
        let saved = names.save(&e);
        let t = f(e)?;
        Ok(if t.transformed {
            Transformed::yes(saved.restore(t.data))
        } else {
            t
        })
    };
    node.map_expressions(|e| {
        if let Expr::GroupingSet(_) = &e {
            e.map_children(&mut rewrite)
        } else {
            rewrite(e)
        }
    })
}

/// The schema a plan node's expressions are typed against: its inputs'
/// (also the enum rewrite's, `sql::enums`).
pub(super) fn input_schema(node: &LogicalPlan) -> DFSchema {
    let inputs = node.inputs();
    let Some(first) = inputs.first() else {
        return node.schema().as_ref().clone();
    };
    let mut s = first.schema().as_ref().clone();
    for i in &inputs[1..] {
        s.merge(i.schema());
    }
    s
}

fn rewrite(e: Expr, schema: &DFSchema, zone: &Option<Arc<str>>) -> Result<Transformed<Expr>> {
    let Expr::Cast(c) = &e else {
        return Ok(Transformed::no(e));
    };
    // Text to a date or timestamp: PostgreSQL's input rules.
    if matches!(
        c.field.data_type(),
        DataType::Date32 | DataType::Timestamp(..)
    ) && c
        .expr
        .get_type(schema)
        .is_ok_and(|t| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8))
    {
        let Expr::Cast(c) = e else { unreachable!() };
        let call = super::timestamps::DatetimeIn::call(c.field.data_type(), zone.clone(), *c.expr)
            .expect("a datetime type");
        // The unit the plan expects (the call reads microseconds).
        return Ok(Transformed::yes(Expr::Cast(
            datafusion::logical_expr::expr::Cast::new_from_field(Box::new(call), c.field),
        )));
    }
    if !matches!(c.field.data_type(), DataType::Utf8 | DataType::Utf8View) {
        return Ok(Transformed::no(e));
    }
    let Ok((_, from)) = c.expr.to_field(schema) else {
        return Ok(Transformed::no(e));
    };
    // Vectors (lists of floats, bytes) have pgvector's text forms.
    let vector = crate::types::vector_arrow::field_kind(&from);
    if vector.is_none() && !needs_pg_text(from.data_type()) {
        return Ok(Transformed::no(e));
    }
    let Expr::Cast(c) = e else { unreachable!() };
    let call = Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(PgText {
            to: c.field.data_type().clone(),
            vector,
            zone: zone.clone(),
            signature: Signature::any(1, Volatility::Immutable),
        })),
        vec![*c.expr],
    ));
    Ok(Transformed::yes(call))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgText {
    to: DataType,
    vector: Option<crate::vector::Kind>,
    /// The session's time zone, for timestamptz.
    zone: Option<Arc<str>>,
    signature: Signature,
}

impl ScalarUDFImpl for PgText {
    fn name(&self) -> &str {
        "grape_text"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.to.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = &args.args[0];
        let array = value.to_array(args.number_rows.max(1))?;
        let text: StringArray = match self.vector {
            Some(kind) => crate::types::vector_arrow::text_array(kind, &array)
                .map_err(|e| datafusion::common::DataFusionError::External(Box::new(e)))?,
            None => self.texts(&array)?,
        };
        super::timestamps::shaped_like(&[value], cast(&text, &self.to)?)
    }
}

impl PgText {
    fn texts(&self, array: &ArrayRef) -> Result<StringArray> {
        let mut array = in_microseconds(array)?;
        if let (DataType::Timestamp(u, Some(_)), Some(z)) = (array.data_type(), &self.zone) {
            array = cast(&array, &DataType::Timestamp(*u, Some(z.clone())))?;
        }
        let array = &array;
        (0..array.len())
            .map(|i| {
                if array.is_null(i) {
                    Ok(None)
                } else {
                    value_text(array, i, false).map(Some)
                }
            })
            .collect()
    }
}

/// Timestamps and times in microseconds (what PostgreSQL keeps), cast
/// once per array; other arrays as they are.
fn in_microseconds(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(match a.data_type() {
        DataType::Timestamp(u, tz) if *u != TimeUnit::Microsecond => {
            cast(a, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            cast(a, &DataType::Time64(TimeUnit::Microsecond))?
        }
        _ => a.clone(),
    })
}

/// PostgreSQL's text of row `i` of `a` (not NULL); `in_array` writes
/// booleans as `t`/`f`, as array output does.
fn value_text(a: &ArrayRef, i: usize, in_array: bool) -> Result<String> {
    Ok(match a.data_type() {
        DataType::Float64 => pg_float_text(
            a.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(i),
            false,
        ),
        DataType::Float32 => pg_float_text(
            a.as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                .value(i) as f64,
            true,
        ),
        DataType::Decimal128(_, s) => crate::format::pg_numeric_text(
            a.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>()
                .value(i),
            *s,
            *s == crate::types::NUMERIC_DEFAULT_SCALE,
        ),
        DataType::Boolean if in_array => {
            if a.as_boolean().value(i) { "t" } else { "f" }.to_string()
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let us = a
                .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                .value(i);
            pg_timestamp_text(us, tz.as_deref().map(|z| Zone::parse(z).offset_at(us)))
        }
        DataType::Time64(TimeUnit::Microsecond) => pg_time_text(
            a.as_primitive::<datafusion::arrow::datatypes::Time64MicrosecondType>()
                .value(i),
        ),
        DataType::List(_) => {
            let items = in_microseconds(&a.as_list::<i32>().value(i))?;
            let mut parts = Vec::with_capacity(items.len());
            for j in 0..items.len() {
                if items.is_null(j) {
                    parts.push("NULL".to_string());
                    continue;
                }
                let t = value_text(&items, j, true)?;
                let nested = matches!(items.data_type(), DataType::List(_));
                parts.push(if nested { t } else { quote_element(&t) });
            }
            format!("{{{}}}", parts.join(","))
        }
        _ => datafusion::arrow::util::display::array_value_to_string(a, i)?,
    })
}

/// An array element as PostgreSQL's array output writes it: in double
/// quotes (with `"` and `\` escaped) when empty, `NULL`, or holding
/// braces, commas, quotes, backslashes or white space.
fn quote_element(s: &str) -> String {
    let needs = s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.chars()
            .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
    if !needs {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
