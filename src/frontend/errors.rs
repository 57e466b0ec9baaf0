//! Errors as the client sees them: SQLSTATE, message, position in the query.

use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::{PgError, codes};

/// Point an "undefined table/column" error at the name in the query text, as
/// PostgreSQL does (1-based character position).
/// An error that knows only the parser's line and column (`span`) gets
/// the character position they name.
pub fn locate_name(mut e: PgError, sql: &str) -> PgError {
    if let (None, Some((line, column))) = (e.position, e.span) {
        let mut offset = 0;
        for (n, l) in sql.split('\n').enumerate() {
            if n as u64 + 1 == line {
                e.position = Some(offset + column as usize);
                break;
            }
            offset += l.chars().count() + 1;
        }
    }
    if e.position.is_some() || !matches!(e.code, codes::UNDEFINED_TABLE | codes::UNDEFINED_COLUMN) {
        return e;
    }
    let Some(name) = e.message.split('"').nth(1) else {
        return e;
    };
    // ASCII folding keeps byte offsets: `to_lowercase` can change a
    // character's length (İ becomes two bytes longer) and the offsets would
    // no longer fall on the original text's character boundaries. Identifiers
    // fold only ASCII letters anyway, as in PostgreSQL.
    let lower = sql.to_ascii_lowercase();
    let needle = name.to_ascii_lowercase();
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
    if let Some(o) = e.object {
        info.schema = Some(o.schema);
        info.table = Some(o.table);
        info.column = o.column;
        info.constraint = o.constraint;
    }
    info
}

pub(super) fn pg_err(e: PgError) -> PgWireError {
    PgWireError::UserError(Box::new(to_error_info(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_characters_of_the_original_text() {
        // 'İ' lowercases to two characters: a position computed on a
        // lowercased copy used to land inside a character and panic.
        let sql = "SELECT 'İİİİİİİİİİİİİİİİİİİİ' FROM nosuch";
        let e = PgError::new(codes::UNDEFINED_TABLE, "relation \"nosuch\" does not exist");
        let e = locate_name(e, sql);
        assert_eq!(e.position, Some(sql.chars().count() - "nosuch".len() + 1));
        let e = PgError::new(codes::UNDEFINED_COLUMN, "column \"x\" does not exist");
        assert_eq!(locate_name(e, "SELECT İ, X FROM t").position, Some(11));
    }
}
