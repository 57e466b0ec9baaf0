//! Enum types in queries. A value of an enum type is its label (Utf8)
//! whose field metadata names the type ([`crate::types::enum_metadata`]).
//! What PostgreSQL orders by declaration — `<`, `<=`, `>`, `>=`,
//! `BETWEEN`, `ORDER BY`, `min`, `max` — is rewritten in the logical plan
//! ([`order_by_declaration`]) to compare the labels' positions; equality
//! stays on the labels. Casts to an enum type (`'ok'::mood`) are
//! `grape_enum(type, value, labels...)` calls (see
//! `rewrite::enum_casts`), which check the label.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, BinaryExpr, ColumnarValue, Expr, ExprSchemable,
    LogicalPlan, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::catalog::{Catalog, EnumType};
use crate::error::{PgError, codes};
use crate::types::{PG_TYPE_KEY, enum_metadata, enum_of_field};

/// The function casts to an enum type become.
pub const ENUM_FN: &str = "grape_enum";

fn df(e: PgError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn invalid_label(type_name: &str, label: &str) -> DataFusionError {
    df(PgError::new(
        codes::INVALID_TEXT_REPRESENTATION,
        format!("invalid input value for enum {type_name}: \"{label}\""),
    ))
}

/// `grape_enum('schema.name', value, label, ...)`: the value as the enum
/// type, each label checked against the type's.
#[derive(Debug, PartialEq, Eq, Hash)]
struct EnumInput {
    signature: Signature,
}

fn scalar_text(v: &ColumnarValue) -> Option<String> {
    match v {
        ColumnarValue::Scalar(s) => s.try_as_str().flatten().map(str::to_string),
        ColumnarValue::Array(_) => None,
    }
}

impl ScalarUDFImpl for EnumInput {
    fn name(&self) -> &str {
        ENUM_FN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let key = args
            .scalar_arguments
            .first()
            .copied()
            .flatten()
            .and_then(|s| s.try_as_str().flatten())
            .unwrap_or_default();
        let (schema, name) = key.split_once('.').unwrap_or(("", key));
        Ok(Arc::new(
            Field::new(ENUM_FN, DataType::Utf8, true)
                .with_metadata([(PG_TYPE_KEY.to_string(), enum_metadata(schema, name))].into()),
        ))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let key = args.args.first().and_then(scalar_text).unwrap_or_default();
        let type_name = key.split_once('.').map_or(key.as_str(), |(_, n)| n);
        let labels: Vec<String> = args.args[2..].iter().filter_map(scalar_text).collect();
        let value = &args.args[1];
        let from = value.data_type();
        if !matches!(
            from,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
        ) {
            let from = crate::types::SqlType::from_field(&Field::new("", from.clone(), true))
                .map(|t| t.pg_name())
                .unwrap_or_else(|| from.to_string());
            return Err(df(PgError::new(
                codes::CANNOT_COERCE,
                format!("cannot cast type {from} to {type_name}"),
            )));
        }
        let array = value.to_array(args.number_rows.max(1))?;
        let array = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
        for v in array.as_string::<i32>().iter().flatten() {
            if !labels.iter().any(|l| l == v) {
                return Err(invalid_label(type_name, v));
            }
        }
        Ok(match value {
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
            }
            ColumnarValue::Array(_) => ColumnarValue::Array(array),
        })
    }
}

/// `enum_range`, `enum_first`, `enum_last`: the planner's rewrite puts
/// in the type's labels; reached with anything else, they do not exist
/// for that argument.
#[derive(Debug, PartialEq, Eq, Hash)]
struct EnumLabels {
    name: &'static str,
    signature: Signature,
}

impl ScalarUDFImpl for EnumLabels {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.name {
            "enum_range" => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            _ => DataType::Utf8,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arg = crate::types::SqlType::from_field(&args.arg_fields[0])
            .map(|t| t.pg_name())
            .unwrap_or_else(|| "unknown".into());
        Err(df(PgError::new(
            codes::UNDEFINED_FUNCTION,
            format!("function {}({arg}) does not exist", self.name),
        )
        .with_hint(
            "No function matches the given name and argument types. You might need to add explicit type casts.",
        )))
    }
}

/// The session functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    let mut out = vec![ScalarUDF::new_from_impl(EnumInput {
        signature: Signature::variadic_any(Volatility::Immutable),
    })];
    for name in ["enum_range", "enum_first", "enum_last"] {
        out.push(ScalarUDF::new_from_impl(EnumLabels {
            name,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
    out
}

/// A label's position in its type (what comparisons and sorting use).
#[derive(Debug, PartialEq, Eq, Hash)]
struct EnumOrder {
    type_name: String,
    labels: Arc<Vec<String>>,
    signature: Signature,
}

impl EnumOrder {
    fn expr(t: &EnumType, arg: Expr) -> Expr {
        let udf = ScalarUDF::new_from_impl(EnumOrder {
            type_name: t.name.clone(),
            labels: Arc::new(t.labels.clone()),
            signature: Signature::any(1, Volatility::Immutable),
        });
        Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), vec![arg]))
    }
}

impl ScalarUDFImpl for EnumOrder {
    fn name(&self) -> &str {
        "grape_enum_order"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let value = &args.args[0];
        let array = value.to_array(args.number_rows.max(1))?;
        let array = datafusion::arrow::compute::cast(&array, &DataType::Utf8)?;
        let positions: Int32Array = array
            .as_string::<i32>()
            .iter()
            .map(|v| match v {
                None => Ok(None),
                Some(v) => match self.labels.iter().position(|l| l == v) {
                    Some(p) => Ok(Some(p as i32)),
                    None => Err(invalid_label(&self.type_name, v)),
                },
            })
            .collect::<Result<_>>()?;
        Ok(match value {
            ColumnarValue::Scalar(_) => {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&positions, 0)?)
            }
            ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(positions)),
        })
    }
}

/// `min` and `max` of an enum column, by declaration order.
#[derive(Debug, PartialEq, Eq, Hash)]
struct EnumMinMax {
    max: bool,
    labels: Arc<Vec<String>>,
    signature: Signature,
}

impl AggregateUDFImpl for EnumMinMax {
    fn name(&self) -> &str {
        if self.max { "max" } else { "min" }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        Ok(Arc::new(
            arg_fields[0]
                .as_ref()
                .clone()
                .with_name(self.name())
                .with_nullable(true),
        ))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "value"),
            DataType::Utf8,
            true,
        ))])
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MinMaxAcc {
            max: self.max,
            positions: self
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect(),
            labels: self.labels.clone(),
            best: None,
        }))
    }
}

#[derive(Debug)]
struct MinMaxAcc {
    max: bool,
    positions: HashMap<String, usize>,
    labels: Arc<Vec<String>>,
    best: Option<usize>,
}

impl Accumulator for MinMaxAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = datafusion::arrow::compute::cast(&values[0], &DataType::Utf8)?;
        for v in array.as_string::<i32>().iter().flatten() {
            let Some(&p) = self.positions.get(v) else {
                continue;
            };
            self.best = Some(match self.best {
                Some(b) if self.max => b.max(p),
                Some(b) => b.min(p),
                None => p,
            });
        }
        Ok(())
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Utf8(self.best.map(|p| self.labels[p].clone())))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// The enum type of an expression, if it has one.
fn enum_type<'a>(e: &Expr, schema: &DFSchema, cat: &'a Catalog) -> Option<&'a EnumType> {
    let (_, f) = e.to_field(schema).ok()?;
    let (s, n) = enum_of_field(&f)?;
    cat.enum_type(&s, &n)
}

/// Rewrite a planned statement so that what PostgreSQL orders by an enum's
/// declaration does (see the module's comment). A no-op without enums.
pub fn order_by_declaration(plan: LogicalPlan, cat: &Catalog) -> Result<LogicalPlan> {
    if !cat.has_enums() {
        return Ok(plan);
    }
    super::text_casts::rewrite_plan_exprs(plan, |is_sort, schema, e| {
        let mut t = e.transform_up(|x| rewrite_expr(x, schema, cat))?;
        if is_sort {
            if let Some(ty) = enum_type(&t.data, schema, cat) {
                t = Transformed::yes(EnumOrder::expr(ty, t.data));
            }
        }
        Ok(t)
    })
}

fn rewrite_expr(e: Expr, schema: &DFSchema, cat: &Catalog) -> Result<Transformed<Expr>> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(
                op,
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
            ) =>
        {
            let (lt, rt) = (
                enum_type(&left, schema, cat),
                enum_type(&right, schema, cat),
            );
            let ty = match (lt, rt) {
                (Some(a), Some(b)) if a != b => {
                    return Err(df(PgError::new(
                        codes::UNDEFINED_FUNCTION,
                        format!("operator does not exist: {} {op} {}", a.name, b.name),
                    )));
                }
                (Some(t), _) | (None, Some(t)) => t,
                (None, None) => {
                    return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                        left,
                        op,
                        right,
                    })));
                }
            };
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left: Box::new(EnumOrder::expr(ty, *left)),
                op,
                right: Box::new(EnumOrder::expr(ty, *right)),
            })))
        }
        Expr::Between(mut b) => match enum_type(&b.expr, schema, cat) {
            Some(ty) => {
                b.expr = Box::new(EnumOrder::expr(ty, *b.expr));
                b.low = Box::new(EnumOrder::expr(ty, *b.low));
                b.high = Box::new(EnumOrder::expr(ty, *b.high));
                Ok(Transformed::yes(Expr::Between(b)))
            }
            None => Ok(Transformed::no(Expr::Between(b))),
        },
        // `m::text` is text: it sorts and compares as text.
        Expr::Cast(mut c)
            if c.field.name().is_empty()
                && c.field.metadata().is_empty()
                && matches!(c.field.data_type(), DataType::Utf8 | DataType::Utf8View)
                && enum_type(&c.expr, schema, cat).is_some() =>
        {
            c.field = Arc::new(Field::new("text", c.field.data_type().clone(), true));
            Ok(Transformed::yes(Expr::Cast(c)))
        }
        // `string_agg(x, ',' ORDER BY m)`: the ordering by declaration.
        Expr::AggregateFunction(mut a)
            if a.params
                .order_by
                .iter()
                .any(|s| enum_type(&s.expr, schema, cat).is_some()) =>
        {
            for s in &mut a.params.order_by {
                if let Some(ty) = enum_type(&s.expr, schema, cat) {
                    s.expr = EnumOrder::expr(ty, s.expr.clone());
                }
            }
            Ok(Transformed::yes(Expr::AggregateFunction(a)))
        }
        Expr::AggregateFunction(mut a)
            if matches!(a.func.name(), "min" | "max") && a.params.args.len() == 1 =>
        {
            match enum_type(&a.params.args[0], schema, cat) {
                Some(ty) => {
                    let udaf = AggregateUDF::new_from_impl(EnumMinMax {
                        max: a.func.name() == "max",
                        labels: Arc::new(ty.labels.clone()),
                        signature: Signature::any(1, Volatility::Immutable),
                    });
                    a.func = Arc::new(udaf);
                    Ok(Transformed::yes(Expr::AggregateFunction(
                        AggregateFunction {
                            func: a.func,
                            params: a.params,
                        },
                    )))
                }
                None => Ok(Transformed::no(Expr::AggregateFunction(a))),
            }
        }
        Expr::ScalarFunction(f)
            if matches!(f.func.name(), "enum_range" | "enum_first" | "enum_last")
                && f.args.len() == 1 =>
        {
            let Some(ty) = enum_type(&f.args[0], schema, cat) else {
                return Ok(Transformed::no(Expr::ScalarFunction(f)));
            };
            let meta: HashMap<String, String> =
                [(PG_TYPE_KEY.to_string(), enum_metadata(&ty.schema, &ty.name))].into();
            let label = |l: Option<&String>| {
                Expr::Literal(
                    ScalarValue::Utf8(l.cloned()),
                    Some(datafusion::common::metadata::FieldMetadata::from(
                        meta.clone(),
                    )),
                )
            };
            Ok(Transformed::yes(match f.func.name() {
                "enum_first" => label(ty.labels.first()),
                "enum_last" => label(ty.labels.last()),
                _ => {
                    let items: ArrayRef = Arc::new(StringArray::from(ty.labels.clone()));
                    Expr::Literal(
                        ScalarValue::List(Arc::new(datafusion::arrow::array::ListArray::new(
                            Arc::new(Field::new("item", DataType::Utf8, true)),
                            datafusion::arrow::buffer::OffsetBuffer::from_lengths([items.len()]),
                            items,
                            None,
                        ))),
                        None,
                    )
                }
            }))
        }
        other => Ok(Transformed::no(other)),
    }
}
