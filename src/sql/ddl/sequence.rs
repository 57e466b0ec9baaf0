//! CREATE SEQUENCE and DROP SEQUENCE; the sequences serial and identity
//! columns own; `DEFAULT nextval('s')` bound to its sequence.

use datafusion::sql::sqlparser::ast::{DataType, Expr, ObjectName, SequenceOptions, Statement};

use super::common::*;
use crate::catalog::{Catalog, Column, Relation, Sequence, Table};
use crate::error::{Notice, PgError, PgResult, codes};
use crate::sql::session::Session;
use crate::sql::{Engine, Output, object_parts};
use crate::types::SqlType;

fn invalid(msg: String) -> PgError {
    PgError::new(codes::INVALID_PARAMETER_VALUE, msg)
}

fn number(e: &Expr) -> PgResult<i64> {
    let text = e.to_string().replace(' ', "");
    text.parse::<i64>()
        .map_err(|_| PgError::syntax(format!("invalid sequence option value {text}")))
}

/// The bounds of a sequence's type.
fn type_range(ty: &SqlType) -> (i64, i64) {
    match ty {
        SqlType::Int2 => (i16::MIN as i64, i16::MAX as i64),
        SqlType::Int4 => (i32::MIN as i64, i32::MAX as i64),
        _ => (i64::MIN, i64::MAX),
    }
}

/// A sequence from its options, with PostgreSQL's defaults and checks.
pub(super) fn sequence_from_options(
    schema: &str,
    name: &str,
    key: String,
    ty: SqlType,
    options: &[SequenceOptions],
) -> PgResult<Sequence> {
    if !matches!(ty, SqlType::Int2 | SqlType::Int4 | SqlType::Int8) {
        return Err(invalid(
            "sequence type must be smallint, integer, or bigint".into(),
        ));
    }
    let (lo, hi) = type_range(&ty);
    let (mut inc, mut min, mut max, mut start, mut cycle) = (1i64, None, None, None, false);
    for o in options {
        match o {
            SequenceOptions::IncrementBy(e, _) => inc = number(e)?,
            SequenceOptions::MinValue(e) => min = e.as_ref().map(number).transpose()?,
            SequenceOptions::MaxValue(e) => max = e.as_ref().map(number).transpose()?,
            SequenceOptions::StartWith(e, _) => start = Some(number(e)?),
            SequenceOptions::Cache(e) => {
                if number(e)? < 1 {
                    return Err(invalid(format!(
                        "CACHE ({}) must be greater than zero",
                        number(e)?
                    )));
                }
            }
            // sqlparser's flag is the NO of NO CYCLE.
            SequenceOptions::Cycle(no) => cycle = !*no,
        }
    }
    if inc == 0 {
        return Err(invalid("INCREMENT must not be zero".into()));
    }
    let min = min.unwrap_or(if inc > 0 { 1 } else { lo });
    let max = max.unwrap_or(if inc > 0 { hi } else { -1 });
    if min < lo || max > hi {
        return Err(invalid(format!(
            "{} value out of range for sequence data type {}",
            if min < lo { "MINVALUE" } else { "MAXVALUE" },
            ty.pg_name()
        )));
    }
    if min >= max {
        return Err(invalid(format!(
            "MINVALUE ({min}) must be less than MAXVALUE ({max})"
        )));
    }
    let start = start.unwrap_or(if inc > 0 { min } else { max });
    if start < min {
        return Err(invalid(format!(
            "START value ({start}) cannot be less than MINVALUE ({min})"
        )));
    }
    if start > max {
        return Err(invalid(format!(
            "START value ({start}) cannot be greater than MAXVALUE ({max})"
        )));
    }
    Ok(Sequence {
        schema: schema.to_string(),
        name: name.to_string(),
        key,
        base: start - inc,
        start,
        increment: inc,
        min,
        max,
        cycle,
        data_type: ty,
        owned_by: None,
    })
}

fn exists_error(name: &str) -> PgError {
    PgError::new(
        codes::DUPLICATE_TABLE,
        format!("relation \"{name}\" already exists"),
    )
}

pub(super) async fn create_sequence(
    engine: &Engine,
    session: &mut Session,
    name: &ObjectName,
    if_not_exists: bool,
    data_type: Option<&DataType>,
    options: &[SequenceOptions],
) -> PgResult<Output> {
    let (schema, name) = split_name(session, &object_parts(name))?;
    let ty = match data_type {
        Some(dt) => SqlType::from_ast(dt)?.0,
        None => SqlType::Int8,
    };
    let created = change(engine, session, |cat| {
        if cat.relation_exists(&schema, &name) {
            if if_not_exists {
                return Ok(false);
            }
            return Err(exists_error(&name));
        }
        let id = cat.next_table_id;
        cat.next_table_id += 1;
        let seq = sequence_from_options(&schema, &name, format!("s{id}"), ty, options)?;
        cat.relations.insert(id, Relation::Sequence(seq));
        Ok(true)
    })
    .await?;
    if !created {
        session.notices.push(Notice::notice(
            codes::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists, skipping"),
        ));
    }
    Ok(Output::Command("CREATE SEQUENCE".into()))
}

pub(super) async fn drop_sequence(
    engine: &Engine,
    session: &mut Session,
    names: &[ObjectName],
    if_exists: bool,
) -> PgResult<Output> {
    let search_path = session.search_path();
    for n in names {
        let parts = object_parts(n);
        let (schema, name) = crate::sql::parse::schema_and_name(&parts)
            .map(|(s, n)| (s.map(str::to_string), n.to_string()))
            .ok_or_else(|| PgError::syntax("improper qualified name"))?;
        let mut skipped = false;
        change(engine, session, |cat| {
            let found = match cat.resolve_relation(schema.as_deref(), &name, &search_path) {
                Some((id, Relation::Sequence(s))) => Some((id, s.clone())),
                _ => None,
            };
            let Some((id, seq)) = found else {
                if if_exists {
                    skipped = true;
                    return Ok(());
                }
                return Err(PgError::undefined_table(&name));
            };
            if let Some((t, c)) = users(cat, &seq).next() {
                return Err(PgError::new(
                    codes::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!("cannot drop sequence {name} because other objects depend on it"),
                )
                .with_detail(format!(
                    "default value for column {} of table {} depends on sequence {name}",
                    c.name, t.name
                ))
                .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
            }
            cat.relations.remove(&id);
            Ok(())
        })
        .await?;
        if skipped {
            session.notices.push(Notice::notice(
                codes::SUCCESSFUL_COMPLETION,
                format!("sequence \"{name}\" does not exist, skipping"),
            ));
        }
    }
    Ok(Output::Command("DROP SEQUENCE".into()))
}

/// Columns that take their values from `seq` (and the tables they are in).
fn users<'a>(cat: &'a Catalog, seq: &'a Sequence) -> impl Iterator<Item = (&'a Table, &'a Column)> {
    cat.tables.values().flat_map(move |t| {
        t.columns
            .iter()
            .filter(move |c| c.sequence.as_deref() == Some(seq.key.as_str()))
            .filter(move |c| seq.owned_by != Some((t.id, c.id)))
            .map(move |c| (t, c))
    })
}

/// The sequence each serial or identity column of `table` takes its
/// values from, named `table_column_seq` as PostgreSQL names it.
pub(super) fn own_sequences(
    cat: &mut Catalog,
    table: &Table,
    options: &[(u32, Vec<SequenceOptions>)],
) -> PgResult<()> {
    for c in &table.columns {
        let Some(key) = &c.sequence else { continue };
        if cat.sequence_by_key(key).is_some() {
            continue; // a DEFAULT nextval('s') of another sequence
        }
        let opts = options
            .iter()
            .find(|(id, _)| *id == c.id)
            .map(|(_, o)| o.as_slice())
            .unwrap_or(&[]);
        let name = owned_sequence_name(cat, table, &c.name);
        let mut seq = sequence_from_options(&table.schema, &name, key.clone(), c.ty.clone(), opts)?;
        seq.owned_by = Some((table.id, c.id));
        let id = cat.next_table_id;
        cat.next_table_id += 1;
        cat.relations.insert(id, Relation::Sequence(seq));
    }
    Ok(())
}

/// The name PostgreSQL gives a column's own sequence: `table_column_seq`,
/// numbered while a relation of its schema has it.
fn owned_sequence_name(cat: &Catalog, table: &Table, column: &str) -> String {
    let base = format!("{}_{}_seq", table.name, column);
    let mut name = base.clone();
    let mut n = 0;
    while cat.relation_exists(&table.schema, &name) || cat.table(&table.schema, &name).is_some() {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// A `DEFAULT nextval('s')`: the column takes its values from sequence
/// `s` as a serial column does (the name must exist: 42P01).
pub(super) fn bind_nextval_default(
    cat: &Catalog,
    search_path: &[String],
    col: &mut Column,
) -> PgResult<()> {
    let Some(name) = col.default.as_deref().and_then(nextval_target) else {
        return Ok(());
    };
    let seq = crate::sql::sequences::resolve(cat, search_path, &name)?;
    col.sequence = Some(seq.key);
    Ok(())
}

/// The sequence name of a `nextval('name'[::regclass])` default.
pub fn nextval_target(default: &str) -> Option<String> {
    let expr = crate::sql::parse::parse_expr(default).ok()?;
    let Expr::Function(f) = expr else { return None };
    if !f.name.to_string().eq_ignore_ascii_case("nextval") {
        return None;
    }
    let arg = f.args.to_string();
    let start = arg.find('\'')?;
    let end = arg.rfind('\'')?;
    (end > start).then(|| arg[start + 1..end].replace("''", "'"))
}

/// ALTER SEQUENCE [IF EXISTS] name [options] [RESTART [[WITH] n]]
/// [OWNED BY t.c | NONE] [RENAME TO new] (`text`: all after SEQUENCE,
/// as the parser passes it on; see `parse::alter_sequence`).
pub(super) async fn alter_sequence(
    engine: &Engine,
    session: &mut Session,
    text: &str,
) -> PgResult<Output> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let tokens: Vec<Token> = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .map_err(|e| PgError::syntax(e.to_string()))?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    let kw = |t: Option<&Token>, k: Keyword| matches!(t, Some(Token::Word(w)) if w.keyword == k);
    let mut i = 0;
    let mut if_exists = false;
    if kw(tokens.first(), Keyword::IF) && kw(tokens.get(1), Keyword::EXISTS) {
        if_exists = true;
        i = 2;
    }
    let (mut kept, mut restart, mut rename) = (Vec::new(), None::<Option<i64>>, None);
    while i < tokens.len() {
        let t = &tokens[i];
        if kw(Some(t), Keyword::RESTART) {
            i += 1;
            if kw(tokens.get(i), Keyword::WITH) {
                i += 1;
            }
            let neg = matches!(tokens.get(i), Some(Token::Minus));
            let at = if neg { i + 1 } else { i };
            restart = Some(match tokens.get(at) {
                Some(Token::Number(n, _)) => {
                    i = at + 1;
                    let v: i64 = n.parse().map_err(|_| PgError::syntax(n.clone()))?;
                    Some(if neg { -v } else { v })
                }
                _ => None,
            });
            continue;
        }
        if kw(Some(t), Keyword::RENAME) && kw(tokens.get(i + 1), Keyword::TO) {
            if let Some(Token::Word(w)) = tokens.get(i + 2) {
                rename = Some(if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                });
            }
            i += 3;
            continue;
        }
        kept.push(t.to_string());
        i += 1;
    }
    let sql = format!("CREATE SEQUENCE {}", kept.join(" "));
    let Some(Statement::CreateSequence {
        name,
        data_type,
        sequence_options,
        owned_by,
        ..
    }) = crate::sql::parse(&sql)?.pop()
    else {
        return Err(PgError::syntax("ALTER SEQUENCE"));
    };
    let search_path = session.search_path();
    let cat = session.catalog();
    let display = object_parts(&name).join(".");
    let found = crate::sql::sequences::resolve(&cat, &search_path, &display);
    let old = match found {
        Ok(s) => s,
        Err(e) if if_exists && e.code == codes::UNDEFINED_TABLE => {
            session.notices.push(Notice::notice(
                codes::SUCCESSFUL_COMPLETION,
                format!("relation \"{display}\" does not exist, skipping"),
            ));
            return Ok(Output::Command("ALTER SEQUENCE".into()));
        }
        Err(e) => return Err(e),
    };
    // The new definition: the options given over the old ones.
    let given =
        |f: &dyn Fn(&SequenceOptions) -> bool| sequence_options.iter().find(|o| f(o)).cloned();
    let num = |v: i64| {
        Expr::value(datafusion::sql::sqlparser::ast::Value::Number(
            v.to_string(),
            false,
        ))
    };
    let inc_changed = given(&|o| matches!(o, SequenceOptions::IncrementBy(..))).is_some();
    let merged = vec![
        given(&|o| matches!(o, SequenceOptions::IncrementBy(..)))
            .unwrap_or(SequenceOptions::IncrementBy(num(old.increment), true)),
        given(&|o| matches!(o, SequenceOptions::MinValue(..))).unwrap_or(
            SequenceOptions::MinValue(if inc_changed {
                None
            } else {
                Some(num(old.min))
            }),
        ),
        given(&|o| matches!(o, SequenceOptions::MaxValue(..))).unwrap_or(
            SequenceOptions::MaxValue(if inc_changed {
                None
            } else {
                Some(num(old.max))
            }),
        ),
        given(&|o| matches!(o, SequenceOptions::StartWith(..)))
            .unwrap_or(SequenceOptions::StartWith(num(old.start), true)),
        given(&|o| matches!(o, SequenceOptions::Cycle(..)))
            .unwrap_or(SequenceOptions::Cycle(!old.cycle)),
    ];
    let ty = match &data_type {
        Some(dt) => SqlType::from_ast(dt)?.0,
        None => old.data_type.clone(),
    };
    let mut seq = sequence_from_options(&old.schema, &old.name, old.key.clone(), ty, &merged)?;
    seq.base = old.base;
    seq.owned_by = old.owned_by;
    if let Some(o) = owned_by {
        let parts = object_parts(&o);
        seq.owned_by = match parts.as_slice() {
            [n] if n == "none" => None,
            [t @ .., c] if !t.is_empty() => {
                let table = crate::sql::dml::resolve_table(engine, session, t)?;
                let col = table
                    .column(c)
                    .ok_or_else(|| PgError::undefined_column(c))?;
                Some((table.id, col.id))
            }
            _ => return Err(PgError::syntax("invalid OWNED BY option")),
        };
    }
    if let Some(n) = &rename {
        seq.name = n.clone();
    }
    let key = seq.key.clone();
    let (inc, base, start) = (seq.increment, seq.base, seq.start);
    if inc_changed {
        engine.catalog.return_unused(&key).await?;
    }
    change(engine, session, |cat| {
        if rename.is_some() && cat.relation_exists(&seq.schema, &seq.name) {
            return Err(exists_error(&seq.name));
        }
        let id = cat
            .relations
            .iter()
            .find(|(_, r)| matches!(r, Relation::Sequence(s) if s.key == key))
            .map(|(id, _)| *id)
            .ok_or_else(|| PgError::undefined_table(&display))?;
        cat.relations.insert(id, Relation::Sequence(seq));
        Ok(())
    })
    .await?;
    if let Some(r) = restart {
        let r = r.unwrap_or(start);
        engine.catalog.set_counter(&key, r - inc - base).await?;
    }
    Ok(Output::Command("ALTER SEQUENCE".into()))
}

/// `ALTER TABLE t ALTER COLUMN c ADD GENERATED { ALWAYS | BY DEFAULT } AS
/// IDENTITY [(SEQUENCE NAME s, options)]`: the column takes its values
/// from a new sequence it owns (named `s`, else `t_c_seq`), as if it had
/// been declared so; its rows must have no NULL (it becomes NOT NULL).
pub(super) async fn add_identity(
    engine: &Engine,
    session: &mut Session,
    table_name: &str,
    column: &str,
    always: bool,
    options: &str,
) -> PgResult<()> {
    let parts = crate::sql::parse::split_qualified(table_name);
    let table = super::common::lock_for_ddl(engine, session, &parts).await?;
    let col = table.column(column).cloned().ok_or_else(|| {
        PgError::new(
            codes::UNDEFINED_COLUMN,
            format!(
                "column \"{column}\" of relation \"{}\" does not exist",
                table.name
            ),
        )
    })?;
    if !matches!(col.ty, SqlType::Int2 | SqlType::Int4 | SqlType::Int8) {
        return Err(PgError::new(
            codes::INVALID_PARAMETER_VALUE,
            "identity column type must be smallint, integer, or bigint",
        ));
    }
    if col.identity().is_some() {
        return Err(PgError::new(
            codes::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "column \"{column}\" of relation \"{}\" is already an identity column",
                table.name
            ),
        ));
    }
    if col.default.is_some() || col.sequence.is_some() {
        return Err(PgError::new(
            codes::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "column \"{column}\" of relation \"{}\" already has a default value",
                table.name
            ),
        ));
    }
    // SEQUENCE NAME s, then the options CREATE SEQUENCE takes.
    let mut words: Vec<&str> = options.split_whitespace().collect();
    let mut seq_name = None;
    if let Some(i) = words
        .windows(2)
        .position(|w| w[0].eq_ignore_ascii_case("SEQUENCE") && w[1].eq_ignore_ascii_case("NAME"))
    {
        // The name's parts come as words: `public . s`.
        let mut end = i + 3;
        let mut name = words.get(i + 2).map(|n| n.to_string()).ok_or_else(|| {
            PgError::new(codes::SYNTAX_ERROR, "syntax error at end of SEQUENCE NAME")
        })?;
        while words.get(end) == Some(&".") && end + 1 < words.len() {
            name.push('.');
            name.push_str(words[end + 1]);
            end += 2;
        }
        words.drain(i..end);
        seq_name = Some(name);
    }
    let probe = format!("CREATE SEQUENCE grape_identity_probe {}", words.join(" "));
    let seq_options = match crate::sql::parse::parse(&probe)?.pop() {
        Some(Statement::CreateSequence {
            sequence_options, ..
        }) => sequence_options,
        _ => {
            return Err(PgError::new(
                codes::SYNTAX_ERROR,
                "syntax error in identity options",
            ));
        }
    };
    let (schema, name) = match seq_name.as_deref().map(crate::sql::parse::split_qualified) {
        Some(p) => match p.as_slice() {
            [n] => (table.schema.clone(), n.clone()),
            [s, n] => (s.clone(), n.clone()),
            _ => return Err(PgError::new(codes::SYNTAX_ERROR, "improper qualified name")),
        },
        None => (
            table.schema.clone(),
            owned_sequence_name(&session.catalog(), &table, &col.name),
        ),
    };
    // Rows already there must have a value.
    let stored = super::common::visible_stored_rows(engine, session, &table).await?;
    let pos = table.column_index(column).expect("found above");
    for (_, bytes) in &stored {
        if crate::encoding::decode_row(&table, bytes)?[pos].is_null() {
            return Err(PgError::new(
                codes::NOT_NULL_VIOLATION,
                format!(
                    "column \"{column}\" of relation \"{}\" contains null values",
                    table.name
                ),
            ));
        }
    }
    let key = format!("{}.{}", table.id, col.id);
    let mut seq = sequence_from_options(&schema, &name, key.clone(), col.ty.clone(), &seq_options)?;
    seq.owned_by = Some((table.id, col.id));
    super::common::change(engine, session, |cat| {
        if !cat.schemas.contains(&schema) {
            return Err(PgError::new(
                codes::INVALID_SCHEMA_NAME,
                format!("schema \"{schema}\" does not exist"),
            ));
        }
        if cat.relation_exists(&schema, &name) || cat.table(&schema, &name).is_some() {
            return Err(PgError::new(
                codes::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ));
        }
        // A counter of its own (one left by an earlier sequence of the
        // column would carry its old value).
        let id = cat.next_table_id;
        cat.next_table_id += 1;
        let key = format!("{key}.{id}");
        let t = super::common::table_mut(cat, table.id, &table.name)?;
        let c = t
            .columns
            .iter_mut()
            .find(|c| c.id == col.id)
            .ok_or_else(|| PgError::undefined_column(column))?;
        c.sequence = Some(key.clone());
        c.not_null = true;
        c.identity_always = always;
        c.identity_by_default = !always;
        let mut seq = seq;
        seq.key = key;
        cat.relations.insert(id, Relation::Sequence(seq));
        Ok(())
    })
    .await
}
