//! Extended-protocol parameters: find `$n` placeholders, infer their types,
//! and bind values into the statement as typed literals.

use std::ops::ControlFlow;

use bytes::Bytes;
use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, visit_expressions};
use postgres_types::Type;

use crate::error::{PgError, PgResult, codes};
use crate::types::Datum;
use crate::types::SqlType;
use crate::types::binary;
use crate::types::text::{decode_hex, encode_hex, parse_array, quote_literal};

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

pub(crate) fn typed_vector(ty: &SqlType, text: &str) -> String {
    format!("CAST({} AS {})", quote_literal(text), ty.pg_name())
}

/// A parameter's value from its wire form.
pub fn param(ty: &Type, binary: bool, raw: Option<&Bytes>) -> PgResult<Param> {
    if let (Some(kind), Some(raw), true) = (crate::types::vector_kind_of_pg_type(ty), raw, binary) {
        let sql_ty = vector_sql_type(kind);
        let d = crate::types::vector_arrow::recv(&sql_ty, raw)?;
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
    if let Some(kind) = crate::types::vector_kind_of_pg_type(ty) {
        // pgvector's text form, as a typed literal.
        let text = String::from_utf8(raw.to_vec())
            .map_err(|_| PgError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
        return Ok(typed_vector(&vector_sql_type(kind), &text));
    }
    if *ty == Type::BYTEA {
        let bytes: Vec<u8> = if binary {
            raw.to_vec()
        } else {
            let s = std::str::from_utf8(raw).map_err(|_| binary::invalid(ty))?;
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
        return Ok(format!("X'{}'", encode_hex(&bytes)));
    }
    let text = if binary {
        binary::binary_to_text(ty, raw)?
    } else {
        String::from_utf8(raw.to_vec())
            .map_err(|_| PgError::new("22021", "invalid byte sequence for encoding \"UTF8\""))?
    };
    Ok(match sql_type_for(ty) {
        Some("text") | None => quote_literal(&text),
        Some(t) if t.ends_with("[]") => {
            let elem = t.trim_end_matches("[]");
            let items = parse_array(text.trim()).ok_or_else(|| {
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
