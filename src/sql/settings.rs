//! The settings a session knows (from `catalog/settings.tsv`): their
//! defaults, PostgreSQL's display names, and the domain of each value.

use crate::error::{PgError, PgResult, codes};

pub use crate::pg_catalog::functions::SERVER_VERSION;

/// A setting a session knows (from `catalog/settings.tsv`).
pub struct Setting {
    pub name: String,
    pub default: String,
    pub read_only: bool,
    pub description: String,
}

/// Every setting a session knows, with its default. Anything else is
/// "unrecognized configuration parameter", as in PostgreSQL.
pub static SETTINGS: std::sync::LazyLock<Vec<Setting>> = std::sync::LazyLock::new(|| {
    include_str!("../../catalog/settings.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Setting {
                name: f[0].to_string(),
                default: f
                    .get(1)
                    .unwrap_or(&"")
                    .replace("$SERVER_VERSION", SERVER_VERSION),
                read_only: f.get(2) == Some(&"read-only"),
                description: f.get(3).unwrap_or(&"").to_string(),
            }
        })
        .collect()
});

pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

pub fn description(name: &str) -> &'static str {
    setting(name).map(|s| s.description.as_str()).unwrap_or("")
}

pub fn is_read_only(name: &str) -> bool {
    setting(name).is_some_and(|s| s.read_only)
}

/// Display names (SHOW ALL and ParameterStatus use PostgreSQL's spelling).
/// The setting a SHOW names: its words joined by `.`, with PostgreSQL's
/// multi-word spellings (`SHOW TRANSACTION ISOLATION LEVEL`, `SHOW TIME
/// ZONE`) as the settings they show.
pub fn show_name(words: &[String]) -> String {
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    match lower
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["transaction", "isolation", "level"] => "transaction_isolation".into(),
        ["time", "zone"] => "timezone".into(),
        ["session", "authorization"] => "session_authorization".into(),
        _ => words.join("."),
    }
}

pub fn display_name(name: &str) -> &str {
    match name {
        "datestyle" => "DateStyle",
        "intervalstyle" => "IntervalStyle",
        "timezone" => "TimeZone",
        other => other,
    }
}

/// `value` for setting `key` in its canonical form, or PostgreSQL's error
/// for a value outside the setting's domain.
pub fn validate(key: &str, value: String) -> PgResult<String> {
    match key {
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            parse_duration_ms(&value)
                .map(|_| value.clone())
                .ok_or_else(|| {
                    PgError::new(
                        codes::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"{key}\": \"{value}\""),
                    )
                })
        }
        "default_transaction_isolation" | "transaction_isolation" => {
            match Isolation::parse(&value) {
                Some(_) => Ok(value.trim().to_lowercase()),
                None => Err(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"{key}\": \"{value}\""),
                )
                .with_hint(
                    "Available values: serializable, repeatable read, read committed, read uncommitted.",
                )),
            }
        }
        "extra_float_digits" => match value.trim().parse::<i32>() {
            Ok(v) if (-15..=3).contains(&v) => Ok(v.to_string()),
            Ok(v) => Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                format!(
                    "{v} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
                ),
            )),
            Err(_) => Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"extra_float_digits\": \"{value}\""),
            )),
        },
        "client_encoding" => {
            let v = value.to_uppercase().replace('-', "");
            if v == "UTF8" || v == "UNICODE" {
                Ok("UTF8".into())
            } else {
                Err(PgError::new(
                    codes::FEATURE_NOT_SUPPORTED,
                    format!("conversion between {value} and UTF8 is not supported"),
                ))
            }
        }
        "timezone" => {
            let v = value.trim().to_string();
            if offset_of(&v).is_some() {
                Ok(v)
            } else if let Some(zone) = crate::types::datetime_text::named(&v) {
                // As PostgreSQL, the tz database's own spelling.
                Ok(zone.name().to_string())
            } else {
                Err(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!("invalid value for parameter \"TimeZone\": \"{v}\""),
                ))
            }
        }
        "hnsw.ef_search" => int_in_range(key, &value, 1, 1000),
        "hnsw.max_scan_tuples" => int_in_range(key, &value, 1, i32::MAX as i64),
        "hnsw.scan_mem_multiplier" => int_in_range(key, &value, 1, 1000),
        "ivfflat.probes" | "ivfflat.max_probes" => int_in_range(key, &value, 1, 32768),
        "max_parallel_maintenance_workers" => int_in_range(key, &value, 0, 1024),
        "hnsw.iterative_scan" => one_of(key, &value, &["off", "relaxed_order", "strict_order"]),
        "ivfflat.iterative_scan" => one_of(key, &value, &["off", "relaxed_order"]),
        "xmloption" => one_of(key, &value, &["content", "document"]),
        // Tables are GrapeDB's own storage; PostgreSQL's only table access
        // method is the name pg_dump sets.
        "default_table_access_method" => match value.trim() {
            "heap" => Ok("heap".into()),
            other => Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"{key}\": \"{other}\""),
            )
            .with_detail(format!("Table access method \"{other}\" does not exist."))),
        },
        // No tablespaces here: only the default (pg_dump sets '').
        "default_tablespace" => match value.trim() {
            "" | "pg_default" => Ok(value.trim().into()),
            other => Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                format!("invalid value for parameter \"{key}\": \"{other}\""),
            )
            .with_detail(format!("Tablespace \"{other}\" does not exist."))),
        },
        "enable_indexscan"
        | "enable_seqscan"
        | "row_security"
        | "synchronize_seqscans"
        | "check_function_bodies" => match value.trim().to_lowercase().as_str() {
            "on" | "true" | "yes" | "1" | "t" => Ok("on".into()),
            "off" | "false" | "no" | "0" | "f" => Ok("off".into()),
            _ => Err(PgError::new(
                codes::INVALID_PARAMETER_VALUE,
                format!("parameter \"{key}\" requires a Boolean value"),
            )),
        },
        _ => Ok(value),
    }
}

/// An integer setting within PostgreSQL's GUC bounds, with its error words.
fn int_in_range(key: &str, value: &str, min: i64, max: i64) -> PgResult<String> {
    match value.trim().parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v.to_string()),
        Ok(v) => Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            format!("{v} is outside the valid range for parameter \"{key}\" ({min} .. {max})"),
        )),
        Err(_) => Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{key}\": \"{value}\""),
        )),
    }
}

/// An enum setting, with PostgreSQL's HINT listing the values.
fn one_of(key: &str, value: &str, values: &[&str]) -> PgResult<String> {
    let v = value.trim().to_lowercase();
    if values.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            format!("invalid value for parameter \"{key}\": \"{value}\""),
        )
        .with_hint(format!("Available values: {}.", values.join(", "))))
    }
}

/// "5s", "100ms", "1min", "250" (ms) → milliseconds.
pub fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim().trim_matches('\'').to_lowercase();
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "us" => 0.001,
        _ => return None,
    };
    Some((n * mult) as u64)
}

/// A TimeZone setting as Arrow names a time zone: an offset ("+02:00") or
/// a tz database name ("Europe/Oslo").
pub fn arrow_zone(tz: &str) -> Option<String> {
    offset_of(tz).or_else(|| crate::types::datetime_text::named(tz).map(|z| z.name().to_string()))
}

/// A TimeZone setting that is an offset, as an Arrow offset string. As in
/// PostgreSQL, a plain number (`'+02'`, `'-5'`) is hours east of UTC, but
/// `'-05:30'` is a POSIX zone, whose offsets count west: UTC+05:30.
pub fn offset_of(tz: &str) -> Option<String> {
    let t = tz.trim();
    if t.eq_ignore_ascii_case("utc")
        || t.eq_ignore_ascii_case("gmt")
        || t.eq_ignore_ascii_case("etc/utc")
    {
        return Some("+00:00".into());
    }
    let posix = t.contains(':');
    let (sign, rest) = match (t.as_bytes().first()?, posix) {
        (b'+', false) | (b'-', true) => ('+', &t[1..]),
        (b'-', false) | (b'+', true) => ('-', &t[1..]),
        (b'0'..=b'9', false) => ('+', t),
        (b'0'..=b'9', true) => ('-', t),
        _ => return None,
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (rest.parse::<u32>().ok()?, 0),
    };
    if h > 15 || m > 59 {
        return None;
    }
    Some(format!("{sign}{h:02}:{m:02}"))
}

/// Isolation levels as PostgreSQL names them (READ UNCOMMITTED is READ
/// COMMITTED there too). SERIALIZABLE is snapshot isolation here, as
/// REPEATABLE READ (docs/compatibility.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isolation {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    pub fn parse(s: &str) -> Option<Isolation> {
        let s = s.trim().to_lowercase();
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            ["read", "committed"] | ["read", "uncommitted"] => Some(Isolation::ReadCommitted),
            ["repeatable", "read"] => Some(Isolation::RepeatableRead),
            ["serializable"] => Some(Isolation::Serializable),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read committed",
            Isolation::RepeatableRead => "repeatable read",
            Isolation::Serializable => "serializable",
        }
    }
}
