//! PostgreSQL's binary forms of values (bind parameters, binary COPY),
//! read back into their text forms.

use postgres_types::{FromSql, Type};

use super::SqlType;
use crate::error::{PgError, PgResult, codes};

/// The error for a binary value that does not decode as its type.
pub fn invalid(ty: &Type) -> PgError {
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
        // Widened to f64 and printed exactly: read back as float4 it is the
        // same value (shortest f32 digits read as f64 first could round twice).
        Type::FLOAT4 => crate::format::pg_float_text(decode::<f32>(ty, raw)? as f64, false),
        Type::FLOAT8 => crate::format::pg_float_text(decode::<f64>(ty, raw)?, false),
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

fn array_text<T: ToString>(v: Vec<Option<T>>) -> String {
    let items: Vec<String> = v
        .into_iter()
        .map(|x| x.map(|x| x.to_string()).unwrap_or_else(|| "NULL".into()))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// Text form of a binary COPY field of a column type.
pub fn field_text(ty: &SqlType, raw: &[u8]) -> PgResult<String> {
    let pg = match ty {
        SqlType::Bool => Type::BOOL,
        SqlType::Int2 => Type::INT2,
        SqlType::Int4 => Type::INT4,
        SqlType::Int8 => Type::INT8,
        SqlType::Float4 => Type::FLOAT4,
        SqlType::Float8 => Type::FLOAT8,
        SqlType::Numeric { .. } => Type::NUMERIC,
        SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Enum { .. } => Type::TEXT,
        SqlType::Json => Type::JSON,
        SqlType::Jsonb => Type::JSONB,
        SqlType::Uuid => Type::UUID,
        SqlType::Bytea => {
            return Ok(format!("\\x{}", super::text::encode_hex(raw)));
        }
        SqlType::Date => Type::DATE,
        SqlType::Time => Type::TIME,
        SqlType::Timestamp => Type::TIMESTAMP,
        SqlType::TimestampTz => Type::TIMESTAMPTZ,
        SqlType::Interval => Type::INTERVAL,
        SqlType::Vector(_)
        | SqlType::HalfVec(_)
        | SqlType::SparseVec(_)
        | SqlType::Bit(_)
        | SqlType::VarBit(_) => {
            // Decode to the value, then its (lossless) text form.
            let d = super::vector_arrow::recv(ty, raw)?;
            return Ok(super::vector_arrow::datum_text(ty, &d));
        }
        SqlType::Array(inner) => match **inner {
            SqlType::Int2 => Type::INT2_ARRAY,
            SqlType::Int4 => Type::INT4_ARRAY,
            SqlType::Int8 => Type::INT8_ARRAY,
            SqlType::Float4 => Type::FLOAT4_ARRAY,
            SqlType::Float8 => Type::FLOAT8_ARRAY,
            SqlType::Bool => Type::BOOL_ARRAY,
            SqlType::Text | SqlType::Varchar(_) => Type::TEXT_ARRAY,
            _ => return Err(PgError::unsupported("binary COPY of this array type")),
        },
    };
    binary_to_text(&pg, raw)
}
