//! `ARRAY[x::T, '...', ...]`: PostgreSQL resolves an array constructor's
//! elements to one type, and an untyped literal next to a typed element
//! takes that element's type (`ARRAY['[1,2,3]'::vector, '[3,5,7]']` is a
//! `vector[]`). DataFusion would try to find a common type of a vector
//! and a string and fail, so the untyped literals get the cast written on
//! the first typed element.
//!
//! A VALUES list's columns resolve the same way (`VALUES
//! ('{"k":1}'::jsonb), (NULL)`): there the NULLs take the cast too, since
//! DataFusion refuses a column whose rows differ in type metadata (a jsonb
//! beside a plain NULL). An INSERT's VALUES rows go each to the target
//! column's type in PostgreSQL, so there only the NULLs take it (Django's
//! bulk_create sends such rows).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, Query, SetExpr, Statement, Value, VisitMut, VisitorMut,
    visit_expressions_mut,
};

pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Array(arr) = e {
            if let Some(typed) = first_cast(arr.elem.iter()) {
                for el in arr.elem.iter_mut() {
                    cast_untyped(el, &typed, false);
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let insert = matches!(stmt, Statement::Insert(_));
    let _ = stmt.visit(&mut ValuesColumns { insert });
}

/// The type (and array-ness) of the first `x::T` among `exprs`.
fn first_cast<'a>(mut exprs: impl Iterator<Item = &'a Expr>) -> Option<(DataType, bool)> {
    exprs.find_map(|el| match el {
        Expr::Cast {
            data_type, array, ..
        } => Some((data_type.clone(), *array)),
        _ => None,
    })
}

/// Cast `el` to `typed` if it is an untyped string literal (or, with
/// `nulls`, a NULL).
fn cast_untyped(el: &mut Expr, typed: &(DataType, bool), nulls: bool) {
    let untyped = matches!(
        el,
        Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_))
            || (nulls && matches!(v.value, Value::Null))
    );
    if untyped {
        let lit = std::mem::replace(el, Expr::value(Value::Null));
        *el = Expr::Cast {
            kind: CastKind::DoubleColon,
            expr: Box::new(lit),
            data_type: typed.0.clone(),
            array: typed.1,
            format: None,
        };
    }
}

/// Cast `el` to `typed` if it is a NULL.
fn cast_null(el: &mut Expr, typed: &(DataType, bool)) {
    if matches!(el, Expr::Value(v) if matches!(v.value, Value::Null)) {
        cast_untyped(el, typed, true);
    }
}

/// Each column of every multi-row VALUES list: its untyped rows cast as
/// its first typed one (the NULLs only, in the rows an INSERT writes:
/// `insert` until the first query, its source, is seen).
struct ValuesColumns {
    insert: bool,
}

impl VisitorMut for ValuesColumns {
    type Break = ();
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        let rows_of_insert = std::mem::take(&mut self.insert);
        if let SetExpr::Values(v) = q.body.as_mut()
            && v.rows.len() > 1
        {
            let width = v.rows.iter().map(|r| r.len()).max().unwrap_or(0);
            for col in 0..width {
                if let Some(typed) = first_cast(v.rows.iter().filter_map(|r| r.get(col))) {
                    for row in v.rows.iter_mut() {
                        if let Some(el) = row.get_mut(col) {
                            if rows_of_insert {
                                cast_null(el, &typed);
                            } else {
                                cast_untyped(el, &typed, true);
                            }
                        }
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    fn rewritten(sql: &str) -> String {
        let mut stmt = crate::sql::parse(sql).unwrap().pop().unwrap();
        super::rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn untyped_elements_take_the_typed_ones_type() {
        assert_eq!(
            rewritten("SELECT ARRAY['[1,2]'::vector, '[3,4]', NULL], ARRAY['a', 'b']"),
            "SELECT ARRAY['[1,2]'::vector, '[3,4]'::vector, NULL], ARRAY['a', 'b']"
        );
    }

    #[test]
    fn values_rows_take_their_columns_typed_rows_type() {
        assert_eq!(
            rewritten("SELECT * FROM (VALUES ('1'::int4), ('2'), (NULL)) v(x)"),
            "SELECT * FROM (VALUES ('1'::INT4), ('2'::INT4), (NULL::INT4)) v (x)"
        );
        assert_eq!(
            rewritten(
                "INSERT INTO t VALUES (1, '{\"k\":1}'::jsonb, 'x'), (2, NULL, NULL), (3, '[]', 'y')"
            ),
            "INSERT INTO t VALUES (1, '{\"k\":1}'::JSONB, 'x'), (2, NULL::JSONB, NULL), (3, '[]', 'y')"
        );
    }
}
