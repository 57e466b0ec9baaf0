//! PostgreSQL's bit-string operators and functions: `&`, `|`, `#`, `<<`,
//! `>>` (planned by [`super::VectorPlanner`] when an operand is a bit
//! string), `~` (integers too: `sql::rewrite` turns the prefix operator
//! into [`NOT_FN`]), `get_bit`, `set_bit` and `bit_count`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int32Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::values::*;
use crate::types::vector_arrow;
use crate::vector::Kind;

/// The function `~x` becomes.
pub const NOT_FN: &str = "grape_bit_not";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    /// `&`, `|` or `#` of two bit strings of one length.
    Combine(char),
    /// `<<` (`>>` is a negative shift).
    Shift {
        right: bool,
    },
    Not,
    GetBit,
    SetBit,
    Count,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BitFn {
    name: &'static str,
    op: Op,
    signature: Signature,
}

/// The operator's function for a bit string operand (`&` → its name).
pub fn operator_fn(op: &str) -> Option<&'static str> {
    Some(match op {
        "&" => "grape_bit_and",
        "|" => "grape_bit_or",
        "#" => "grape_bit_xor",
        "<<" => "grape_bit_shl",
        ">>" => "grape_bit_shr",
        _ => return None,
    })
}

pub fn all() -> Vec<ScalarUDF> {
    [
        ("grape_bit_and", Op::Combine('&')),
        ("grape_bit_or", Op::Combine('|')),
        ("grape_bit_xor", Op::Combine('#')),
        ("grape_bit_shl", Op::Shift { right: false }),
        ("grape_bit_shr", Op::Shift { right: true }),
        (NOT_FN, Op::Not),
        ("get_bit", Op::GetBit),
        ("set_bit", Op::SetBit),
        ("bit_count", Op::Count),
    ]
    .into_iter()
    .map(|(name, op)| {
        ScalarUDF::new_from_impl(BitFn {
            name,
            op,
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    })
    .collect()
}

fn is_int(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

impl BitFn {
    fn arity(&self) -> usize {
        match self.op {
            Op::Not | Op::Count => 1,
            Op::SetBit => 3,
            _ => 2,
        }
    }
}

impl ScalarUDFImpl for BitFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(
            "use return_field_from_args".into(),
        ))
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let fields = args.arg_fields;
        if fields.len() != self.arity() {
            return Err(super::udf::undefined(self.name, &type_names(fields)));
        }
        // `~` of an integer is the integer's bitwise NOT.
        if self.op == Op::Not && is_int(fields[0].data_type()) {
            return Ok(Arc::new(Field::new(
                self.name,
                fields[0].data_type().clone(),
                true,
            )));
        }
        let bits_first = kind_of(&fields[0]) == Some(Kind::Bit) || is_text(fields[0].data_type());
        if !bits_first {
            return Err(super::udf::undefined(self.name, &type_names(fields)));
        }
        Ok(Arc::new(match self.op {
            Op::GetBit => Field::new(self.name, DataType::Int32, true),
            Op::Count => Field::new(self.name, DataType::Int64, true),
            _ => vector_arrow::field(Kind::Bit, self.name),
        }))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let fields = &args.arg_fields;
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if scalar { 1 } else { n };
        let out: ArrayRef = if self.op == Op::Not && is_int(fields[0].data_type()) {
            let a =
                datafusion::arrow::compute::cast(&args.args[0].to_array(rows)?, &DataType::Int64)?;
            let a = a
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Internal("int8".into()))?;
            let not: Int64Array = a.iter().map(|v| v.map(|v| !v)).collect();
            datafusion::arrow::compute::cast(&not, fields[0].data_type())?
        } else {
            let a = Values::new(&args.args[0], &fields[0], Kind::Bit)?;
            let b = match self.op {
                Op::Combine(_) => Some(Values::new(&args.args[1], &fields[1], Kind::Bit)?),
                _ => None,
            };
            let bits = |i: usize| match a.get(i) {
                Some(Val::Bits(b)) => Some(b),
                _ => None,
            };
            match self.op {
                Op::GetBit => {
                    let mut out = Vec::with_capacity(rows);
                    for i in 0..rows {
                        out.push(match (bits(i), scalar_i64(&args.args[1], i)) {
                            (Some(b), Some(k)) => Some(b.bit_at(k).map_err(pg)? as i32),
                            _ => None,
                        });
                    }
                    Arc::new(Int32Array::from(out))
                }
                Op::Count => Arc::new(Int64Array::from(
                    (0..rows)
                        .map(|i| bits(i).map(|b| b.count_ones()))
                        .collect::<Vec<_>>(),
                )),
                _ => {
                    let mut out = Vec::with_capacity(rows);
                    for i in 0..rows {
                        let Some(x) = bits(i) else {
                            out.push(None);
                            continue;
                        };
                        let v = match self.op {
                            Op::Combine(c) => match b.as_ref().and_then(|b| b.get(i)) {
                                Some(Val::Bits(y)) => Some(x.combine(&y, c).map_err(pg)?),
                                _ => None,
                            },
                            Op::Shift { right } => scalar_i64(&args.args[1], i)
                                .map(|k| x.shift_left(if right { k.saturating_neg() } else { k })),
                            Op::Not => Some(x.not()),
                            Op::SetBit => {
                                match (scalar_i64(&args.args[1], i), scalar_i64(&args.args[2], i)) {
                                    (Some(k), Some(v)) => {
                                        if v != 0 && v != 1 {
                                            return Err(pg(crate::error::PgError::new(
                                                "22023",
                                                "new bit must be 0 or 1",
                                            )));
                                        }
                                        Some(x.with_bit(k, v == 1).map_err(pg)?)
                                    }
                                    _ => None,
                                }
                            }
                            _ => None,
                        };
                        out.push(v.map(Val::Bits));
                    }
                    build(Kind::Bit, out)
                }
            }
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
}
