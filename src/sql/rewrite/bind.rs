//! Binding extended-protocol parameters: every `$n` is replaced by its
//! value as a typed literal, except binary vectors left as placeholders for
//! the direct KNN path (bound later with [`bind_unbound`] if another path
//! needs them).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{PgError, PgResult};
use crate::sql::params::{self, Param, Unbound};

/// A literal made by [`params::param`] as an expression. `CAST('<text>' AS <type>)`
/// with no quote or backslash in the text (every vector, most values) is
/// built directly: tokenizing a 384-float vector's text cost more than
/// searching for its neighbours.
fn literal_expr(l: &str) -> Result<Expr, datafusion::sql::sqlparser::parser::ParserError> {
    use datafusion::sql::sqlparser::ast::CastKind;
    let parse = |sql: &str| Parser::new(&PostgreSqlDialect {}).try_with_sql(sql);
    let cast = l
        .strip_prefix("CAST('")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|rest| rest.split_once("' AS "))
        .filter(|(text, _)| !text.contains(['\'', '\\']));
    if let Some((text, ty)) = cast {
        let data_type = parse(ty)?.parse_data_type()?;
        return Ok(Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(Expr::Value(
                Value::SingleQuotedString(text.to_string()).into(),
            )),
            data_type,
            array: false,
            format: None,
        });
    }
    parse(l)?.parse_expr()
}

/// Replace every `$n` with the n-th literal.
pub fn bind(stmt: &mut Statement, params: Vec<Param>) -> PgResult<Vec<Unbound>> {
    let mut parsed = Vec::with_capacity(params.len());
    let mut unbound = Vec::new();
    for (i, p) in params.into_iter().enumerate() {
        parsed.push(match p {
            Param::Sql(l) => Some(
                literal_expr(&l)
                    .map_err(|e| PgError::internal(format!("could not bind parameter: {e}")))?,
            ),
            Param::Vector(ty, value) => {
                unbound.push(Unbound {
                    number: i + 1,
                    ty,
                    value,
                });
                None
            }
        });
    }
    substitute(stmt, &parsed)?;
    Ok(unbound)
}

/// Bind the vector parameters [`bind`] left as placeholders, as SQL.
pub fn bind_unbound(stmt: &mut Statement, unbound: &[Unbound]) -> PgResult<()> {
    let Some(last) = unbound.iter().map(|u| u.number).max() else {
        return Ok(());
    };
    let mut parsed = vec![None; last];
    for u in unbound {
        let sql = params::typed_vector(
            &u.ty,
            &crate::types::vector_arrow::datum_text(&u.ty, &u.value),
        );
        parsed[u.number - 1] = Some(
            literal_expr(&sql)
                .map_err(|e| PgError::internal(format!("could not bind parameter: {e}")))?,
        );
    }
    substitute(stmt, &parsed)
}

/// Replace `$n` with `parsed[n - 1]`; a `None` entry stays a placeholder.
fn substitute(stmt: &mut Statement, parsed: &[Option<Expr>]) -> PgResult<()> {
    let mut err = None;
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                match p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if n >= 1 && n <= parsed.len() => {
                        if let Some(x) = &parsed[n - 1] {
                            *e = Expr::Nested(Box::new(x.clone()))
                        }
                    }
                    _ => {
                        err = Some(PgError::new("42P02", format!("there is no parameter {p}")));
                        return ControlFlow::Break(());
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
    fn direct_cast_literals_parse_as_the_parser_would() {
        for l in [
            "CAST('[1,2.5,-3e-05]' AS vector)",
            "CAST('{1:1.5,3:2}/5' AS sparsevec)",
            "CAST('2024-01-01' AS date)",
            "CAST('x' AS character varying(3))",
            "CAST('it''s' AS text)",
            "'plain'",
            "NULL",
        ] {
            let full = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(l)
                .and_then(|mut p| p.parse_expr())
                .unwrap();
            assert_eq!(literal_expr(l).unwrap(), full, "{l}");
        }
    }
}
