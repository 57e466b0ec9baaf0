//! Statement text to sqlparser's AST (PostgreSQL dialect, with pgvector's
//! operators as generic operators), and names as PostgreSQL folds them.

use datafusion::sql::sqlparser::ast::{Expr, Ident, ObjectName, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::errors::parser_error;
use super::vector;
use crate::error::PgResult;

/// The statements of `sql`.
pub fn parse(sql: &str) -> PgResult<Vec<Statement>> {
    parse_statements(sql).map_err(|e| parser_error(&e, sql))
}

/// An expression kept as SQL text (a DEFAULT, a CHECK, a generation
/// expression), read with the same operators as statements.
pub fn parse_expr(sql: &str) -> PgResult<Expr> {
    let dialect = PostgreSqlDialect {};
    let parsed = Tokenizer::new(&dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(ParserError::from)
        .and_then(|tokens| {
            Parser::new(&dialect)
                .with_tokens_with_locations(vector::generic_operators(tokens))
                .parse_expr()
        });
    parsed.map_err(|e| parser_error(&e, sql))
}

/// Parse SQL text as PostgreSQL would: pgvector's distance operators with
/// PostgreSQL's precedence, REINDEX, and words sqlparser does not take.
fn parse_statements(sql: &str) -> Result<Vec<Statement>, ParserError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()?;
    let tokens = vector::reindex_calls(vector::generic_operators(unlogged(tokens)));
    Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
}

/// `CREATE UNLOGGED TABLE` is `CREATE TABLE`: every table here is written
/// through its shard's Raft log and survives a crash, so PostgreSQL's
/// "not crash-safe, faster" has nothing to give up (docs/compatibility.md).
fn unlogged(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let word = |t: &TokenWithSpan, k: Keyword| matches!(&t.token, Token::Word(w) if w.keyword == k);
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        // Looked back only at the rare word itself (this runs on every
        // statement).
        let after_create = || {
            out.iter()
                .rev()
                .find(|t| !matches!(t.token, Token::Whitespace(_)))
                .is_some_and(|p| word(p, Keyword::CREATE))
        };
        if word(t, Keyword::UNLOGGED) && after_create() {
            // The word and the space after it.
            i += 1;
            if matches!(tokens.get(i).map(|t| &t.token), Some(Token::Whitespace(_))) {
                i += 1;
            }
            continue;
        }
        out.push(t.clone());
        i += 1;
    }
    out
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
