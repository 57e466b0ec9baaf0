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
    /// pgvector's types; the number is the typmod (dimensions), if any.
    Vector(Option<u32>),
    HalfVec(Option<u32>),
    SparseVec(Option<u32>),
    /// PostgreSQL's bit(n) (always has a length) and bit varying(n).
    Bit(Option<u32>),
    VarBit(Option<u32>),
    /// A type made by CREATE TYPE ... AS ENUM: values are stored as their
    /// labels (the catalog's `Relation::Type` holds the labels and their
    /// order). Last, so catalogs written before it still read.
    Enum {
        schema: String,
        name: String,
    },
}

/// The metadata value (under [`PG_TYPE_KEY`]) of an enum-typed field.
pub fn enum_metadata(schema: &str, name: &str) -> String {
    format!("enum:{schema}.{name}")
}

/// The enum type (schema, name) a field's metadata names.
pub fn enum_of_field(f: &Field) -> Option<(String, String)> {
    let v = f.metadata().get(PG_TYPE_KEY)?.strip_prefix("enum:")?;
    let (schema, name) = v.split_once('.')?;
    Some((schema.to_string(), name.to_string()))
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
            D::Bit(n) => SqlType::Bit(Some(bit_len(*n)?.unwrap_or(1))),
            D::BitVarying(n) | D::VarBit(n) => SqlType::VarBit(bit_len(*n)?),
            D::Custom(name, mods) => {
                // `public.vector` (where pgvector's types live; pg_dump
                // qualifies them) and `pg_catalog.x` are the plain names.
                let n = match name.0.as_slice() {
                    [schema, n]
                        if matches!(
                            schema.to_string().to_lowercase().trim_matches('"'),
                            "public" | "pg_catalog"
                        ) =>
                    {
                        n.to_string().to_lowercase()
                    }
                    _ => name.to_string().to_lowercase(),
                };
                let n = n.trim_matches('"');
                if let Some(kind) = crate::vector::Kind::from_name(n) {
                    return Ok((SqlType::vector_kind(kind, n, mods)?, false));
                }
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
            | SqlType::Uuid
            | SqlType::Enum { .. } => DataType::Utf8,
            SqlType::Bytea | SqlType::SparseVec(_) | SqlType::Bit(_) | SqlType::VarBit(_) => {
                DataType::Binary
            }
            SqlType::Vector(_) => DataType::List(std::sync::Arc::new(Field::new(
                "item",
                DataType::Float32,
                true,
            ))),
            SqlType::HalfVec(_) => DataType::List(std::sync::Arc::new(Field::new(
                "item",
                DataType::Float16,
                true,
            ))),
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

    /// The column type of a query's result field (CREATE TABLE AS, views):
    /// the SQL type its metadata names, else the Arrow type's.
    pub fn from_field(f: &Field) -> Option<SqlType> {
        if let Some(k) = crate::types::vector_arrow::field_kind(f) {
            use crate::vector::Kind;
            return Some(match k {
                Kind::Vector => SqlType::Vector(None),
                Kind::HalfVec => SqlType::HalfVec(None),
                Kind::SparseVec => SqlType::SparseVec(None),
                Kind::Bit => SqlType::VarBit(None),
            });
        }
        if let Some((schema, name)) = enum_of_field(f) {
            return Some(SqlType::Enum { schema, name });
        }
        match f.metadata().get(PG_TYPE_KEY).map(String::as_str) {
            Some("varchar") => return Some(SqlType::Varchar(None)),
            Some("bpchar") => return Some(SqlType::Char(None)),
            Some("json") => return Some(SqlType::Json),
            Some("jsonb") => return Some(SqlType::Jsonb),
            Some("uuid") => return Some(SqlType::Uuid),
            _ => {}
        }
        Some(match f.data_type() {
            DataType::Boolean => SqlType::Bool,
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => SqlType::Int2,
            DataType::Int32 | DataType::UInt16 => SqlType::Int4,
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::Int8,
            DataType::Float16 | DataType::Float32 => SqlType::Float4,
            DataType::Float64 => SqlType::Float8,
            DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => SqlType::Numeric {
                precision: None,
                scale: Some(*s),
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                SqlType::Text
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => SqlType::Bytea,
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
            DataType::Timestamp(_, None) => SqlType::Timestamp,
            DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
            DataType::Interval(_) | DataType::Duration(_) => SqlType::Interval,
            DataType::List(item) | DataType::LargeList(item) => {
                SqlType::Array(Box::new(SqlType::from_field(item)?))
            }
            _ => return None,
        })
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
            SqlType::Vector(n) => with_mod("vector", n),
            SqlType::HalfVec(n) => with_mod("halfvec", n),
            SqlType::SparseVec(n) => with_mod("sparsevec", n),
            SqlType::Bit(n) => with_mod("bit", n),
            SqlType::VarBit(n) => with_mod("bit varying", n),
            SqlType::Enum { name, .. } => name.clone(),
        }
    }

    /// The type's name in `pg_type` (`int4`, `_text`, `vector`); None for
    /// an enum (its OID is its catalog entry's).
    pub fn typname(&self) -> Option<String> {
        Some(
            match self {
                SqlType::Bool => "bool",
                SqlType::Int2 => "int2",
                SqlType::Int4 => "int4",
                SqlType::Int8 => "int8",
                SqlType::Float4 => "float4",
                SqlType::Float8 => "float8",
                SqlType::Numeric { .. } => "numeric",
                SqlType::Text => "text",
                SqlType::Varchar(_) => "varchar",
                SqlType::Char(_) => "bpchar",
                SqlType::Bytea => "bytea",
                SqlType::Date => "date",
                SqlType::Time => "time",
                SqlType::Timestamp => "timestamp",
                SqlType::TimestampTz => "timestamptz",
                SqlType::Interval => "interval",
                SqlType::Uuid => "uuid",
                SqlType::Json => "json",
                SqlType::Jsonb => "jsonb",
                SqlType::Vector(_) => "vector",
                SqlType::HalfVec(_) => "halfvec",
                SqlType::SparseVec(_) => "sparsevec",
                SqlType::Bit(_) => "bit",
                SqlType::VarBit(_) => "varbit",
                SqlType::Array(inner) => return Some(format!("_{}", inner.typname()?)),
                SqlType::Enum { .. } => return None,
            }
            .to_string(),
        )
    }

    /// The type's OID in `pg_type` (None for an enum).
    pub fn oid(&self) -> Option<i64> {
        let name = self.typname()?;
        pg_type_rows()
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.oid)
    }

    /// PostgreSQL's typmod (`atttypmod`): varchar(n)/char(n) n + 4,
    /// numeric(p,s) (p << 16 | s) + 4, vector(n) n, bit(n) n; else -1.
    pub fn typmod(&self) -> i32 {
        match self {
            SqlType::Varchar(Some(n)) | SqlType::Char(Some(n)) => *n as i32 + 4,
            SqlType::Numeric {
                precision: Some(p),
                scale,
            } => ((i32::from(*p) << 16) | (i32::from(scale.unwrap_or(0)) & 0xffff)) + 4,
            SqlType::Vector(Some(n))
            | SqlType::HalfVec(Some(n))
            | SqlType::SparseVec(Some(n))
            | SqlType::Bit(Some(n))
            | SqlType::VarBit(Some(n)) => *n as i32,
            SqlType::Array(inner) => inner.typmod(),
            _ => -1,
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
            | SqlType::Uuid
            | SqlType::Enum { .. } => "text".into(),
            SqlType::TimestampTz => "timestamptz".into(),
            SqlType::Time => "time".into(),
            SqlType::Timestamp => "timestamp".into(),
            SqlType::Array(inner) => format!("{}[]", inner.cast_name()),
            SqlType::VarBit(n) => with_mod("varbit", n),
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
            SqlType::Vector(_) => Some("vector"),
            SqlType::HalfVec(_) => Some("halfvec"),
            SqlType::SparseVec(_) => Some("sparsevec"),
            SqlType::Bit(_) => Some("bit"),
            SqlType::VarBit(_) => Some("varbit"),
            _ => None,
        }
    }

    pub fn field(&self, name: &str, nullable: bool) -> Field {
        let f = Field::new(name, self.arrow_type(), nullable);
        if let SqlType::Enum { schema, name } = self {
            return f.with_metadata(
                [(PG_TYPE_KEY.to_string(), enum_metadata(schema, name))]
                    .into_iter()
                    .collect(),
            );
        }
        match self.wire_override() {
            Some(t) => f.with_metadata(
                [(PG_TYPE_KEY.to_string(), t.to_string())]
                    .into_iter()
                    .collect(),
            ),
            None => f,
        }
    }

    /// `vector(n)` and its kin from a custom type name and its modifiers.
    fn vector_kind(kind: crate::vector::Kind, name: &str, mods: &[String]) -> PgResult<SqlType> {
        use crate::vector::Kind;
        let typmod = match mods {
            [] => None,
            [m] => {
                // PostgreSQL reads each modifier as an integer constant.
                let text = m.trim().trim_matches('\'');
                let n: i64 = text.parse().map_err(|_| {
                    PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        format!("invalid input syntax for type integer: \"{text}\""),
                    )
                })?;
                Some(crate::vector::check_typmod(kind, n)?)
            }
            _ => {
                return Err(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    "invalid type modifier",
                ));
            }
        };
        Ok(match (kind, name) {
            (Kind::Vector, _) => SqlType::Vector(typmod),
            (Kind::HalfVec, _) => SqlType::HalfVec(typmod),
            (Kind::SparseVec, _) => SqlType::SparseVec(typmod),
            (Kind::Bit, "varbit") => SqlType::VarBit(typmod),
            (Kind::Bit, _) => SqlType::Bit(Some(typmod.unwrap_or(1))),
        })
    }

    /// The vector kind and typmod of a pgvector or bit type.
    pub fn vector(&self) -> Option<(crate::vector::Kind, Option<u32>)> {
        use crate::vector::Kind;
        Some(match self {
            SqlType::Vector(n) => (Kind::Vector, *n),
            SqlType::HalfVec(n) => (Kind::HalfVec, *n),
            SqlType::SparseVec(n) => (Kind::SparseVec, *n),
            SqlType::Bit(n) | SqlType::VarBit(n) => (Kind::Bit, *n),
            _ => return None,
        })
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

fn with_mod(name: &str, n: &Option<u32>) -> String {
    match n {
        Some(n) => format!("{name}({n})"),
        None => name.to_string(),
    }
}

fn bit_len(n: Option<u64>) -> PgResult<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) => crate::vector::check_typmod(crate::vector::Kind::Bit, n as i64).map(Some),
    }
}

fn char_len(len: &Option<CharacterLength>) -> Option<u32> {
    match len {
        Some(CharacterLength::IntegerLength { length, .. }) => Some(*length as u32),
        _ => None,
    }
}

/// OIDs GrapeDB gives pgvector's types (pgvector's own depend on when the
/// extension was created; clients look them up by name in pg_type).
pub mod oids {
    pub const VECTOR: u32 = 16385;
    pub const VECTOR_ARRAY: u32 = 16390;
    pub const HALFVEC: u32 = 16386;
    pub const HALFVEC_ARRAY: u32 = 16391;
    pub const SPARSEVEC: u32 = 16387;
    pub const SPARSEVEC_ARRAY: u32 = 16392;
    pub const BIT: u32 = 1560;
    pub const VARBIT: u32 = 1562;
}

/// The wire type of a vector kind (`varbit` for bit strings of any length).
pub fn vector_pg_type(name: &str) -> Option<postgres_types::Type> {
    use postgres_types::{Kind, Type};
    let custom = |n: &str, oid: u32| Type::new(n.to_string(), oid, Kind::Simple, "public".into());
    Some(match name {
        "vector" => custom("vector", oids::VECTOR),
        "halfvec" => custom("halfvec", oids::HALFVEC),
        "sparsevec" => custom("sparsevec", oids::SPARSEVEC),
        "bit" => Type::BIT,
        "varbit" => Type::VARBIT,
        _ => return None,
    })
}

/// The vector kind a wire type stands for.
pub fn vector_kind_of_pg_type(t: &postgres_types::Type) -> Option<crate::vector::Kind> {
    match t.oid() {
        oids::VECTOR => Some(crate::vector::Kind::Vector),
        oids::HALFVEC => Some(crate::vector::Kind::HalfVec),
        oids::SPARSEVEC => Some(crate::vector::Kind::SparseVec),
        oids::BIT | oids::VARBIT => Some(crate::vector::Kind::Bit),
        _ => None,
    }
}

/// One row of `pg_catalog.pg_type` (from catalog/pg_type.tsv).
#[derive(Debug, Clone)]
pub struct PgTypeRow {
    pub oid: i64,
    pub name: String,
    pub namespace: i64,
    pub len: i16,
    pub category: String,
    pub elem: i64,
    pub array: i64,
}

static PG_TYPE_TSV: &str = include_str!("../../catalog/pg_type.tsv");

/// The types `pg_catalog.pg_type` lists.
pub fn pg_type_rows() -> &'static [PgTypeRow] {
    static ROWS: std::sync::LazyLock<Vec<PgTypeRow>> = std::sync::LazyLock::new(|| {
        PG_TYPE_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                Some(PgTypeRow {
                    oid: f.first()?.parse().ok()?,
                    name: f.get(1)?.to_string(),
                    namespace: f.get(2)?.parse().ok()?,
                    len: f.get(3)?.parse().ok()?,
                    category: f.get(4)?.to_string(),
                    elem: f.get(5)?.parse().ok()?,
                    array: f.get(6)?.parse().ok()?,
                })
            })
            .collect()
    });
    &ROWS
}

/// `to_regtype('name')`: the OID of a type name (SQL spellings included).
pub fn regtype_oid(name: &str) -> Option<i64> {
    let n = name.trim().to_lowercase();
    let n = n
        .strip_prefix("public.")
        .or_else(|| n.strip_prefix("pg_catalog."))
        .unwrap_or(&n);
    let n = match n {
        "integer" | "int" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "real" => "float4",
        "double precision" => "float8",
        "boolean" => "bool",
        "character varying" => "varchar",
        "character" => "bpchar",
        "bit varying" => "varbit",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        other => other,
    };
    pg_type_rows().iter().find(|r| r.name == n).map(|r| r.oid)
}

/// `oid::regtype::text`: a type's name as format_type prints it.
pub fn regtype_name(oid: i64) -> Option<String> {
    let row = pg_type_rows().iter().find(|r| r.oid == oid)?;
    Some(
        match row.name.as_str() {
            "int4" => "integer",
            "int8" => "bigint",
            "int2" => "smallint",
            "float4" => "real",
            "float8" => "double precision",
            "bool" => "boolean",
            "varchar" => "character varying",
            "bpchar" => "character",
            "varbit" => "bit varying",
            "timestamp" => "timestamp without time zone",
            "timestamptz" => "timestamp with time zone",
            "time" => "time without time zone",
            other => other,
        }
        .to_string(),
    )
}
