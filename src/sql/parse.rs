//! Statement text to sqlparser's AST (PostgreSQL dialect, with pgvector's
//! operators as generic operators), and names as PostgreSQL folds them.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Statement};

use super::errors::parser_error;
use super::vector;
use crate::error::PgResult;

/// The statements of `sql`.
pub fn parse(sql: &str) -> PgResult<Vec<Statement>> {
    vector::parse_statements(sql).map_err(|e| parser_error(&e, sql))
}

/// The parts of a (possibly qualified) name: quoted parts as written,
/// unquoted ones folded to lower case.
pub fn object_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => folded(i),
            None => p.to_string(),
        })
        .collect()
}

/// An identifier as the catalog spells it: quoted as written, unquoted
/// folded to lower case.
pub fn folded(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}
