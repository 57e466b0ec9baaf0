//! Casts to pgvector's types (`x::vector(3)`, `CAST(x AS halfvec)`,
//! `::bit(8)`) and `B'101'` literals become `grape_cast(x, 'kind', typmod)`
//! calls, which the vector UDFs plan; a bad typmod is reported here in
//! pgvector's words.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType as SqlDataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement,
    Value, visit_expressions_mut,
};

use crate::error::PgResult;
use crate::sql::vector::udf::CAST_FN;
use crate::types::SqlType;
use crate::vector::Kind;

/// A vector-kind SQL type in a cast: (`vector`/`halfvec`/`sparsevec`/`bit`/`varbit`, typmod).
pub fn vector_cast_target(dt: &SqlDataType) -> Option<(&'static str, i64)> {
    let t = match SqlType::from_ast(dt).ok()?.0 {
        SqlType::Vector(n) => ("vector", n),
        SqlType::HalfVec(n) => ("halfvec", n),
        SqlType::SparseVec(n) => ("sparsevec", n),
        SqlType::Bit(n) => ("bit", n),
        SqlType::VarBit(n) => ("varbit", n),
        _ => return None,
    };
    Some((t.0, t.1.map_or(-1, |n| n as i64)))
}

/// A numeric literal with a fraction or exponent (`2.5`, `-1e3`), maybe
/// parenthesized or negated.
fn is_fraction_literal(e: &Expr) -> bool {
    match e {
        Expr::Nested(x) => is_fraction_literal(x),
        Expr::UnaryOp { expr, .. } => is_fraction_literal(expr),
        Expr::Value(v) => matches!(&v.value, Value::Number(n, _) if n.contains(['.', 'e', 'E'])),
        _ => false,
    }
}

/// Whether an expression holds a `$n` parameter.
fn has_placeholder(e: &Expr) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |x| {
        if matches!(x, Expr::Value(v) if matches!(v.value, Value::Placeholder(_))) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// The AST of `grape_cast(e, 'kind', typmod)`.
pub fn cast_call(e: Expr, kind: &str, typmod: i64) -> Expr {
    super::ast::call(
        CAST_FN,
        vec![
            e,
            super::ast::text_literal(kind),
            Expr::value(Value::Number(typmod.to_string(), false)),
        ],
    )
}

/// Rewrite casts to vector types and `B'...'` literals into `grape_cast` calls.
/// A bad typmod (`vector(0)`) is reported here, with pgvector's words.
pub fn rewrite(stmt: &mut Statement) -> PgResult<()> {
    let mut err = None;
    let _ = visit_expressions_mut(stmt, |e| {
        // Casts to json and jsonb check (and for jsonb normalize) the text.
        if let Expr::Cast {
            expr,
            data_type: data_type @ (SqlDataType::JSON | SqlDataType::JSONB),
            ..
        } = e
        {
            let kind = if matches!(data_type, SqlDataType::JSONB) {
                "jsonb"
            } else {
                "json"
            };
            let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
            let call =
                super::ast::call("grape_json_in", vec![inner, super::ast::text_literal(kind)]);
            *e = call;
            return ControlFlow::Continue(());
        }
        // Casts to integer types round and range-check as PostgreSQL's
        // (a parameter's cast stays: it types the parameter).
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            let target = match data_type {
                SqlDataType::SmallInt(_) | SqlDataType::Int2(_) => Some("int2"),
                SqlDataType::Int(_) | SqlDataType::Integer(_) | SqlDataType::Int4(_) => {
                    Some("int4")
                }
                SqlDataType::BigInt(_) | SqlDataType::Int8(_) => Some("int8"),
                _ => None,
            };
            if let (Some(t), false) = (target, has_placeholder(expr)) {
                let mut inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                // `2.5` is numeric to PostgreSQL (it rounds half away from
                // zero); DataFusion reads it as float8.
                if is_fraction_literal(&inner) {
                    inner = Expr::Cast {
                        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                        expr: Box::new(inner),
                        data_type: SqlDataType::Numeric(
                            datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
                        ),
                        format: None,
                        array: false,
                    };
                }
                let call = super::ast::call(
                    crate::sql::pg_functions::TO_INT_FN,
                    vec![inner, super::ast::text_literal(t)],
                );
                *e = call;
                return ControlFlow::Continue(());
            }
        }
        match e {
            Expr::Cast {
                expr, data_type, ..
            } => {
                if let SqlDataType::Custom(..)
                | SqlDataType::Bit(_)
                | SqlDataType::BitVarying(_)
                | SqlDataType::VarBit(_) = data_type
                {
                    match SqlType::from_ast(data_type) {
                        Err(er) if is_vector_name(data_type) => {
                            // PostgreSQL points at the type name, just past
                            // the `::` that follows the cast expression.
                            let end =
                                datafusion::sql::sqlparser::ast::Spanned::span(expr.as_ref()).end;
                            err = Some(er.with_span(end.line, end.column + 2));
                            return ControlFlow::Break(());
                        }
                        _ => {}
                    }
                }
                if let Some((kind, typmod)) = vector_cast_target(data_type) {
                    // A literal is read now, as PostgreSQL reads constants
                    // while analysing the statement: its error points at it.
                    if let Expr::Value(v) = expr.as_ref() {
                        if let Value::SingleQuotedString(s) = &v.value {
                            // The dimension check against the typmod is
                            // a later coercion, without a position.
                            let checked = check_literal(kind, s, -1)
                                .map_err(|e| e.with_span(v.span.start.line, v.span.start.column))
                                .and_then(|_| check_literal(kind, s, typmod));
                            if let Err(e) = checked {
                                err = Some(e);
                                return ControlFlow::Break(());
                            }
                        }
                    }
                    let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                    *e = cast_call(inner, kind, typmod);
                }
            }
            // pgvector's cast functions, `array_to_vector(a, typmod, explicit)`
            // and kin, are its array casts under another name.
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                let kind = match name.trim_start_matches("public.") {
                    "array_to_vector" => "vector",
                    "array_to_halfvec" => "halfvec",
                    "array_to_sparsevec" => "sparsevec",
                    _ => return ControlFlow::Continue(()),
                };
                let FunctionArguments::List(list) = &mut f.args else {
                    return ControlFlow::Continue(());
                };
                let typmod = match list.args.get(1) {
                    Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) => {
                        match &v.value {
                            Value::Number(n, _) => n.parse::<i64>().ok(),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let (3, Some(t), Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))) =
                    (list.args.len(), typmod, list.args.first_mut())
                {
                    let inner = std::mem::replace(a, Expr::value(Value::Null));
                    *e = cast_call(inner, kind, t);
                }
            }
            // `~x`: bitwise NOT of an integer or a bit string.
            Expr::UnaryOp {
                op: datafusion::sql::sqlparser::ast::UnaryOperator::BitwiseNot,
                expr,
            } => {
                let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                let call = super::ast::call(crate::sql::vector::bit_ops::NOT_FN, vec![inner]);
                *e = call;
            }
            Expr::Value(v) => {
                if let Value::SingleQuotedByteStringLiteral(bits) = &v.value {
                    let len = bits.chars().count() as i64;
                    let lit = Expr::value(Value::SingleQuotedString(bits.clone()));
                    *e = cast_call(lit, "bit", len.max(1));
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether `s` is a valid value of `kind` (with `typmod`, -1 for none).
fn check_literal(kind: &str, s: &str, typmod: i64) -> crate::error::PgResult<()> {
    let t = u32::try_from(typmod).ok();
    match kind {
        "vector" => crate::vector::parse_vector(s, t).map(|_| ()),
        "halfvec" => crate::vector::parse_halfvec(s, t).map(|_| ()),
        "sparsevec" => crate::vector::parse_sparsevec(s, t).map(|_| ()),
        "bit" => crate::vector::parse_bits(s, t).map(|_| ()),
        _ => Ok(()),
    }
}

fn is_vector_name(dt: &SqlDataType) -> bool {
    match dt {
        SqlDataType::Custom(name, _) => Kind::from_name(
            &name
                .to_string()
                .to_lowercase()
                .trim_matches('"')
                .to_string(),
        )
        .is_some(),
        _ => true,
    }
}

/// `$n` parameters cast to a vector type (`$1::vector`): their wire type is
/// that vector type, as PostgreSQL infers it.
pub fn placeholder_casts(stmt: &Statement) -> Vec<(usize, &'static str)> {
    use datafusion::sql::sqlparser::ast::visit_expressions;
    let mut out = Vec::new();
    let _ = visit_expressions(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            if let (Expr::Value(v), Some((kind, _))) =
                (expr.as_ref(), vector_cast_target(data_type))
            {
                if let Value::Placeholder(p) = &v.value {
                    if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                        out.push((n, kind));
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}
