//! Turning DataFusion and parser errors into PostgreSQL errors.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::error::{PgError, codes};

/// Map a parser error to 42601 with PostgreSQL's wording and a position.
pub fn parser_error(e: &ParserError, sql: &str) -> PgError {
    let msg = match e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => {
            return PgError::new("54001", "stack depth limit exceeded");
        }
    };
    let (near, pos) = locate(&msg, sql);
    let message = match near {
        Some(tok) if tok.is_empty() || tok == "EOF" => "syntax error at end of input".to_string(),
        Some(tok) => format!("syntax error at or near \"{tok}\""),
        None => format!("syntax error: {msg}"),
    };
    let mut err = PgError::syntax(message);
    if let Some(p) = pos {
        err = err.with_position(p);
    }
    err
}

/// Find "found: X at Line: l, Column: c" in a sqlparser message.
fn locate(msg: &str, sql: &str) -> (Option<String>, Option<usize>) {
    let found = msg.split("found: ").nth(1).map(|rest| {
        let end = rest.find(" at Line:").unwrap_or(rest.len());
        rest[..end].trim().to_string()
    });
    let pos = msg.rfind("Line: ").and_then(|i| {
        let rest = &msg[i + 6..];
        let mut parts = rest.split(", Column: ");
        let line: usize = parts.next()?.trim().parse().ok()?;
        let col: usize = parts
            .next()?
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .ok()?;
        let mut offset = 0;
        for (n, l) in sql.split('\n').enumerate() {
            if n + 1 == line {
                return Some(offset + col);
            }
            offset += l.chars().count() + 1;
        }
        None
    });
    let pos = match (&found, pos) {
        (Some(f), _) if f == "EOF" => Some(sql.trim_end().chars().count() + 1),
        (_, p) => p,
    };
    (found, pos)
}

pub fn pg_type_name(arrow: &str) -> &str {
    match arrow {
        "Int16" => "smallint",
        "Int32" => "integer",
        "Int64" => "bigint",
        "Float32" => "real",
        "Float64" => "double precision",
        "Boolean" => "boolean",
        "Date32" => "date",
        s if s.starts_with("Decimal") => "numeric",
        s if s.starts_with("Timestamp") => "timestamp",
        _ => arrow,
    }
}

/// Map a DataFusion error.
pub fn df_error(e: DataFusionError) -> PgError {
    if let Some(pg) = find_pg(&e) {
        return pg;
    }
    let root = e.find_root();
    match root {
        DataFusionError::SQL(pe, _) => parser_error(pe, ""),
        DataFusionError::SchemaError(se, _) => match se.as_ref() {
            SchemaError::FieldNotFound { field, .. } => PgError::undefined_column(&field.name),
            SchemaError::AmbiguousReference { field } => PgError::new(
                "42702",
                format!("column reference \"{}\" is ambiguous", field.name),
            ),
            SchemaError::DuplicateQualifiedField { name, .. }
            | SchemaError::DuplicateUnqualifiedField { name } => PgError::new(
                codes::DUPLICATE_COLUMN,
                format!("column \"{name}\" specified more than once"),
            ),
        },
        DataFusionError::ArrowError(ae, _) => arrow_error(ae),
        DataFusionError::NotImplemented(m) => not_implemented(m),
        DataFusionError::Plan(m) => plan_error(m),
        DataFusionError::Execution(m) => exec_error(m),
        other => {
            let m = other.to_string();
            exec_error(&m)
        }
    }
}

/// PostgreSQL's built-in types GrapeDB does not have: naming one is
/// 0A000; any other unknown name is a type that does not exist (42704).
const PG_TYPES_MISSING: &[&str] = &[
    "money",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "tsvector",
    "tsquery",
    "xml",
    "int4range",
    "int8range",
    "numrange",
    "tsrange",
    "tstzrange",
    "daterange",
    "pg_lsn",
    "txid_snapshot",
    "timetz",
    "regproc",
    "regoper",
    "regoperator",
    "regconfig",
    "regdictionary",
    "oidvector",
    "int2vector",
    "name",
    "\"char\"",
    "cstring",
    "record",
    "void",
    "anyelement",
];

fn not_implemented(m: &str) -> PgError {
    if let Some(ty) = m.strip_prefix("Unsupported SQL type ") {
        let ty = ty.trim_end_matches(" is not supported").trim();
        let lower = ty.to_lowercase();
        let base = lower.split('(').next().unwrap_or("").trim();
        if !PG_TYPES_MISSING.contains(&base) && !base.contains(' ') {
            let shown = ty.trim_matches('"');
            return PgError::new(
                codes::UNDEFINED_OBJECT,
                format!("type \"{shown}\" does not exist"),
            );
        }
    }
    PgError::new(
        codes::FEATURE_NOT_SUPPORTED,
        format!("{m} is not supported"),
    )
}

fn find_pg(e: &DataFusionError) -> Option<PgError> {
    match e {
        DataFusionError::External(inner) => inner
            .downcast_ref::<PgError>()
            .cloned()
            .or_else(|| inner.downcast_ref::<DataFusionError>().and_then(find_pg)),
        DataFusionError::Context(_, inner) => find_pg(inner),
        DataFusionError::Shared(inner) => find_pg(inner),
        _ => None,
    }
}

fn arrow_error(e: &ArrowError) -> PgError {
    match e {
        ArrowError::DivideByZero => PgError::new(codes::DIVISION_BY_ZERO, "division by zero"),
        ArrowError::CastError(m) | ArrowError::ParseError(m) => cast_error(m),
        ArrowError::ComputeError(m) if m.contains("Overflow") || m.contains("overflow") => {
            PgError::new(codes::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range")
        }
        // A cast to numeric(p, s) of a value with more integer digits.
        ArrowError::InvalidArgumentError(m) if m.contains("too large to store in a Decimal") => {
            PgError::new(codes::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
        }
        ArrowError::ArithmeticOverflow(_) => {
            PgError::new(codes::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
        }
        ArrowError::ExternalError(inner) => match inner.downcast_ref::<PgError>() {
            Some(pg) => pg.clone(),
            None => PgError::internal(inner.to_string()),
        },
        other => PgError::internal(other.to_string()),
    }
}

/// "Cannot cast string 'abc' to value of Int32 type" → 22P02 in PostgreSQL's words.
fn cast_error(m: &str) -> PgError {
    if let Some(rest) = m.split("Cannot cast string '").nth(1) {
        if let Some((value, tail)) = rest.split_once("' to value of ") {
            let ty = tail.split(' ').next().unwrap_or("");
            return PgError::new(
                codes::INVALID_TEXT_REPRESENTATION,
                format!(
                    "invalid input syntax for type {}: \"{value}\"",
                    pg_type_name(ty)
                ),
            );
        }
    }
    if m.contains("Can't cast value") || m.contains("too large") || m.contains("overflow") {
        return PgError::new(
            codes::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value out of range: {m}"),
        );
    }
    PgError::new(
        codes::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax: {m}"),
    )
}

fn plan_error(m: &str) -> PgError {
    if let Some(rest) = m.split("table '").nth(1) {
        if let Some(name) = rest.strip_suffix("' not found") {
            // DataFusion names the resolved table (catalog.schema.table);
            // PostgreSQL repeats the name as written, which is qualified
            // unless it was found through the search path (public).
            let parts: Vec<&str> = name.split('.').collect();
            let shown = match parts.as_slice() {
                [_, "public", t] | [t] | ["public", t] => t.to_string(),
                [_, s, t] | [s, t] => format!("{s}.{t}"),
                _ => name.to_string(),
            };
            return PgError::undefined_table(&shown);
        }
    }
    if m.contains("non-boolean predicate") {
        let ty = m.rsplit("returning ").next().unwrap_or("").trim();
        return PgError::new(
            codes::DATATYPE_MISMATCH,
            format!(
                "argument of WHERE must be type boolean, not type {}",
                pg_type_name(ty)
            ),
        );
    }
    if m.contains("Invalid function") || m.contains("No function matches") {
        let name = m.split('\'').nth(1).unwrap_or(m);
        return PgError::new(
            codes::UNDEFINED_FUNCTION,
            format!("function {name} does not exist"),
        );
    }
    if m.contains("Cannot infer common")
        || m.contains("Cannot coerce")
        || m.contains("type mismatch")
        || m.contains("does not support")
        || m.contains("Cannot automatically convert")
    {
        return PgError::new(codes::DATATYPE_MISMATCH, m.to_string());
    }
    if m.contains("Inserting query must have the same schema")
        || m.contains("Column count")
        || m.contains("has more")
    {
        return PgError::new(
            codes::SYNTAX_ERROR,
            "INSERT has more expressions than target columns",
        );
    }
    if m.contains("not found") && m.contains("Column") {
        return PgError::new(codes::UNDEFINED_COLUMN, m.to_string());
    }
    PgError::new(codes::SYNTAX_ERROR, m.to_string())
}

fn exec_error(m: &str) -> PgError {
    if m.contains("Divide by zero")
        || m.contains("divide by zero")
        || m.contains("Division by zero")
    {
        return PgError::new(codes::DIVISION_BY_ZERO, "division by zero");
    }
    if m.contains("Cannot cast string") {
        return cast_error(m);
    }
    if m.contains("overflow") {
        return PgError::new(codes::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range");
    }
    PgError::internal(m.to_string())
}
