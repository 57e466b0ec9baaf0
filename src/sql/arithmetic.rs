//! Arithmetic that fails where PostgreSQL's does. DataFusion's `+`, `-`
//! and `*` wrap around on integer overflow and its float operators give
//! `inf` or `0`; PostgreSQL raises 22003 (`integer out of range`, `value
//! out of range: overflow`) and 22012 for a float divided by zero. An
//! analyzer rule (after type coercion, so both operands have one type)
//! turns integer and float `+ - * /` and integer negation into the checked
//! functions here; `checked_arithmetic` does the same for expressions
//! planned outside a statement (CHECK constraints, generated columns).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, Float32Type, Float64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::{PgError, codes};

/// The analyzer rule (see the module's comment).
#[derive(Debug, Default)]
pub struct PgArithmetic;

impl AnalyzerRule for PgArithmetic {
    fn name(&self) -> &str {
        "grape_pg_arithmetic"
    }
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::text_casts::rewrite_plan_exprs(plan, |_, schema, e| checked_arithmetic(e, schema))
    }
}

/// `e` with its integer and float arithmetic checked. The operands must
/// already be coerced to one type (DataFusion's type coercion).
pub fn checked_arithmetic(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    e.transform_up(|x| {
        let (op, left, right) = match x {
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if matches!(
                    op,
                    Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide
                ) =>
            {
                (op, *left, *right)
            }
            Expr::Negative(inner) => {
                let t = inner.get_type(schema)?;
                if !is_integer(&t) {
                    return Ok(Transformed::no(Expr::Negative(inner)));
                }
                let zero = Expr::Literal(ScalarValue::new_zero(&t)?, None);
                return Ok(Transformed::yes(call(Operator::Minus, zero, *inner)));
            }
            other => return Ok(Transformed::no(other)),
        };
        let (lt, rt) = (left.get_type(schema)?, right.get_type(schema)?);
        let checked = lt == rt && (is_float(&lt) || is_integer(&lt));
        if !checked {
            return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(left),
                op,
                Box::new(right),
            ))));
        }
        Ok(Transformed::yes(call(op, left, right)))
    })
}

/// `e` type-coerced over `schema` and then checked, for a physical
/// expression planned without the analyzer.
pub fn coerced_and_checked(
    options: Arc<ConfigOptions>,
    e: Expr,
    schema: &DFSchema,
) -> Result<Expr> {
    use datafusion::optimizer::simplify_expressions::{ExprSimplifier, SimplifyContext};
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(schema.clone()))
        .with_config_options(options)
        .build();
    let e = ExprSimplifier::new(context).coerce(e, schema)?;
    Ok(checked_arithmetic(e, schema)?.data)
}

fn is_integer(t: &DataType) -> bool {
    matches!(t, DataType::Int16 | DataType::Int32 | DataType::Int64)
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float32 | DataType::Float64)
}

fn call(op: Operator, left: Expr, right: Expr) -> Expr {
    let udf = match op {
        Operator::Plus => &*ADD,
        Operator::Minus => &*SUB,
        Operator::Multiply => &*MUL,
        _ => &*DIV,
    };
    Expr::ScalarFunction(ScalarFunction::new_udf(udf.clone(), vec![left, right]))
}

static ADD: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| udf(Op::Add));
static SUB: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| udf(Op::Sub));
static MUL: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| udf(Op::Mul));
static DIV: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| udf(Op::Div));

fn udf(op: Op) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Checked {
        op,
        signature: Signature::any(2, Volatility::Immutable),
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Op,
    signature: Signature,
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "grape_add",
            Op::Sub => "grape_sub",
            Op::Mul => "grape_mul",
            Op::Div => "grape_div",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { args.number_rows };
        let l = args.args[0].to_array(rows)?;
        let r = args.args[1].to_array(rows)?;
        let out = match l.data_type() {
            DataType::Float32 => self.float::<Float32Type>(&l, &r)?,
            DataType::Float64 => self.float::<Float64Type>(&l, &r)?,
            t => self.integer(&l, &r, t)?,
        };
        let refs: Vec<&ColumnarValue> = args.args.iter().collect();
        super::timestamps::shaped_like(&refs, out)
    }
}

impl Checked {
    /// Arrow's checked kernels fail on overflow and division by zero.
    fn integer(&self, l: &ArrayRef, r: &ArrayRef, t: &DataType) -> Result<ArrayRef> {
        let res = match self.op {
            Op::Add => numeric::add(l, r),
            Op::Sub => numeric::sub(l, r),
            Op::Mul => numeric::mul(l, r),
            Op::Div => numeric::div(l, r),
        };
        res.map_err(|e| match e {
            ArrowError::DivideByZero => pg(codes::DIVISION_BY_ZERO, "division by zero"),
            ArrowError::ArithmeticOverflow(_) => pg(
                codes::NUMERIC_VALUE_OUT_OF_RANGE,
                match t {
                    DataType::Int16 => "smallint out of range",
                    DataType::Int32 => "integer out of range",
                    _ => "bigint out of range",
                },
            ),
            other => DataFusionError::ArrowError(Box::new(other), None),
        })
    }

    /// PostgreSQL's float checks (float.h): a finite result of finite
    /// operands, zero only when an operand is, no division by zero.
    fn float<T: ArrowPrimitiveType>(&self, l: &ArrayRef, r: &ArrayRef) -> Result<ArrayRef>
    where
        T::Native: Into<f64>,
    {
        let (a, b) = (l.as_primitive::<T>(), r.as_primitive::<T>());
        for i in 0..a.len() {
            if self.op != Op::Div || a.is_null(i) || b.is_null(i) {
                continue;
            }
            let (x, y): (f64, f64) = (a.value(i).into(), b.value(i).into());
            // PostgreSQL's float8div: NaN / 0 is NaN.
            if y == 0.0 && !x.is_nan() {
                return Err(pg(codes::DIVISION_BY_ZERO, "division by zero"));
            }
        }
        let out = match self.op {
            Op::Add => numeric::add(l, r),
            Op::Sub => numeric::sub(l, r),
            Op::Mul => numeric::mul(l, r),
            Op::Div => numeric::div(l, r),
        }?;
        let o = out.as_primitive::<T>();
        for i in 0..o.len() {
            if o.is_null(i) {
                continue;
            }
            let (x, y, z): (f64, f64, f64) =
                (a.value(i).into(), b.value(i).into(), o.value(i).into());
            let overflow =
                z.is_infinite() && !x.is_infinite() && (self.op == Op::Div || !y.is_infinite());
            let underflow = z == 0.0
                && match self.op {
                    Op::Mul => x != 0.0 && y != 0.0,
                    Op::Div => x != 0.0 && !y.is_infinite(),
                    _ => false,
                };
            if overflow {
                return Err(pg(
                    codes::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: overflow",
                ));
            }
            if underflow {
                return Err(pg(
                    codes::NUMERIC_VALUE_OUT_OF_RANGE,
                    "value out of range: underflow",
                ));
            }
        }
        Ok(out)
    }
}

fn pg(code: &'static str, message: &'static str) -> DataFusionError {
    DataFusionError::External(Box::new(PgError::new(code, message)))
}
