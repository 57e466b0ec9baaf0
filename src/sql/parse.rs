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
    parse_statements(sql).map_err(|e| {
        if is_check_option_view(sql) {
            return check_option_refused();
        }
        parser_error(&e, sql)
    })
}

/// `CREATE VIEW ... WITH [CASCADED | LOCAL] CHECK OPTION` (which
/// sqlparser does not parse).
fn is_check_option_view(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .map(|w| w.trim_end_matches(';').to_uppercase())
        .collect();
    let starts = matches!(
        words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["CREATE", "VIEW", ..]
            | ["CREATE", "OR", "REPLACE", "VIEW", ..]
            | ["CREATE", "RECURSIVE", "VIEW", ..]
    );
    starts
        && words
            .windows(2)
            .any(|w| w[0] == "CHECK" && w[1] == "OPTION")
}

/// Views are read-only here (not automatically updatable), and PostgreSQL
/// allows a CHECK OPTION only on automatically updatable ones.
pub fn check_option_refused() -> crate::error::PgError {
    crate::error::PgError::new(
        crate::error::codes::FEATURE_NOT_SUPPORTED,
        "WITH CHECK OPTION is supported only on automatically updatable views",
    )
    .with_hint("GrapeDB's views are read-only: write to the view's table instead.")
}

/// The schema (if given) and name of a possibly qualified name's parts
/// (`name`, `schema.name`, `database.schema.name`); `None` for other
/// shapes.
pub fn schema_and_name(parts: &[String]) -> Option<(Option<&str>, &str)> {
    match parts {
        [n] => Some((None, n.as_str())),
        [s, n] | [_, s, n] => Some((Some(s.as_str()), n.as_str())),
        _ => None,
    }
}

/// A name given as text (`nextval('s')`, `'public."My Seq"'::regclass`):
/// its dot-separated parts, unquoted ones folded to lower case.
pub fn split_qualified(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push(if was_quoted {
                    cur.clone()
                } else {
                    cur.to_lowercase()
                });
                cur.clear();
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    parts.push(if was_quoted { cur } else { cur.to_lowercase() });
    parts
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
    let tokens = vector::reindex_calls(vector::generic_operators(sequence_options(
        alter_sequence(add_identity(owner_to(create_table_as(unlogged(
            negative_fetch_counts(tokens),
        ))))),
    )));
    Parser::new(&dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
}

/// `FETCH ABSOLUTE -1`, `FETCH RELATIVE -3`, `FETCH -2`: sqlparser reads
/// a FETCH count as one number token, so the minus joins the number (in
/// the FETCH only, up to its `;`).
fn negative_fetch_counts(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is_fetch = |t: &Token| matches!(t, Token::Word(w) if w.keyword == Keyword::FETCH);
    // Cheap test first: this runs on every statement.
    if !tokens.iter().any(|t| is_fetch(&t.token)) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    // Whether the statement being read is a FETCH (its first word).
    let mut first = true;
    let mut in_fetch = false;
    let mut iter = tokens.drain(..).peekable();
    while let Some(t) = iter.next() {
        if matches!(t.token, Token::Whitespace(_)) {
            out.push(t);
            continue;
        }
        if first {
            in_fetch = is_fetch(&t.token);
            first = false;
        }
        if t.token == Token::SemiColon {
            first = true;
            in_fetch = false;
        }
        if in_fetch
            && t.token == Token::Minus
            && let Some(Token::Number(n, long)) = iter.peek().map(|n| n.token.clone())
        {
            let mut num = iter.next().expect("peeked");
            num.token = Token::Number(format!("-{n}"), long);
            out.push(num);
            continue;
        }
        out.push(t);
    }
    out
}

/// `CREATE TABLE t (a, b) AS query` and `... AS query WITH [NO] DATA`,
/// which sqlparser does not take, as `CREATE TABLE t AS SELECT * FROM
/// (query) AS grape_ctas (a, b) [LIMIT 0]`: the column list renames the
/// query's columns, WITH NO DATA makes the table without rows.
fn create_table_as(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let word = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    // Cheap test first: this runs on every statement.
    if !tokens.iter().any(|t| word(&t.token, Keyword::CREATE))
        || !tokens.iter().any(|t| word(&t.token, Keyword::AS))
    {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    for stmt in tokens.split_inclusive(|t| t.token == Token::SemiColon) {
        match ctas_rewritten(stmt) {
            Some(new) => out.extend(new),
            None => out.extend_from_slice(stmt),
        }
    }
    out
}

fn ctas_rewritten(stmt: &[TokenWithSpan]) -> Option<Vec<TokenWithSpan>> {
    let word = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    // The statement's tokens without whitespace, and where each one is.
    let at: Vec<usize> = (0..stmt.len())
        .filter(|&k| !matches!(stmt[k].token, Token::Whitespace(_)))
        .collect();
    let solid: Vec<&Token> = at.iter().map(|&k| &stmt[k].token).collect();
    let mut i = 0;
    if !word(solid.first()?, Keyword::CREATE) {
        return None;
    }
    i += 1;
    while word(solid.get(i)?, Keyword::TEMP) || word(solid.get(i)?, Keyword::TEMPORARY) {
        i += 1;
    }
    if !word(solid.get(i)?, Keyword::TABLE) {
        return None;
    }
    i += 1;
    if word(solid.get(i)?, Keyword::IF) {
        i += 3;
    }
    // The name, maybe qualified.
    i += 1;
    while solid.get(i) == Some(&&Token::Period) {
        i += 2;
    }
    let name_end = i;
    let mut columns = Vec::new();
    if solid.get(i) == Some(&&Token::LParen) {
        i += 1;
        loop {
            match solid.get(i)? {
                Token::Word(_) => columns.push(solid[i].to_string()),
                _ => return None,
            }
            i += 1;
            match solid.get(i)? {
                Token::Comma => i += 1,
                Token::RParen => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if !word(solid.get(i)?, Keyword::AS) {
        return None;
    }
    let query_start = i + 1;
    let ends_with_semicolon = solid.last() == Some(&&Token::SemiColon);
    let mut query_end = solid.len() - ends_with_semicolon as usize;
    let mut no_data = None;
    let tail = &solid[query_start..query_end];
    let n = tail.len();
    if n >= 3
        && word(tail[n - 3], Keyword::WITH)
        && word(tail[n - 2], Keyword::NO)
        && word(tail[n - 1], Keyword::DATA)
    {
        no_data = Some(true);
        query_end -= 3;
    } else if n >= 2 && word(tail[n - 2], Keyword::WITH) && word(tail[n - 1], Keyword::DATA) {
        no_data = Some(false);
        query_end -= 2;
    }
    if (columns.is_empty() && no_data.is_none()) || query_start >= query_end {
        return None;
    }
    let tokens = |sql: &str| {
        Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .ok()
    };
    // The original tokens of the name and of the query (literals keep
    // their text), new ones around them.
    let mut out: Vec<TokenWithSpan> = stmt[..at[name_end]].to_vec();
    out.extend(tokens(" AS SELECT * FROM (")?);
    out.extend_from_slice(&stmt[at[query_start]..=at[query_end - 1]]);
    let mut after = ") AS grape_ctas".to_string();
    if !columns.is_empty() {
        after.push_str(&format!(" ({})", columns.join(", ")));
    }
    if no_data == Some(true) {
        after.push_str(" LIMIT 0");
    }
    if ends_with_semicolon {
        after.push(';');
    }
    out.extend(tokens(&after)?);
    Some(out)
}

/// The internal procedure `ALTER TABLE [ONLY] t ALTER [COLUMN] c ADD
/// GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY [(options)]` becomes
/// (sqlparser does not take it; pg_dump writes it for identity columns):
/// `CALL grape_add_identity('t', 'c', 'ALWAYS', 'options')`.
pub const ADD_IDENTITY_CALL: &str = "grape_add_identity";

fn add_identity(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    per_statement(tokens, |words| {
        let is =
            |t: &TokenWithSpan, k: Keyword| matches!(&t.token, Token::Word(w) if w.keyword == k);
        (words.len() > 8 && is(words[0], Keyword::ALTER) && is(words[1], Keyword::TABLE))
            .then(|| {
                // The second ALTER: the column's.
                let at = 2 + words[2..].iter().position(|t| is(t, Keyword::ALTER))?;
                let mut table: Vec<&TokenWithSpan> = words[2..at].to_vec();
                while table.first().is_some_and(|t| is(t, Keyword::ONLY)) {
                    table.remove(0);
                }
                if !is_qualified_name(&table) {
                    return None;
                }
                let mut i = at + 1;
                if words.get(i).is_some_and(|t| is(t, Keyword::COLUMN)) {
                    i += 1;
                }
                let column = match &words.get(i)?.token {
                    Token::Word(w) if w.quote_style.is_some() => w.value.clone(),
                    Token::Word(w) => w.value.to_lowercase(),
                    _ => return None,
                };
                if !(is(words.get(i + 1)?, Keyword::ADD)
                    && is(words.get(i + 2)?, Keyword::GENERATED))
                {
                    return None;
                }
                let (kind, next) = if is(words.get(i + 3)?, Keyword::ALWAYS) {
                    ("ALWAYS", i + 4)
                } else if is(words.get(i + 3)?, Keyword::BY)
                    && is(words.get(i + 4)?, Keyword::DEFAULT)
                {
                    ("BY DEFAULT", i + 5)
                } else {
                    return None;
                };
                if !(is(words.get(next)?, Keyword::AS)
                    && is(words.get(next + 1)?, Keyword::IDENTITY))
                {
                    return None;
                }
                let rest = &words[next + 2..];
                let options: String = match rest {
                    [] => String::new(),
                    [open, inner @ .., close]
                        if open.token == Token::LParen && close.token == Token::RParen =>
                    {
                        inner
                            .iter()
                            .map(|t| t.token.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                    _ => return None,
                };
                let q = |s: &str| s.replace('\'', "''");
                let table: String = table.iter().map(|t| t.token.to_string()).collect();
                Some(format!(
                    "CALL {ADD_IDENTITY_CALL}('{}', '{}', '{kind}', '{}')",
                    q(&table),
                    q(&column),
                    q(&options)
                ))
            })
            .flatten()
    })
}

/// The string arguments of an internal CALL the rewrites below make
/// (`CALL grape_owner_to('TABLE', 't', 'me')`).
pub fn call_text_args(f: &datafusion::sql::sqlparser::ast::Function) -> Vec<String> {
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value,
    };
    let FunctionArguments::List(l) = &f.args else {
        return Vec::new();
    };
    l.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) => match &v.value {
                Value::SingleQuotedString(s) => s.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        })
        .collect()
}

/// The internal procedure `ALTER kind name OWNER TO role` becomes
/// (`CALL grape_owner_to('kind', 'name', 'role')`; sqlparser takes it
/// for some kinds only, and pg_dump writes one after every object).
pub const OWNER_TO_CALL: &str = "grape_owner_to";

fn owner_to(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    per_statement(tokens, |words| {
        let kw = |i: usize, k: Keyword| {
            words
                .get(i)
                .is_some_and(|t| matches!(&t.token, Token::Word(w) if w.keyword == k))
        };
        let n = words.len();
        (n >= 6 && kw(0, Keyword::ALTER) && kw(n - 3, Keyword::OWNER) && kw(n - 2, Keyword::TO))
            .then(|| {
                let kind = words[1].token.to_string().to_uppercase();
                let mut name: Vec<&TokenWithSpan> = words[2..n - 3].to_vec();
                // ALTER TABLE [IF EXISTS] [ONLY] name
                while name.first().is_some_and(|t| {
                    matches!(&t.token, Token::Word(w) if matches!(w.keyword, Keyword::IF | Keyword::EXISTS | Keyword::ONLY))
                }) {
                    name.remove(0);
                }
                // Only `name` or `schema.name` (`RENAME COLUMN owner TO x`
                // is not this statement).
                if !is_qualified_name(&name) {
                    return None;
                }
                let name: String = name.iter().map(|t| t.token.to_string()).collect();
                let role = match &words[n - 1].token {
                    Token::Word(w) if w.quote_style.is_some() => w.value.clone(),
                    Token::Word(w) => w.value.to_lowercase(),
                    other => other.to_string(),
                };
                let q = |s: &str| s.replace('\'', "''");
                Some(format!(
                    "CALL {OWNER_TO_CALL}('{}', '{}', '{}')",
                    q(&kind),
                    q(&name),
                    q(&role)
                ))
            })
            .flatten()
    })
}

/// Whether `words` are a (maybe schema-qualified) name: `a` or `a.b`.
fn is_qualified_name(words: &[&TokenWithSpan]) -> bool {
    let word = |t: &TokenWithSpan| matches!(t.token, Token::Word(_));
    match words {
        [a] => word(a),
        [a, dot, b] => word(a) && dot.token == Token::Period && word(b),
        _ => false,
    }
}

/// Each statement of `tokens` (split at top-level semicolons) whose solid
/// words `call` turns into a statement's SQL, replaced by that SQL's
/// tokens (the internal calls above); the others as they are.
fn per_statement(
    tokens: Vec<TokenWithSpan>,
    call: impl Fn(&[&TokenWithSpan]) -> Option<String>,
) -> Vec<TokenWithSpan> {
    let solid = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut start = 0;
    while start < tokens.len() {
        let mut end = start;
        while end < tokens.len() && tokens[end].token != Token::SemiColon {
            end += 1;
        }
        let words: Vec<&TokenWithSpan> = tokens[start..end].iter().filter(|t| solid(t)).collect();
        let replaced = call(&words).and_then(|sql| {
            Tokenizer::new(&PostgreSqlDialect {}, &sql)
                .tokenize_with_location()
                .ok()
        });
        match replaced {
            Some(new) => out.extend(new),
            None => out.extend(tokens[start..end].iter().cloned()),
        }
        if end < tokens.len() {
            out.push(tokens[end].clone());
        }
        start = end + 1;
    }
    out
}

/// The internal procedure `ALTER SEQUENCE` becomes (sqlparser has no
/// ALTER SEQUENCE): `CALL grape_alter_sequence('<the rest of the
/// statement>')`, run by `sql::ddl`.
pub const ALTER_SEQUENCE_CALL: &str = "grape_alter_sequence";

fn alter_sequence(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let word = |t: &TokenWithSpan, k: Keyword| matches!(&t.token, Token::Word(w) if w.keyword == k);
    let solid = |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_));
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        // ALTER SEQUENCE at the start of a statement.
        let starts = word(&tokens[i], Keyword::ALTER)
            && out
                .iter()
                .rev()
                .find(|t| solid(t))
                .is_none_or(|t| t.token == Token::SemiColon)
            && tokens[i + 1..]
                .iter()
                .find(|t| solid(t))
                .is_some_and(|t| word(t, Keyword::SEQUENCE));
        if !starts {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let seq_at = i + 1 + tokens[i + 1..].iter().position(|t| solid(t)).unwrap_or(0);
        let mut end = seq_at + 1;
        while end < tokens.len() && tokens[end].token != Token::SemiColon {
            end += 1;
        }
        let rest: String = tokens[seq_at + 1..end]
            .iter()
            .map(|t| t.token.to_string())
            .collect();
        let call = format!(
            "CALL {ALTER_SEQUENCE_CALL}('{}')",
            rest.trim().replace('\'', "''")
        );
        if let Ok(new) = Tokenizer::new(&PostgreSqlDialect {}, &call).tokenize_with_location() {
            out.extend(new);
        }
        i = end;
    }
    out
}

/// Sequence options in the order sqlparser reads them. PostgreSQL takes
/// them in any order (pg_dump writes START before INCREMENT); sqlparser
/// only as INCREMENT, MINVALUE, MAXVALUE, START, CACHE, CYCLE. Applies to
/// `CREATE SEQUENCE` and an identity column's `(...)`.
fn sequence_options(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let word = |t: &TokenWithSpan, k: Keyword| matches!(&t.token, Token::Word(w) if w.keyword == k);
    let rank = |i: usize| -> Option<usize> {
        let t = &tokens[i];
        let next = tokens[i + 1..]
            .iter()
            .find(|t| !matches!(t.token, Token::Whitespace(_)));
        Some(match () {
            _ if word(t, Keyword::INCREMENT) => 0,
            _ if word(t, Keyword::MINVALUE) => 1,
            _ if word(t, Keyword::MAXVALUE) => 2,
            _ if word(t, Keyword::START) => 3,
            _ if word(t, Keyword::CACHE) => 4,
            _ if word(t, Keyword::CYCLE) => 5,
            _ if word(t, Keyword::NO) => match next {
                Some(n) if word(n, Keyword::MINVALUE) => 1,
                Some(n) if word(n, Keyword::MAXVALUE) => 2,
                Some(n) if word(n, Keyword::CYCLE) => 5,
                _ => return None,
            },
            _ => return None,
        })
    };
    // Regions of options: after CREATE ... SEQUENCE up to `;` or OWNED,
    // and inside the parentheses after IDENTITY.
    let mut regions = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if word(t, Keyword::SEQUENCE) || word(t, Keyword::IDENTITY) {
            let identity = word(t, Keyword::IDENTITY);
            let mut j = i + 1;
            let mut depth = 0i32;
            let mut start = None;
            while j < tokens.len() {
                match &tokens[j].token {
                    Token::SemiColon => break,
                    Token::LParen => {
                        depth += 1;
                        if identity && depth == 1 {
                            start = Some(j + 1);
                        }
                    }
                    Token::RParen => {
                        depth -= 1;
                        if identity && depth <= 0 {
                            break;
                        }
                    }
                    Token::Word(w) if w.keyword == Keyword::OWNED => break,
                    _ if !identity && start.is_none() && rank(j).is_some() => start = Some(j),
                    _ => {}
                }
                if identity
                    && depth == 0
                    && !matches!(tokens[j].token, Token::Whitespace(_) | Token::LParen)
                {
                    break; // IDENTITY without options
                }
                j += 1;
            }
            if let Some(st) = start {
                if st < j {
                    regions.push((st, j));
                }
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    if regions.is_empty() {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut at = 0;
    for (st, end) in regions {
        out.extend_from_slice(&tokens[at..st]);
        let mut clauses: Vec<(usize, Vec<TokenWithSpan>)> = Vec::new();
        // After NO, its MINVALUE/MAXVALUE/CYCLE belongs to the same clause.
        let mut after_no = false;
        for k in st..end {
            let t = &tokens[k];
            match rank(k) {
                Some(r) if !after_no => clauses.push((r, vec![t.clone()])),
                _ => match clauses.last_mut() {
                    Some((_, c)) => c.push(t.clone()),
                    None => out.push(t.clone()),
                },
            }
            if !matches!(t.token, Token::Whitespace(_)) {
                after_no = word(t, Keyword::NO);
            }
        }
        clauses.sort_by_key(|(r, _)| *r);
        for (_, c) in clauses {
            out.extend(c);
            out.push(TokenWithSpan::wrap(Token::Whitespace(
                datafusion::sql::sqlparser::tokenizer::Whitespace::Space,
            )));
        }
        at = end;
    }
    out.extend_from_slice(&tokens[at..]);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_fetch_counts_stay_in_their_fetch() {
        let stmts = parse("FETCH ABSOLUTE -1 FROM c; SELECT 5 -1").unwrap();
        assert_eq!(stmts.len(), 2);
        assert_eq!(parse("FETCH -1 FROM c; FETCH -2 FROM c").unwrap().len(), 2);
        assert_eq!(
            parse("SELECT 1; FETCH RELATIVE -1 FROM c").unwrap().len(),
            2
        );
        assert!(stmts[0].to_string().contains("-1"));
        // The SELECT's minus is still an operator.
        assert!(stmts[1].to_string().contains("5 - 1"), "{}", stmts[1]);
    }

    fn one(sql: &str) -> String {
        parse(sql).unwrap().pop().unwrap().to_string()
    }

    #[test]
    fn create_table_as_takes_a_column_list_and_with_no_data() {
        assert_eq!(
            one("CREATE TABLE t (a, b) AS SELECT x, 'it''s' FROM s"),
            "CREATE TABLE t AS SELECT * FROM (SELECT x, 'it''s' FROM s) AS grape_ctas (a, b)"
        );
        assert_eq!(
            one("create temp table if not exists p.t as select 1 with no data;"),
            "CREATE TEMPORARY TABLE IF NOT EXISTS p.t AS SELECT * FROM (SELECT 1) AS grape_ctas LIMIT 0"
        );
        // Left alone: a typed column list, a plain CTAS.
        assert_eq!(
            one("CREATE TABLE t (a int) AS SELECT 1"),
            "CREATE TABLE t (a INT) AS SELECT 1"
        );
        assert_eq!(
            one("CREATE TABLE t AS SELECT 1"),
            "CREATE TABLE t AS SELECT 1"
        );
        assert_eq!(
            parse("CREATE TABLE a AS SELECT 1 WITH DATA; SELECT 2")
                .unwrap()
                .len(),
            2
        );
    }
}
