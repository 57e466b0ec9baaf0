//! PostgreSQL's names for unnamed result columns (`?column?`, `count`,
//! `int4`, ...), and unique internal names so DataFusion accepts duplicates
//! such as `SELECT 1, 2` (both `?column?`).

use std::collections::HashSet;

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Ident, Query, SelectItem, SetExpr, Statement,
};

/// Marks the end of the client-visible part of an internal column name.
pub const NAME_MARK: char = '\u{1}';

/// The name a client sees for an internal column name.
pub fn visible(name: &str) -> &str {
    name.split(NAME_MARK).next().unwrap_or(name)
}

/// Name an unnamed select-list expression as PostgreSQL does; `None` when
/// DataFusion's own name already matches (plain column references).
fn figure(e: &Expr) -> (Option<String>, u8) {
    match e {
        // An unquoted name folds to lower case.
        Expr::Identifier(i) => (Some(folded(i)), 2),
        Expr::CompoundIdentifier(parts) => (parts.last().map(folded), 2),
        Expr::Nested(inner) => figure(inner),
        Expr::Function(f) => (
            f.name
                .0
                .last()
                .map(|p| p.to_string().trim_matches('"').to_lowercase()),
            2,
        ),
        Expr::Cast {
            expr, data_type, ..
        } => {
            let (n, strength) = figure(expr);
            if strength > 1 {
                (n, strength)
            } else {
                (Some(type_name(data_type)), 1)
            }
        }
        Expr::Case { .. } => (Some("case".into()), 1),
        Expr::Array(_) => (Some("array".into()), 2),
        // `NOT EXISTS` is an operator over it: unnamed.
        Expr::Exists { negated: false, .. } => (Some("exists".into()), 2),
        Expr::Extract { .. } => (Some("extract".into()), 2),
        Expr::Substring { .. } => (Some("substring".into()), 2),
        Expr::Trim { .. } => (Some("btrim".into()), 2),
        Expr::Position { .. } => (Some("position".into()), 2),
        Expr::Overlay { .. } => (Some("overlay".into()), 2),
        Expr::Ceil { .. } => (Some("ceil".into()), 2),
        Expr::Floor { .. } => (Some("floor".into()), 2),
        Expr::AtTimeZone { .. } => (Some("timezone".into()), 2),
        Expr::TypedString(t) => (Some(type_name(&t.data_type)), 1),
        // `(SELECT count(*) FROM t)` is named after its one column.
        Expr::Subquery(q) => match q.body.as_ref() {
            SetExpr::Select(s) if s.projection.len() == 1 => match &s.projection[0] {
                SelectItem::ExprWithAlias { alias, .. } => (
                    Some(match alias.quote_style {
                        Some(_) => alias.value.clone(),
                        None => alias.value.to_lowercase(),
                    }),
                    2,
                ),
                // Its own name wins over a cast around it.
                SelectItem::UnnamedExpr(e) => match figure(e) {
                    (Some(n), _) => (Some(n), 2),
                    (None, _) => (Some("?column?".into()), 2),
                },
                _ => (None, 0),
            },
            _ => (None, 0),
        },
        _ => (None, 0),
    }
}

fn folded(i: &Ident) -> String {
    match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    }
}

fn type_name(dt: &DataType) -> String {
    match crate::types::SqlType::from_ast(dt) {
        Ok((t, _)) => {
            use crate::types::SqlType as T;
            let base = |t: &T| -> &'static str {
                match t {
                    T::Bool => "bool",
                    T::Int2 => "int2",
                    T::Int4 => "int4",
                    T::Int8 => "int8",
                    T::Float4 => "float4",
                    T::Float8 => "float8",
                    T::Numeric { .. } => "numeric",
                    T::Text => "text",
                    T::Varchar(_) => "varchar",
                    T::Char(_) => "bpchar",
                    T::Bytea => "bytea",
                    T::Date => "date",
                    T::Time => "time",
                    T::Timestamp => "timestamp",
                    T::TimestampTz => "timestamptz",
                    T::Interval => "interval",
                    T::Uuid => "uuid",
                    T::Json => "json",
                    T::Jsonb => "jsonb",
                    T::Array(_) => "array",
                    T::Vector(_) => "vector",
                    T::HalfVec(_) => "halfvec",
                    T::SparseVec(_) => "sparsevec",
                    T::Bit(_) => "bit",
                    T::VarBit(_) => "varbit",
                    T::Enum { .. } => "enum",
                }
            };
            match &t {
                T::Array(inner) => base(inner).to_string(),
                other => base(other).to_string(),
            }
        }
        Err(_) => dt.to_string().to_lowercase(),
    }
}

/// Give every unnamed select-list expression of the outermost SELECT its
/// PostgreSQL name, and make duplicate names unique behind [`NAME_MARK`].
pub fn name_columns(stmt: &mut Statement) {
    if let Statement::Query(q) = stmt {
        name_query(q);
    }
}

fn name_query(q: &mut Query) {
    let mut body = q.body.as_mut();
    let mut set_operation = false;
    // For set operations the left-most SELECT names the columns.
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => {
                set_operation = true;
                body = left.as_mut();
            }
            SetExpr::Query(inner) => {
                name_query(inner);
                return;
            }
            _ => break,
        }
    }
    let SetExpr::Select(select) = body else {
        return;
    };
    let mut used: HashSet<String> = HashSet::new();
    // `SELECT c.oid, c.*`: the wildcard's columns are not known here, so
    // every plain column beside one gets a unique internal name. Not in a
    // set operation or under DISTINCT, whose ORDER BY names the output
    // columns (`... UNION ALL ... ORDER BY email`).
    let wildcard = !set_operation
        && select.distinct.is_none()
        && select.projection.iter().any(|item| {
            matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        });
    for (i, item) in select.projection.iter_mut().enumerate() {
        let (expr, name) = match item {
            SelectItem::UnnamedExpr(e) => {
                let (n, _) = figure(e);
                let plain = matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                (
                    e.clone(),
                    if plain {
                        None
                    } else {
                        Some(n.unwrap_or_else(|| "?column?".into()))
                    },
                )
            }
            // An unquoted alias folds to lower case, as PostgreSQL folds
            // it (`AS TABLE_SCHEM` is `table_schem`; it is quoted below).
            SelectItem::ExprWithAlias { expr, alias } => (
                expr.clone(),
                Some(match alias.quote_style {
                    Some(_) => alias.value.clone(),
                    None => alias.value.to_lowercase(),
                }),
            ),
            _ => continue,
        };
        let Some(mut name) = name else {
            if let (Some(n), _) = figure(&expr) {
                if !used.insert(n.clone()) || wildcard {
                    // A duplicate plain column: rename internally.
                    let unique = format!("{n}{NAME_MARK}{i}");
                    used.insert(unique.clone());
                    *item = SelectItem::ExprWithAlias {
                        expr,
                        alias: Ident::with_quote('"', unique),
                    };
                }
            }
            continue;
        };
        if !used.insert(name.clone()) {
            name = format!("{name}{NAME_MARK}{i}");
            used.insert(name.clone());
        }
        *item = SelectItem::ExprWithAlias {
            expr,
            alias: Ident::with_quote('"', name),
        };
    }
}
