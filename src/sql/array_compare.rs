//! An array compared with a string constant, `polroles = '{0}'` (psql's
//! `\d` and `\dp` send it): PostgreSQL reads the constant as an array of
//! the other side's type; DataFusion finds no common type for a list and
//! a string. A planner for binary operators reads the constant in
//! PostgreSQL's array input format into a list literal of that type.

use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use crate::types::array_text::{Elem, parse};

#[derive(Debug)]
pub struct ArrayTextPlanner;

/// `text` as a list literal with elements of type `item` (one dimension).
fn list_literal(text: &str, item: &DataType) -> Result<Option<ScalarValue>> {
    let elems = parse(text).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut values: Vec<Option<String>> = Vec::new();
    for e in elems {
        match e {
            Elem::Null => values.push(None),
            Elem::Text(t) => values.push(Some(t)),
            Elem::Nested(_) => return Ok(None),
        }
    }
    let strings: Arc<dyn Array> = Arc::new(StringArray::from(values));
    // A value that does not read as the element type is an error, as in
    // PostgreSQL (22P02), not a NULL.
    let typed = datafusion::arrow::compute::cast_with_options(
        &strings,
        item,
        &datafusion::arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        },
    )
    .map_err(|e| {
        DataFusionError::External(Box::new(crate::error::PgError::new(
            crate::error::codes::INVALID_TEXT_REPRESENTATION,
            format!("malformed array literal: \"{text}\" ({e})"),
        )))
    })?;
    Ok(Some(ScalarValue::List(Arc::new(
        datafusion::arrow::array::ListArray::new(
            Arc::new(datafusion::arrow::datatypes::Field::new(
                "item",
                item.clone(),
                true,
            )),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([typed.len()]),
            typed,
            None,
        ),
    ))))
}

impl ExprPlanner for ArrayTextPlanner {
    fn plan_binary_op(
        &self,
        mut expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let comparison = matches!(
            expr.op,
            BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::AtArrow
                | BinaryOperator::ArrowAt
                | BinaryOperator::PGOverlap
        );
        if !comparison {
            return Ok(PlannerResult::Original(expr));
        }
        let text = |e: &Expr| match e {
            Expr::Literal(ScalarValue::Utf8(Some(s)), _) => Some(s.clone()),
            _ => None,
        };
        let item = |e: &Expr| match e.get_type(schema).ok()? {
            DataType::List(f) => Some(f.data_type().clone()),
            _ => None,
        };
        if let (Some(t), Some(item)) = (text(&expr.right), item(&expr.left))
            && let Some(v) = list_literal(&t, &item)?
        {
            expr.right = Expr::Literal(v, None);
        } else if let (Some(t), Some(item)) = (text(&expr.left), item(&expr.right))
            && let Some(v) = list_literal(&t, &item)?
        {
            expr.left = Expr::Literal(v, None);
        }
        Ok(PlannerResult::Original(expr))
    }
}
