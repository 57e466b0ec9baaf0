//! Array values written as text, `'{1,2,3}'::real[]` and
//! `CAST('{"[1,2]","[3,4]"}' AS vector[])`: PostgreSQL's array input
//! format ([`crate::types::array_text`]) parsed here into `ARRAY[...]` of
//! the element type, since DataFusion casts no string to a list.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Array, ArrayElemTypeDef, CastKind, DataType, Expr, Statement, Value, visit_expressions_mut,
};

use crate::error::PgResult;
use crate::types::array_text::{Elem, parse};

/// `ARRAY[...]` of `elems`, each text element cast to `elem_type`.
fn array_expr(elems: Vec<Elem>, elem_type: &DataType) -> Expr {
    Expr::Array(Array {
        elem: elems
            .into_iter()
            .map(|e| match e {
                Elem::Null => Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(Expr::value(Value::Null)),
                    data_type: elem_type.clone(),
                    array: false,
                    format: None,
                },
                Elem::Text(t) => Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(Expr::value(Value::SingleQuotedString(t))),
                    data_type: elem_type.clone(),
                    array: false,
                    format: None,
                },
                Elem::Nested(inner) => array_expr(inner, elem_type),
            })
            .collect(),
        named: true,
    })
}

/// The element type of an array type (`real[]`, `real[][]`: `real`).
fn element_type(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(inner, _)
            | ArrayElemTypeDef::AngleBracket(inner)
            | ArrayElemTypeDef::Parenthesis(inner),
        ) => Some(element_type(inner).unwrap_or(inner)),
        _ => None,
    }
}

/// The text of a string constant: `'...'`, `E'...'` or `$$...$$`.
pub fn string_literal(v: &Value) -> Option<&str> {
    match v {
        Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
        Value::DollarQuotedString(d) => Some(&d.value),
        _ => None,
    }
}

pub fn rewrite(stmt: &mut Statement) -> PgResult<()> {
    let mut err = None;
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            // `CAST(('{1,2}') AS int[])` (UPDATE's assignments) too.
            let mut lit = expr.as_ref();
            while let Expr::Nested(inner) = lit {
                lit = inner;
            }
            if let (Some(elem), Expr::Value(v)) = (element_type(data_type), lit) {
                if let Some(s) = string_literal(&v.value) {
                    match parse(s) {
                        // The cast stays around the array: it types `{}`.
                        Ok(elems) => *expr = Box::new(array_expr(elems, elem)),
                        Err(e) => {
                            err = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cast_of_array_text_becomes_an_array() {
        let mut stmt = crate::sql::parse("SELECT '{1,NULL}'::real[], 'x'::text")
            .unwrap()
            .pop()
            .unwrap();
        rewrite(&mut stmt).unwrap();
        assert_eq!(
            stmt.to_string(),
            "SELECT ARRAY['1'::REAL, NULL::REAL]::REAL[], 'x'::TEXT"
        );
    }
}
