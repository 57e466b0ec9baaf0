//! SQL column types, their Arrow representation and their PostgreSQL names.

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use datafusion::sql::sqlparser::ast::{self, CharacterLength, ExactNumberInfo, TimezoneInfo};
use serde::{Deserialize, Serialize};

use crate::error::{PgError, PgResult, codes};

/// Default scale for `numeric` without a typmod (Arrow decimals need one).
pub const NUMERIC_DEFAULT_SCALE: i8 = 16;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum SqlType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric {
        precision: Option<u8>,
        scale: Option<i8>,
    },
    Text,
    Varchar(Option<u32>),
    Char(Option<u32>),
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    Array(Box<SqlType>),
}

/// Field metadata key carrying the PostgreSQL type name of a column whose
/// Arrow type alone does not say it (varchar, char, json, uuid, ...).
pub const PG_TYPE_KEY: &str = "grape.pgtype";

impl SqlType {
    /// Map a parsed SQL type; `serial` kinds come back as their integer type
    /// plus `true`.
    pub fn from_ast(dt: &ast::DataType) -> PgResult<(SqlType, bool)> {
        use ast::DataType as D;
        let t = match dt {
            D::Bool | D::Boolean => SqlType::Bool,
            D::SmallInt(_) | D::Int2(_) => SqlType::Int2,
            D::Int(_) | D::Integer(_) | D::Int4(_) => SqlType::Int4,
            D::BigInt(_) | D::Int8(_) => SqlType::Int8,
            D::Real | D::Float4 => SqlType::Float4,
            D::Float(info) => match info {
                ExactNumberInfo::Precision(p) if *p <= 24 => SqlType::Float4,
                _ => SqlType::Float8,
            },
            D::DoublePrecision | D::Float8 | D::Double(_) => SqlType::Float8,
            D::Numeric(info) | D::Decimal(info) | D::Dec(info) => match info {
                ExactNumberInfo::None => SqlType::Numeric {
                    precision: None,
                    scale: None,
                },
                ExactNumberInfo::Precision(p) => SqlType::Numeric {
                    precision: Some(check_precision(*p)?),
                    scale: Some(0),
                },
                ExactNumberInfo::PrecisionAndScale(p, s) => {
                    let p = check_precision(*p)?;
                    if *s < 0 || *s > p as i64 {
                        return Err(PgError::new(
                            codes::INVALID_PARAMETER_VALUE,
                            format!("NUMERIC scale {s} must be between 0 and precision {p}"),
                        ));
                    }
                    SqlType::Numeric {
                        precision: Some(p),
                        scale: Some(*s as i8),
                    }
                }
            },
            D::Text | D::String(None) => SqlType::Text,
            D::Varchar(len) | D::CharacterVarying(len) | D::CharVarying(len) => {
                SqlType::Varchar(char_len(len))
            }
            D::Char(len) | D::Character(len) => SqlType::Char(Some(char_len(len).unwrap_or(1))),
            D::Bytea => SqlType::Bytea,
            D::Date => SqlType::Date,
            D::Time(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => SqlType::Time,
            D::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
                SqlType::Timestamp
            }
            D::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => SqlType::TimestampTz,
            D::Interval { .. } => SqlType::Interval,
            D::Uuid => SqlType::Uuid,
            D::JSON => SqlType::Json,
            D::JSONB => SqlType::Jsonb,
            D::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _))
            | D::Array(ast::ArrayElemTypeDef::AngleBracket(inner)) => {
                let (inner, serial) = SqlType::from_ast(inner)?;
                if serial || matches!(inner, SqlType::Array(_)) {
                    return Err(PgError::unsupported("this array element type"));
                }
                SqlType::Array(Box::new(inner))
            }
            D::Custom(name, mods) => {
                let n = name.to_string().to_lowercase();
                let n = n.trim_matches('"');
                return match n {
                    "serial" | "serial4" => Ok((SqlType::Int4, true)),
                    "bigserial" | "serial8" => Ok((SqlType::Int8, true)),
                    "smallserial" | "serial2" => Ok((SqlType::Int2, true)),
                    "timestamptz" => Ok((SqlType::TimestampTz, false)),
                    "bpchar" => Ok((
                        SqlType::Char(mods.first().and_then(|m| m.parse().ok())),
                        false,
                    )),
                    "float4" => Ok((SqlType::Float4, false)),
                    "float8" => Ok((SqlType::Float8, false)),
                    _ => Err(PgError::new(
                        codes::UNDEFINED_OBJECT,
                        format!("type \"{n}\" does not exist"),
                    )),
                };
            }
            other => {
                return Err(PgError::new(
                    codes::UNDEFINED_OBJECT,
                    format!("type \"{other}\" does not exist"),
                ));
            }
        };
        Ok((t, false))
    }

    pub fn arrow_type(&self) -> DataType {
        match self {
            SqlType::Bool => DataType::Boolean,
            SqlType::Int2 => DataType::Int16,
            SqlType::Int4 => DataType::Int32,
            SqlType::Int8 => DataType::Int64,
            SqlType::Float4 => DataType::Float32,
            SqlType::Float8 => DataType::Float64,
            SqlType::Numeric { scale, .. } => {
                DataType::Decimal128(38, scale.unwrap_or(NUMERIC_DEFAULT_SCALE))
            }
            SqlType::Text
            | SqlType::Varchar(_)
            | SqlType::Char(_)
            | SqlType::Json
            | SqlType::Jsonb
            | SqlType::Uuid => DataType::Utf8,
            SqlType::Bytea => DataType::Binary,
            SqlType::Date => DataType::Date32,
            SqlType::Time => DataType::Time64(TimeUnit::Microsecond),
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            SqlType::TimestampTz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            }
            SqlType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            SqlType::Array(inner) => DataType::List(std::sync::Arc::new(Field::new(
                "item",
                inner.arrow_type(),
                true,
            ))),
        }
    }

    /// The type's name as PostgreSQL prints it (format_type).
    pub fn pg_name(&self) -> String {
        match self {
            SqlType::Bool => "boolean".into(),
            SqlType::Int2 => "smallint".into(),
            SqlType::Int4 => "integer".into(),
            SqlType::Int8 => "bigint".into(),
            SqlType::Float4 => "real".into(),
            SqlType::Float8 => "double precision".into(),
            SqlType::Numeric {
                precision: Some(p),
                scale,
            } => format!("numeric({p},{})", scale.unwrap_or(0)),
            SqlType::Numeric { .. } => "numeric".into(),
            SqlType::Text => "text".into(),
            SqlType::Varchar(Some(n)) => format!("character varying({n})"),
            SqlType::Varchar(None) => "character varying".into(),
            SqlType::Char(Some(n)) => format!("character({n})"),
            SqlType::Char(None) => "character".into(),
            SqlType::Bytea => "bytea".into(),
            SqlType::Date => "date".into(),
            SqlType::Time => "time without time zone".into(),
            SqlType::Timestamp => "timestamp without time zone".into(),
            SqlType::TimestampTz => "timestamp with time zone".into(),
            SqlType::Interval => "interval".into(),
            SqlType::Uuid => "uuid".into(),
            SqlType::Json => "json".into(),
            SqlType::Jsonb => "jsonb".into(),
            SqlType::Array(inner) => format!("{}[]", inner.pg_name()),
        }
    }

    /// A type name DataFusion's SQL planner accepts in `CAST(x AS ...)`.
    pub fn cast_name(&self) -> String {
        match self {
            SqlType::Numeric { scale, .. } => {
                format!("decimal(38,{})", scale.unwrap_or(NUMERIC_DEFAULT_SCALE))
            }
            SqlType::Text
            | SqlType::Varchar(_)
            | SqlType::Char(_)
            | SqlType::Json
            | SqlType::Jsonb
            | SqlType::Uuid => "text".into(),
            SqlType::TimestampTz => "timestamptz".into(),
            SqlType::Time => "time".into(),
            SqlType::Timestamp => "timestamp".into(),
            SqlType::Array(inner) => format!("{}[]", inner.cast_name()),
            other => other.pg_name(),
        }
    }

    /// The name the wire protocol reports for columns of this type, when the
    /// Arrow type alone would report another one.
    pub fn wire_override(&self) -> Option<&'static str> {
        match self {
            SqlType::Varchar(_) => Some("varchar"),
            SqlType::Char(_) => Some("bpchar"),
            SqlType::Json => Some("json"),
            SqlType::Jsonb => Some("jsonb"),
            SqlType::Uuid => Some("uuid"),
            _ => None,
        }
    }

    pub fn field(&self, name: &str, nullable: bool) -> Field {
        let f = Field::new(name, self.arrow_type(), nullable);
        match self.wire_override() {
            Some(t) => f.with_metadata(
                [(PG_TYPE_KEY.to_string(), t.to_string())]
                    .into_iter()
                    .collect(),
            ),
            None => f,
        }
    }

    pub fn max_chars(&self) -> Option<u32> {
        match self {
            SqlType::Varchar(n) | SqlType::Char(n) => *n,
            _ => None,
        }
    }
}

fn check_precision(p: u64) -> PgResult<u8> {
    if p == 0 || p > 38 {
        return Err(PgError::new(
            codes::FEATURE_NOT_SUPPORTED,
            format!("NUMERIC precision {p} is not supported: GrapeDB supports 1 to 38 digits"),
        ));
    }
    Ok(p as u8)
}

fn char_len(len: &Option<CharacterLength>) -> Option<u32> {
    match len {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length as u32),
        _ => None,
    }
}
