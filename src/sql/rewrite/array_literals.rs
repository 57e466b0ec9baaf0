//! `ARRAY[x::T, '...', ...]`: PostgreSQL resolves an array constructor's
//! elements to one type, and an untyped literal next to a typed element
//! takes that element's type (`ARRAY['[1,2,3]'::vector, '[3,5,7]']` is a
//! `vector[]`). DataFusion would try to find a common type of a vector
//! and a string and fail, so the untyped literals get the cast written on
//! the first typed element.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{CastKind, Expr, Statement, Value, visit_expressions_mut};

pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Array(arr) = e {
            let typed = arr.elem.iter().find_map(|el| match el {
                Expr::Cast {
                    data_type, array, ..
                } => Some((data_type.clone(), *array)),
                _ => None,
            });
            if let Some((data_type, array)) = typed {
                for el in arr.elem.iter_mut() {
                    let untyped = matches!(
                        el,
                        Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_))
                    );
                    if untyped {
                        let lit = std::mem::replace(el, Expr::value(Value::Null));
                        *el = Expr::Cast {
                            kind: CastKind::DoubleColon,
                            expr: Box::new(lit),
                            data_type: data_type.clone(),
                            array,
                            format: None,
                        };
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn untyped_elements_take_the_typed_ones_type() {
        let mut stmt =
            crate::sql::parse("SELECT ARRAY['[1,2]'::vector, '[3,4]', NULL], ARRAY['a', 'b']")
                .unwrap()
                .pop()
                .unwrap();
        super::rewrite(&mut stmt);
        assert_eq!(
            stmt.to_string(),
            "SELECT ARRAY['[1,2]'::vector, '[3,4]'::vector, NULL], ARRAY['a', 'b']"
        );
    }
}
