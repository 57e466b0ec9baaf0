//! PostgreSQL's text input forms of values: what COPY's text and csv
//! formats, text parameters and array literals hold.

use chrono::NaiveTime;
use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;

use super::{Datum, SqlType};
use crate::error::{PgError, PgResult, codes};

fn invalid(ty: &str, s: &str) -> PgError {
    PgError::new(
        codes::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {ty}: \"{s}\""),
    )
}

/// PostgreSQL's text input for a column type.
pub fn parse_text(ty: &SqlType, s: &str) -> PgResult<Datum> {
    let t = s.trim();
    Ok(match ty {
        SqlType::Bool => match t.to_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Datum::Bool(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Datum::Bool(false),
            _ => return Err(invalid("boolean", s)),
        },
        SqlType::Int2 => {
            Datum::I16(parse_int(t, "smallint", i16::MIN as i64, i16::MAX as i64)? as i16)
        }
        SqlType::Int4 => {
            Datum::I32(parse_int(t, "integer", i32::MIN as i64, i32::MAX as i64)? as i32)
        }
        SqlType::Int8 => Datum::I64(parse_int(t, "bigint", i64::MIN, i64::MAX)?),
        SqlType::Float4 => Datum::F32(parse_float(t, "real")? as f32),
        SqlType::Float8 => Datum::F64(parse_float(t, "double precision")?),
        SqlType::Numeric { precision, scale } => {
            let scale = scale.unwrap_or(crate::types::NUMERIC_DEFAULT_SCALE) as u32;
            let mut d: rust_decimal::Decimal = t.parse().map_err(|_| invalid("numeric", s))?;
            d.rescale(scale);
            if d.scale() != scale {
                return Err(PgError::new(
                    codes::NUMERIC_VALUE_OUT_OF_RANGE,
                    "numeric field overflow",
                ));
            }
            let m = d.mantissa();
            if let Some(p) = precision {
                if m.unsigned_abs() >= 10u128.pow(*p as u32) {
                    return Err(PgError::new(
                        codes::NUMERIC_VALUE_OUT_OF_RANGE,
                        "numeric field overflow",
                    ));
                }
            }
            Datum::Dec(m)
        }
        SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Enum { .. } => {
            Datum::Text(s.to_string())
        }
        SqlType::Json => {
            serde_json::from_str::<serde_json::Value>(s).map_err(|_| invalid("json", s))?;
            Datum::Text(s.to_string())
        }
        // jsonb keeps the value, not the text: stored in its normal form.
        SqlType::Jsonb => {
            let v = serde_json::from_str::<serde_json::Value>(s).map_err(|_| invalid("json", s))?;
            Datum::Text(jsonb_text(&v))
        }
        SqlType::Uuid => Datum::Text(
            uuid::Uuid::parse_str(t)
                .map_err(|_| invalid("uuid", s))?
                .to_string(),
        ),
        SqlType::Vector(_)
        | SqlType::HalfVec(_)
        | SqlType::SparseVec(_)
        | SqlType::Bit(_)
        | SqlType::VarBit(_) => super::vector_arrow::parse_text(ty, s)?,
        SqlType::Bytea => match t.strip_prefix("\\x") {
            Some(hex) => {
                if hex.len() % 2 != 0 {
                    return Err(PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        "invalid hexadecimal data: odd number of digits",
                    ));
                }
                Datum::Bytes(decode_hex(hex).ok_or_else(|| {
                    PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        "invalid hexadecimal digit",
                    )
                })?)
            }
            None => Datum::Bytes(s.as_bytes().to_vec()),
        },
        // PostgreSQL's ISO input forms (`types::datetime_text`); a
        // timestamptz without a zone is read as UTC here (no session).
        SqlType::Date => Datum::Date(super::datetime_text::parse("date", t)?.days()),
        SqlType::Time => {
            let tm = NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
                .map_err(|_| invalid("time without time zone", s))?;
            Datum::Time(
                tm.signed_duration_since(NaiveTime::MIN)
                    .num_microseconds()
                    .unwrap_or(0),
            )
        }
        SqlType::Timestamp => {
            Datum::Ts(super::datetime_text::parse("timestamp", t)?.local_micros())
        }
        SqlType::TimestampTz => Datum::Ts(
            super::datetime_text::parse("timestamp with time zone", t)?
                .utc_micros(&crate::format::Zone::Fixed(0)),
        ),
        SqlType::Interval => {
            let arr = StringArray::from(vec![t]);
            let out = datafusion::arrow::compute::cast(
                &arr,
                &DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
            )
            .map_err(|_| invalid("interval", s))?;
            if out.is_null(0) {
                return Err(invalid("interval", s));
            }
            let v = datafusion::common::ScalarValue::try_from_array(&out, 0)
                .map_err(|_| invalid("interval", s))?;
            Datum::from_scalar(&v)?
        }
        SqlType::Array(inner) => {
            let items = parse_array(t).ok_or_else(|| {
                PgError::new(
                    codes::INVALID_TEXT_REPRESENTATION,
                    format!("malformed array literal: \"{s}\""),
                )
            })?;
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                out.push(match it {
                    None => Datum::Null,
                    Some(v) => parse_text(inner, &v)?,
                });
            }
            Datum::List(out)
        }
    })
}

fn parse_int(t: &str, ty: &str, min: i64, max: i64) -> PgResult<i64> {
    let v: i128 = t.parse().map_err(|_| invalid(ty, t))?;
    if v < min as i128 || v > max as i128 {
        return Err(PgError::new(
            codes::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{t}\" is out of range for type {ty}"),
        ));
    }
    Ok(v as i64)
}

fn parse_float(t: &str, ty: &str) -> PgResult<f64> {
    match t.to_lowercase().as_str() {
        "nan" => Ok(f64::NAN),
        "infinity" | "inf" | "+infinity" => Ok(f64::INFINITY),
        "-infinity" | "-inf" => Ok(f64::NEG_INFINITY),
        _ => t.parse().map_err(|_| invalid(ty, t)),
    }
}

/// `{1,2,"a b",NULL}` → items (None for NULL).
pub fn parse_array(t: &str) -> Option<Vec<Option<String>>> {
    let inner = t.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut cur = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => cur.push(chars.next()?),
                    '"' => break,
                    c => cur.push(c),
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == ',' {
                break;
            }
            chars.next();
            if !quoted {
                cur.push(c);
            }
        }
        let item = if !quoted && cur.trim().eq_ignore_ascii_case("null") {
            None
        } else if quoted {
            Some(cur)
        } else {
            Some(cur.trim().to_string())
        };
        out.push(item);
        match chars.next() {
            Some(',') => continue,
            None => break,
            _ => return None,
        }
    }
    Some(out)
}

/// Bytes as lowercase hex digits (bytea's hex form without `\x`).
pub fn encode_hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 * b.len());
    for x in b {
        let _ = write!(out, "{x:02x}");
    }
    out
}

/// Hex digits (`\x` already stripped) as bytes; None if odd or not hex.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An identifier quoted as PostgreSQL quotes it (`"a""b"`).
/// jsonb's text form as PostgreSQL writes it: keys shortest first, then
/// bytewise (how jsonb stores them), `": "` and `", "` between items.
pub fn jsonb_text(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_jsonb(v, &mut out);
    out
}

fn write_jsonb(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push_str(": ");
                write_jsonb(&m[*k], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// PostgreSQL 15's keywords that are not unreserved (reserved, column
/// name and type/function name keywords): `quote_ident` quotes them.
/// From `pg_get_keywords()` where `catcode <> 'U'`.
const QUOTED_KEYWORDS: [&str; 151] = [
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// An identifier as PostgreSQL's `quote_ident` writes it: quoted only
/// when it must be (upper case, other characters, or a keyword).
pub fn quote_ident_if_needed(id: &str) -> String {
    let plain = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !QUOTED_KEYWORDS.contains(&id);
    if plain {
        id.to_string()
    } else {
        quote_ident(id)
    }
}

pub fn quote_ident(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// A string literal quoted for SQL (`'it''s'`).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_input_of_types() {
        assert_eq!(
            parse_text(&SqlType::Bool, "yes").unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(parse_text(&SqlType::Int2, "-7").unwrap(), Datum::I16(-7));
        assert_eq!(
            parse_text(&SqlType::Int2, "40000").unwrap_err().code,
            codes::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            parse_text(&SqlType::Int4, "x").unwrap_err().code,
            codes::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(
            parse_text(
                &SqlType::Numeric {
                    precision: Some(5),
                    scale: Some(2)
                },
                "12.345"
            )
            .unwrap(),
            Datum::Dec(1235)
        );
        assert_eq!(
            parse_text(&SqlType::Date, "1970-01-02").unwrap(),
            Datum::Date(1)
        );
        assert_eq!(
            parse_text(&SqlType::Bytea, "\\x00ff").unwrap(),
            Datum::Bytes(vec![0, 255])
        );
        assert_eq!(
            parse_text(&SqlType::Array(Box::new(SqlType::Int4)), "{1, NULL,3}").unwrap(),
            Datum::List(vec![Datum::I32(1), Datum::Null, Datum::I32(3)])
        );
        assert_eq!(
            parse_array("{\"a,b\",c}").unwrap(),
            vec![Some("a,b".into()), Some("c".into())]
        );
    }

    #[test]
    fn hex_and_quoting() {
        assert_eq!(encode_hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(decode_hex("00abff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
