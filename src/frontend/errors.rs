//! Errors as the client sees them: SQLSTATE, message, position in the query.

use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::{PgError, codes};

/// Point an "undefined table/column" error at the name in the query text, as
/// PostgreSQL does (1-based character position).
pub fn locate_name(mut e: PgError, sql: &str) -> PgError {
    if e.position.is_some() || !matches!(e.code, codes::UNDEFINED_TABLE | codes::UNDEFINED_COLUMN) {
        return e;
    }
    let Some(name) = e.message.split('"').nth(1) else {
        return e;
    };
    let lower = sql.to_lowercase();
    let needle = name.to_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&needle) {
        let start = from + i;
        let end = start + needle.len();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let before_ok = start == 0 || !word(bytes[start - 1]);
        let after_ok = end >= bytes.len() || !word(bytes[end]);
        if before_ok && after_ok {
            e.position = Some(sql[..start].chars().count() + 1);
            break;
        }
        from = end;
    }
    e
}

pub fn to_error_info(e: PgError) -> ErrorInfo {
    let mut info = ErrorInfo::new("ERROR".to_string(), e.code.to_string(), e.message);
    info.position = e.position.map(|p| p.to_string());
    info.detail = e.detail;
    info.hint = e.hint;
    info
}

pub(super) fn pg_err(e: PgError) -> PgWireError {
    PgWireError::UserError(Box::new(to_error_info(e)))
}
