//! Stored expressions (defaults, CHECKs, generated columns) as
//! PostgreSQL's ruleutils.c prints them back (`pg_get_expr`,
//! `pg_get_constraintdef`): the implicit casts PostgreSQL's parser adds
//! shown as `::type`, constants labelled with their type, `IN` as
//! `= ANY (ARRAY[...])`, and parentheses as its pretty (`true`) and plain
//! modes place them. psql's `\d`, pg_dump and ORMs' reflection read these
//! texts, and compare them with what they expect PostgreSQL to say.
//!
//! The catalog keeps expressions as SQL text; this reparses them and
//! infers the few types PostgreSQL's coercions depend on from the table's
//! columns. What it cannot place is printed as written.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
    Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::catalog::Column;
use crate::types::SqlType;

/// `sql` (an expression over `columns`) as PostgreSQL prints it; for a
/// column default, `target` is the column's type.
pub fn expr(sql: &str, columns: &[Column], target: Option<&SqlType>, pretty: bool) -> String {
    let Ok(e) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
    else {
        return sql.to_string();
    };
    let d = Deparser {
        columns,
        pretty,
        names: None,
    };
    match (target, literal(&e)) {
        // A default's constant takes the column's type (its coercion to
        // the column is implicit, so not shown).
        (Some(t), Some(Lit::Str(s))) => format!("{}::{}", quote(&s), label(t)),
        _ => d.show(&e, Parent::Top),
    }
}

/// A type's name without its modifiers, as a constant's label shows it.
pub fn label(t: &SqlType) -> String {
    match t {
        SqlType::Numeric { .. } => "numeric".into(),
        SqlType::Varchar(_) => "character varying".into(),
        SqlType::Char(_) => "bpchar".into(),
        SqlType::Vector(_) => "vector".into(),
        SqlType::HalfVec(_) => "halfvec".into(),
        SqlType::SparseVec(_) => "sparsevec".into(),
        SqlType::Bit(_) => "bit".into(),
        SqlType::VarBit(_) => "bit varying".into(),
        SqlType::Array(inner) => format!("{}[]", label(inner)),
        other => other.pg_name(),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[derive(Clone, Copy, PartialEq)]
enum Parent {
    Top,
    /// An argument list, `ARRAY[...]`, or a cast's operand in plain mode.
    List,
    Op(Op),
    Cast,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    /// `+ -` and `* / %`, with whether this child is the left operand.
    Low(bool),
    High(bool),
    Other,
    And,
    Or,
    Not,
    /// IS [NOT] NULL and the like: not an operator for PostgreSQL's
    /// pretty printer, but printed with parentheses in plain mode.
    Test,
    /// `x = ANY (ARRAY[...])`: parenthesised under anything but the top.
    Any,
}

enum Lit {
    Str(String),
    /// A number as written, with whether it is an integer.
    Num(String, bool),
}

fn literal(e: &Expr) -> Option<Lit> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                Some(Lit::Str(s.clone()))
            }
            Value::Number(n, _) => Some(Lit::Num(n.clone(), is_integer(n))),
            _ => None,
        },
        Expr::Nested(e) => literal(e),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal(expr)? {
            Lit::Num(n, int) => Some(Lit::Num(format!("-{n}"), int)),
            Lit::Str(_) => None,
        },
        _ => None,
    }
}

fn is_integer(n: &str) -> bool {
    n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<i32>().is_ok()
}

fn op_kind(op: &BinaryOperator, left: bool) -> Op {
    match op {
        BinaryOperator::Plus | BinaryOperator::Minus => Op::Low(left),
        BinaryOperator::Multiply | BinaryOperator::Divide | BinaryOperator::Modulo => {
            Op::High(left)
        }
        BinaryOperator::And => Op::And,
        BinaryOperator::Or => Op::Or,
        _ => Op::Other,
    }
}

fn op_text(op: &BinaryOperator) -> String {
    match op {
        BinaryOperator::NotEq => "<>".into(),
        BinaryOperator::StringConcat => "||".into(),
        other => other.to_string(),
    }
}

struct Deparser<'a> {
    columns: &'a [Column],
    pretty: bool,
    /// Where names are qualified as the session's search path needs.
    names: Option<&'a Names<'a>>,
}

/// What qualifies the names an expression reads (`pg_get_expr`,
/// `pg_get_viewdef`): an enum type or a relation named by `'...'::regclass`
/// prints schema-qualified where the search path does not find it, as
/// PostgreSQL prints them (pg_dump sets an empty path, so its dump reads
/// the same under any). Names stored unqualified are looked up on the
/// path, then in `home` (the schema of the table or view they belong to),
/// then in the one schema that has them.
pub struct Names<'a> {
    pub cat: &'a crate::catalog::Catalog,
    pub path: &'a [String],
    pub home: Option<&'a str>,
}

impl Names<'_> {
    /// The schema `name` is found in by `exists`, and whether the search
    /// path finds it there.
    fn find(&self, exists: &dyn Fn(&str) -> bool) -> Option<(String, bool)> {
        if let Some(s) = self.path.iter().find(|s| exists(s)) {
            return Some((s.clone(), true));
        }
        if let Some(h) = self.home.filter(|h| exists(h)) {
            return Some((h.to_string(), false));
        }
        let mut all = self.cat.schemas.iter().filter(|s| exists(s));
        match (all.next(), all.next()) {
            (Some(s), None) => Some((s.clone(), false)),
            _ => None,
        }
    }

    fn qualified(&self, name: &str, exists: &dyn Fn(&str) -> bool) -> Option<String> {
        let (schema, visible) = self.find(exists)?;
        Some(if visible {
            crate::types::text::quote_ident_if_needed(name)
        } else {
            format!(
                "{}.{}",
                crate::types::text::quote_ident_if_needed(&schema),
                crate::types::text::quote_ident_if_needed(name)
            )
        })
    }

    /// An enum type's name (None: not one of the catalog's enums).
    fn type_name(&self, name: &str) -> Option<String> {
        self.qualified(name, &|s| self.cat.enum_type(s, name).is_some())
    }

    /// A relation's name as `'...'::regclass` holds it.
    fn relation(&self, text: &str) -> Option<String> {
        if text.contains('.') {
            return None;
        }
        self.qualified(text, &|s| {
            self.cat.resolve_relation(Some(s), text, &[]).is_some()
                || self.cat.table(s, text).is_some()
        })
    }

    /// `query` with each unqualified relation it reads qualified where the
    /// search path does not find it.
    pub fn qualify_relations(&self, query: &str) -> String {
        use datafusion::sql::sqlparser::ast::{Ident, ObjectNamePart, visit_relations_mut};
        let Ok(Some(mut stmt)) =
            Parser::parse_sql(&PostgreSqlDialect {}, query).map(|mut v| v.pop())
        else {
            return query.to_string();
        };
        let ctes: Vec<String> = match &stmt {
            datafusion::sql::sqlparser::ast::Statement::Query(q) => q
                .with
                .iter()
                .flat_map(|w| w.cte_tables.iter().map(|c| c.alias.name.value.clone()))
                .collect(),
            _ => Vec::new(),
        };
        let mut changed = false;
        let _ = visit_relations_mut(&mut stmt, |name| {
            if let [part] = name.0.as_slice()
                && let Some(i) = part.as_ident()
            {
                let n = match i.quote_style {
                    Some(_) => i.value.clone(),
                    None => i.value.to_lowercase(),
                };
                if !ctes.contains(&n)
                    && let Some((schema, false)) = self.find(&|s| {
                        self.cat.table(s, &n).is_some()
                            || self.cat.resolve_relation(Some(s), &n, &[]).is_some()
                    })
                {
                    name.0
                        .insert(0, ObjectNamePart::Identifier(Ident::new(schema)));
                    changed = true;
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if changed {
            stmt.to_string()
        } else {
            query.to_string()
        }
    }
}

/// [`expr`] (without a target type) with names qualified by `names`.
pub fn expr_named(sql: &str, columns: &[Column], pretty: bool, names: &Names) -> String {
    let Ok(e) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
    else {
        return sql.to_string();
    };
    Deparser {
        columns,
        pretty,
        names: Some(names),
    }
    .show(&e, Parent::Top)
}

impl Deparser<'_> {
    fn column(&self, e: &Expr) -> Option<&SqlType> {
        let name = match e {
            Expr::Identifier(i) if i.quote_style.is_some() => i.value.clone(),
            Expr::Identifier(i) => i.value.to_lowercase(),
            Expr::Nested(e) => return self.column(e),
            _ => return None,
        };
        self.columns.iter().find(|c| c.name == name).map(|c| &c.ty)
    }

    /// The type of `e` where it matters for coercions: columns, casts and
    /// the functions CHECKs commonly call.
    fn type_of(&self, e: &Expr) -> Option<SqlType> {
        match e {
            Expr::Nested(e) => self.type_of(e),
            Expr::Cast { data_type, .. } => SqlType::from_ast(data_type).ok().map(|t| t.0),
            Expr::Function(f) => match f.name.to_string().to_lowercase().as_str() {
                "length" | "char_length" | "octet_length" | "array_length" => Some(SqlType::Int4),
                "lower" | "upper" | "btrim" | "trim" => Some(SqlType::Text),
                _ => None,
            },
            Expr::BinaryOp { left, op, right }
                if matches!(op_kind(op, true), Op::Low(_) | Op::High(_)) =>
            {
                self.type_of(left).or_else(|| self.type_of(right))
            }
            _ => self.column(e).cloned(),
        }
    }

    /// Whether `child` under `parent` prints without parentheses in
    /// pretty mode (ruleutils.c's isSimpleNode).
    fn simple(&self, child: Op, parent: Parent) -> bool {
        match (child, parent) {
            (_, Parent::Top | Parent::List) => true,
            (Op::Low(_) | Op::High(_), Parent::Op(p)) => match (child, p) {
                (Op::High(_), Op::Low(_)) => true,
                (Op::Low(_), Op::High(_)) => false,
                (_, Op::Low(left) | Op::High(left)) => left,
                _ => false,
            },
            (Op::Other | Op::Test, Parent::Op(Op::And | Op::Or | Op::Not)) => true,
            (Op::Low(_) | Op::High(_), _) => false,
            (Op::And | Op::Not, Parent::Op(Op::And | Op::Or)) => true,
            (Op::Or, Parent::Op(Op::Or)) => true,
            _ => false,
        }
    }

    /// `text` of an operator expression of kind `kind` under `parent`.
    fn wrap(&self, text: String, kind: Op, parent: Parent) -> String {
        let own = !self.pretty;
        let needed = self.pretty && !self.simple(kind, parent);
        if own || needed {
            format!("({text})")
        } else {
            text
        }
    }

    /// `e` coerced to `to` as PostgreSQL shows an implicit cast.
    fn coerced(&self, e: &Expr, to: &str) -> String {
        if let Some(Lit::Str(s)) = literal(e) {
            return format!("{}::{to}", quote(&s));
        }
        let inner = self.show(e, Parent::Cast);
        if self.pretty {
            format!("{inner}::{to}")
        } else {
            format!("({inner})::{to}")
        }
    }

    /// An operand of a comparison or arithmetic with `other`: constants
    /// and varchar columns as PostgreSQL's operator resolution casts them.
    fn operand(&self, e: &Expr, other: &Expr, parent: Parent) -> String {
        let mine = self.type_of(e);
        let theirs = self.type_of(other);
        match (literal(e), &mine, &theirs) {
            (Some(Lit::Str(s)), None, Some(t)) => {
                let to = match t {
                    SqlType::Varchar(_) => "text".into(),
                    t => label(t),
                };
                return format!("{}::{to}", quote(&s));
            }
            (Some(Lit::Str(s)), None, None) => return format!("{}::text", quote(&s)),
            (Some(Lit::Num(_, int)), None, Some(t)) => match t {
                SqlType::Numeric { .. } if int => return self.coerced(e, "numeric"),
                SqlType::Float4 | SqlType::Float8 => return self.coerced(e, "double precision"),
                _ => {}
            },
            (None, Some(SqlType::Varchar(_)), _)
                if matches!(literal(other), Some(Lit::Str(_)))
                    || matches!(theirs, Some(SqlType::Text)) =>
            {
                return self.coerced(e, "text");
            }
            (None, Some(SqlType::Int2 | SqlType::Int4 | SqlType::Int8), _)
                if matches!(literal(other), Some(Lit::Num(_, false))) =>
            {
                return self.coerced(e, "numeric");
            }
            _ => {}
        }
        self.show(e, parent)
    }

    fn show(&self, e: &Expr, parent: Parent) -> String {
        match e {
            Expr::Nested(inner) => self.show(inner, parent),
            // A quoted name keeps its case.
            Expr::Identifier(i) if i.quote_style.is_some() => {
                crate::types::text::quote_ident_if_needed(&i.value)
            }
            Expr::Identifier(i) => {
                crate::types::text::quote_ident_if_needed(&i.value.to_lowercase())
            }
            Expr::Value(_)
            | Expr::UnaryOp {
                op: UnaryOperator::Minus,
                ..
            } if literal(e).is_some() => match literal(e) {
                Some(Lit::Str(s)) => format!("{}::text", quote(&s)),
                Some(Lit::Num(n, int)) if n.starts_with('-') => {
                    format!("'{n}'::{}", if int { "integer" } else { "numeric" })
                }
                Some(Lit::Num(n, _)) => n,
                None => e.to_string(),
            },
            Expr::Value(v) => match &v.value {
                Value::Boolean(b) => b.to_string(),
                Value::Null => "NULL".into(),
                _ => e.to_string(),
            },
            Expr::BinaryOp { left, op, right } => {
                let kind = op_kind(op, true);
                let text = if matches!(kind, Op::And | Op::Or) {
                    format!(
                        "{} {} {}",
                        self.show(left, Parent::Op(kind)),
                        op_text(op),
                        self.show(right, Parent::Op(kind))
                    )
                } else {
                    format!(
                        "{} {} {}",
                        self.operand(left, right, Parent::Op(op_kind(op, true))),
                        op_text(op),
                        self.operand(right, left, Parent::Op(op_kind(op, false)))
                    )
                };
                self.wrap(text, kind, parent)
            }
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => self.wrap(
                format!("NOT {}", self.show(expr, Parent::Op(Op::Not))),
                Op::Not,
                parent,
            ),
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                let what = if matches!(e, Expr::IsNull(_)) {
                    "IS NULL"
                } else {
                    "IS NOT NULL"
                };
                let text = format!("{} {what}", self.show(x, Parent::Op(Op::Test)));
                self.wrap(text, Op::Test, parent)
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (lo, hi, join) = if *negated {
                    (BinaryOperator::Lt, BinaryOperator::Gt, BinaryOperator::Or)
                } else {
                    (
                        BinaryOperator::GtEq,
                        BinaryOperator::LtEq,
                        BinaryOperator::And,
                    )
                };
                let side = |op, bound: &Expr| Expr::BinaryOp {
                    left: expr.clone(),
                    op,
                    right: Box::new(bound.clone()),
                };
                self.show(
                    &Expr::BinaryOp {
                        left: Box::new(side(lo, low)),
                        op: join,
                        right: Box::new(side(hi, high)),
                    },
                    parent,
                )
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list
                    .iter()
                    .map(|i| match &list[0] {
                        first if literal(first).is_some() => self.operand(i, expr, Parent::List),
                        _ => self.show(i, Parent::List),
                    })
                    .collect();
                let (op, quant) = if *negated {
                    ("<>", "ALL")
                } else {
                    ("=", "ANY")
                };
                let text = format!(
                    "{} {op} {quant} (ARRAY[{}])",
                    self.show(expr, Parent::Op(Op::Other)),
                    items.join(", ")
                );
                self.wrap(text, Op::Any, parent)
            }
            Expr::Like {
                negated,
                expr,
                pattern,
                ..
            }
            | Expr::ILike {
                negated,
                expr,
                pattern,
                ..
            } => {
                let op = match (matches!(e, Expr::ILike { .. }), negated) {
                    (false, false) => "~~",
                    (false, true) => "!~~",
                    (true, false) => "~~*",
                    (true, true) => "!~~*",
                };
                let text = format!(
                    "{} {op} {}",
                    self.operand(expr, pattern, Parent::Op(Op::Other)),
                    self.operand(pattern, expr, Parent::Op(Op::Other))
                );
                self.wrap(text, Op::Other, parent)
            }
            Expr::Cast {
                kind: CastKind::DoubleColon | CastKind::Cast,
                expr,
                data_type,
                ..
            } => {
                let mut to = SqlType::from_ast(data_type)
                    .map(|t| t.0.pg_name())
                    .unwrap_or_else(|_| data_type.to_string().to_lowercase());
                if let Some(names) = self.names {
                    if let Some(t) = names.type_name(&to) {
                        to = t;
                    }
                    // `'seq'::regclass`: the relation's name, qualified.
                    if to == "regclass"
                        && let Some(Lit::Str(rel)) = literal(expr)
                        && let Some(q) = names.relation(&rel)
                    {
                        return format!("{}::regclass", quote(&q));
                    }
                }
                self.coerced(expr, &to)
            }
            Expr::Function(f) => {
                let name = f.name.to_string();
                let FunctionArguments::List(list) = &f.args else {
                    // CURRENT_DATE, CURRENT_TIMESTAMP, ...
                    return e.to_string();
                };
                let args: Vec<String> = list
                    .args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => {
                            match (literal(x), self.column(x)) {
                                (Some(Lit::Str(s)), _) => format!("{}::text", quote(&s)),
                                (_, Some(SqlType::Varchar(_))) => self.coerced(x, "text"),
                                _ => self.show(x, Parent::List),
                            }
                        }
                        other => other.to_string(),
                    })
                    .collect();
                format!("{}({})", name.to_lowercase(), args.join(", "))
            }
            _ => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: SqlType) -> Column {
        Column {
            id: 0,
            name: name.into(),
            ty,
            not_null: false,
            default: None,
            sequence: None,
            identity_always: false,
            identity_by_default: false,
            generated: None,
        }
    }

    /// Expected texts from PostgreSQL 15 (`pg_get_constraintdef(oid,
    /// true)` and `(oid)`, `pg_get_expr(adbin, adrelid, true)`).
    #[test]
    fn prints_as_postgresql() {
        let cols = [
            col("a", SqlType::Int4),
            col("b", SqlType::Int8),
            col(
                "d",
                SqlType::Numeric {
                    precision: Some(8),
                    scale: Some(2),
                },
            ),
            col("e", SqlType::Text),
            col("f", SqlType::Varchar(Some(10))),
            col("n", SqlType::Int4),
            col("o", SqlType::Text),
            col("t", SqlType::Int4),
            col("x", SqlType::Int4),
        ];
        let both = |sql: &str, pretty: &str, plain: &str| {
            assert_eq!(expr(sql, &cols, None, true), pretty, "{sql}");
            assert_eq!(expr(sql, &cols, None, false), plain, "{sql}");
        };
        both("b > 0", "b > 0", "(b > 0)");
        let mixed = [col("Qty", SqlType::Int4)];
        assert_eq!(expr("\"Qty\" > 0", &mixed, None, true), "\"Qty\" > 0");
        both("x > a * 2", "x > (a * 2)", "(x > (a * 2))");
        both(
            "d >= 0 AND d < 100.5",
            "d >= 0::numeric AND d < 100.5",
            "((d >= (0)::numeric) AND (d < 100.5))",
        );
        both("e <> ''", "e <> ''::text", "(e <> ''::text)");
        both(
            "length(f) > 2",
            "length(f::text) > 2",
            "(length((f)::text) > 2)",
        );
        both(
            "n IN (1, 2, 3)",
            "n = ANY (ARRAY[1, 2, 3])",
            "(n = ANY (ARRAY[1, 2, 3]))",
        );
        both(
            "o ~ '^x' OR o IS NULL",
            "o ~ '^x'::text OR o IS NULL",
            "((o ~ '^x'::text) OR (o IS NULL))",
        );
        both(
            "n IN (1, 2) OR o IS NULL",
            "(n = ANY (ARRAY[1, 2])) OR o IS NULL",
            "((n = ANY (ARRAY[1, 2])) OR (o IS NULL))",
        );
        both(
            "t BETWEEN 1 AND 5",
            "t >= 1 AND t <= 5",
            "((t >= 1) AND (t <= 5))",
        );
        let default = |sql: &str, ty: SqlType| expr(sql, &cols, Some(&ty), true);
        assert_eq!(default("'x'", SqlType::Text), "'x'::text");
        assert_eq!(
            default("'y'", SqlType::Varchar(Some(10))),
            "'y'::character varying"
        );
        assert_eq!(default("-1", SqlType::Float8), "'-1'::integer");
        assert_eq!(
            default("'a' || 'b'", SqlType::Text),
            "'a'::text || 'b'::text"
        );
        assert_eq!(default("lower('A')", SqlType::Text), "lower('A'::text)");
        assert_eq!(default("now()", SqlType::TimestampTz), "now()");
        assert_eq!(default("CURRENT_DATE", SqlType::Date), "CURRENT_DATE");
        assert_eq!(
            default("'{}'", SqlType::Array(Box::new(SqlType::Int4))),
            "'{}'::integer[]"
        );
        assert_eq!(default("a + 1", SqlType::Int4), "a + 1");
        assert_eq!(default("1.5", SqlType::Float4), "1.5");
    }
}
