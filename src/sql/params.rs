//! Extended-protocol parameters: find `$n` placeholders, infer their types,
//! and bind values into the statement as typed literals.

use std::ops::ControlFlow;

use bytes::Bytes;
use datafusion::sql::sqlparser::ast::{
    Expr, Statement, Value, visit_expressions, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use postgres_types::{FromSql, Type};

use crate::catalog::SqlType;
use crate::error::{PgError, PgResult, codes};
use crate::exec::codec::Datum;

/// Highest `$n` used by the statement.
pub fn count(stmt: &Statement) -> usize {
    let mut max = 0;
    let _ = visit_expressions(stmt, |e| {
        if let Expr::Value(v) = e {
            if let Value::Placeholder(p) = &v.value {
                if let Some(n) = p.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    max = max.max(n);
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    max
}

/// SQL type name used to cast a text parameter of this wire type.
fn sql_type_for(ty: &Type) -> Option<&'static str> {
    Some(match *ty {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 | Type::OID => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "decimal(38,16)",
        Type::DATE => "date",
        Type::TIME => "time",
        Type::TIMESTAMP => "timestamp",
        Type::TIMESTAMPTZ => "timestamptz",
        Type::INTERVAL => "interval",
        Type::BYTEA => "bytea",
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::JSON
        | Type::JSONB
        | Type::UUID => "text",
        Type::INT4_ARRAY => "integer[]",
        Type::INT8_ARRAY => "bigint[]",
        Type::INT2_ARRAY => "smallint[]",
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => "text[]",
        Type::FLOAT8_ARRAY => "double precision[]",
        Type::FLOAT4_ARRAY => "real[]",
        Type::BOOL_ARRAY => "boolean[]",
        _ => return None,
    })
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn invalid(ty: &Type) -> PgError {
    PgError::new(
        codes::PROTOCOL_VIOLATION,
        format!(
            "incorrect binary data format in bind parameter of type {}",
            ty.name()
        ),
    )
}

fn decode<'a, T: FromSql<'a>>(ty: &Type, raw: &'a [u8]) -> PgResult<T> {
    T::from_sql(ty, raw).map_err(|_| invalid(ty))
}

/// Text form of a binary parameter.
pub fn binary_to_text(ty: &Type, raw: &[u8]) -> PgResult<String> {
    Ok(match *ty {
        Type::BOOL => decode::<bool>(ty, raw)?.to_string(),
        Type::INT2 => decode::<i16>(ty, raw)?.to_string(),
        Type::INT4 => decode::<i32>(ty, raw)?.to_string(),
        Type::INT8 => decode::<i64>(ty, raw)?.to_string(),
        Type::OID => decode::<u32>(ty, raw)?.to_string(),
        Type::FLOAT4 => format_float(decode::<f32>(ty, raw)? as f64),
        Type::FLOAT8 => format_float(decode::<f64>(ty, raw)?),
        Type::NUMERIC => decode::<rust_decimal::Decimal>(ty, raw)?.to_string(),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            decode::<String>(ty, raw)?
        }
        Type::JSON | Type::JSONB => decode::<serde_json::Value>(ty, raw)?.to_string(),
        Type::DATE => decode::<chrono::NaiveDate>(ty, raw)?.to_string(),
        Type::TIME => decode::<chrono::NaiveTime>(ty, raw)?.to_string(),
        Type::TIMESTAMP => decode::<chrono::NaiveDateTime>(ty, raw)?
            .format("%Y-%m-%d %H:%M:%S%.f")
            .to_string(),
        Type::TIMESTAMPTZ => decode::<chrono::DateTime<chrono::Utc>>(ty, raw)?
            .format("%Y-%m-%d %H:%M:%S%.f+00:00")
            .to_string(),
        Type::UUID => {
            if raw.len() != 16 {
                return Err(invalid(ty));
            }
            uuid::Uuid::from_slice(raw)
                .map_err(|_| invalid(ty))?
                .to_string()
        }
        Type::INTERVAL => {
            if raw.len() != 16 {
                return Err(invalid(ty));
            }
            let us = i64::from_be_bytes(raw[0..8].try_into().unwrap());
            let days = i32::from_be_bytes(raw[8..12].try_into().unwrap());
            let months = i32::from_be_bytes(raw[12..16].try_into().unwrap());
            format!("{months} months {days} days {us} microseconds")
        }
        Type::INT4_ARRAY => array_text(decode::<Vec<Option<i32>>>(ty, raw)?),
        Type::INT8_ARRAY => array_text(decode::<Vec<Option<i64>>>(ty, raw)?),
        Type::INT2_ARRAY => array_text(decode::<Vec<Option<i16>>>(ty, raw)?),
        Type::FLOAT8_ARRAY => array_text(decode::<Vec<Option<f64>>>(ty, raw)?),
        Type::FLOAT4_ARRAY => array_text(decode::<Vec<Option<f32>>>(ty, raw)?),
        Type::BOOL_ARRAY => array_text(decode::<Vec<Option<bool>>>(ty, raw)?),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => {
            let v = decode::<Vec<Option<String>>>(ty, raw)?;
            let items: Vec<String> = v
                .into_iter()
                .map(|s| match s {
                    None => "NULL".into(),
                    Some(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        _ => {
            return Err(PgError::new(
                codes::FEATURE_NOT_SUPPORTED,
                format!(
                    "binary format for parameters of type {} is not supported",
                    ty.name()
                ),
            ));
        }
    })
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        f.to_string()
    }
}

fn array_text<T: ToString>(v: Vec<Option<T>>) -> String {
    let items: Vec<String> = v
        .into_iter()
        .map(|x| x.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into()))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// A bound parameter's value.
pub enum Param {
    /// The SQL expression it stands for, substituted into the statement.
    Sql(String),
    /// A vector sent in pgvector's binary form, decoded. It stays a
    /// placeholder until a path needs it as SQL: the direct KNN path takes
    /// the floats as they are, so a query vector is never printed to text
    /// and parsed back (for 384 floats that cost more than the search).
    Vector(SqlType, Datum),
}

/// A vector parameter left unbound by [`bind`], with its 1-based number.
pub struct Unbound {
    pub number: usize,
    pub ty: SqlType,
    pub value: Datum,
}

fn typed_vector(ty: &SqlType, text: &str) -> String {
    format!("CAST({} AS {})", quote_literal(text), ty.pg_name())
}

/// A parameter's value from its wire form.
pub fn param(ty: &Type, binary: bool, raw: Option<&Bytes>) -> PgResult<Param> {
    if let (Some(kind), Some(raw), true) = (
        crate::catalog::types::vector_kind_of_pg_type(ty),
        raw,
        binary,
    ) {
        let sql_ty = vector_sql_type(kind);
        let d = crate::exec::vecarrow::recv(&sql_ty, raw)?;
        return Ok(Param::Vector(sql_ty, d));
    }
    literal(ty, binary, raw).map(Param::Sql)
}

fn vector_sql_type(kind: crate::vector::Kind) -> SqlType {
    match kind {
        crate::vector::Kind::Vector => SqlType::Vector(None),
        crate::vector::Kind::HalfVec => SqlType::HalfVec(None),
        crate::vector::Kind::SparseVec => SqlType::SparseVec(None),
        crate::vector::Kind::Bit => SqlType::VarBit(None),
    }
}

/// The SQL expression a parameter value stands for (binary vectors are
/// [`Param::Vector`]s, see [`param`]).
fn literal(ty: &Type, binary: bool, raw: Option<&Bytes>) -> PgResult<String> {
    let Some(raw) = raw else {
        return Ok("NULL".into());
    };
    if let Some(kind) = crate::catalog::types::vector_kind_of_pg_type(ty) {
        // pgvector's text form, as a typed literal.
        let text = String::from_utf8(raw.to_vec())
            .map_err(|_| PgError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
        return Ok(typed_vector(&vector_sql_type(kind), &text));
    }
    if *ty == Type::BYTEA {
        let bytes: Vec<u8> = if binary {
            raw.to_vec()
        } else {
            let s = std::str::from_utf8(raw).map_err(|_| invalid(ty))?;
            match s.strip_prefix("\\x") {
                Some(hex) => decode_hex(hex).ok_or_else(|| {
                    PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        "invalid hexadecimal data: odd number of digits",
                    )
                })?,
                None => s.as_bytes().to_vec(),
            }
        };
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        return Ok(format!("X'{hex}'"));
    }
    let text = if binary {
        binary_to_text(ty, raw)?
    } else {
        String::from_utf8(raw.to_vec())
            .map_err(|_| PgError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?
    };
    Ok(match sql_type_for(ty) {
        Some("text") | None => quote_literal(&text),
        Some(t) if t.ends_with("[]") => {
            let elem = t.trim_end_matches("[]");
            let items = super::copy::parse_array(text.trim()).ok_or_else(|| {
                PgError::new(
                    codes::INVALID_TEXT_REPRESENTATION,
                    format!("malformed array literal: \"{text}\""),
                )
            })?;
            if items.is_empty() {
                format!("CAST(make_array() AS {t})")
            } else {
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        None => format!("CAST(NULL AS {elem})"),
                        Some(v) => format!("CAST({} AS {elem})", quote_literal(v)),
                    })
                    .collect();
                format!("make_array({})", parts.join(", "))
            }
        }
        Some(t) => format!("CAST({} AS {t})", quote_literal(&text)),
    })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A literal made by [`literal`] as an expression. `CAST('<text>' AS <type>)`
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
        let sql = typed_vector(&u.ty, &crate::exec::vecarrow::datum_text(&u.ty, &u.value));
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
