//! `x [NOT] SIMILAR TO 'pattern' [ESCAPE 'c']` with a literal pattern
//! becomes `x ~ '^(?:regex)$'` (`!~` when negated), the pattern
//! translated as PostgreSQL's `similar_to_escape` does: `%` is `.*`, `_`
//! is `.`, a `.`, `^` or `$` is literal, bracket expressions and
//! `| * + ? { } ( )` keep their regex meaning, and the escape character
//! (`\` unless ESCAPE names another) makes the next character literal.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Statement, Value, visit_expressions_mut,
};

/// The regex a SIMILAR TO pattern means, anchored at both ends.
pub fn similar_to_regex(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars().peekable();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(n) = chars.next() {
                if "\\.+*?()|[]{}^$".contains(n) {
                    out.push('\\');
                }
                out.push(n);
            }
            continue;
        }
        if in_bracket {
            if c == ']' {
                in_bracket = false;
            }
            out.push(c);
            continue;
        }
        match c {
            '[' => {
                in_bracket = true;
                out.push('[');
                // A `]` or `^]` right after `[` belongs to the set.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap());
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap());
                }
            }
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '.' | '^' | '$' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out.push_str(")$");
    out
}

fn literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
            _ => None,
        },
        Expr::Nested(inner) => literal(inner),
        _ => None,
    }
}

/// Rewrite the statement's SIMILAR TO with literal patterns.
pub fn rewrite(stmt: &mut Statement) {
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::SimilarTo {
            negated,
            expr,
            pattern,
            escape_char,
        } = e
        {
            let escape = match escape_char {
                None => Some('\\'),
                Some(v) => match &v.value {
                    Value::SingleQuotedString(s) if s.is_empty() => None,
                    Value::SingleQuotedString(s) => s.chars().next(),
                    _ => Some('\\'),
                },
            };
            if let Some(p) = literal(pattern) {
                let regex = similar_to_regex(p, escape);
                let left = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
                *e = Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(left))),
                    op: if *negated {
                        BinaryOperator::PGRegexNotMatch
                    } else {
                        BinaryOperator::PGRegexMatch
                    },
                    right: Box::new(Expr::value(Value::SingleQuotedString(regex))),
                };
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::similar_to_regex;

    #[test]
    fn patterns_translate_as_postgresql_does() {
        assert_eq!(similar_to_regex("(a|b)%", Some('\\')), "^(?:(a|b).*)$");
        assert_eq!(similar_to_regex("a_c.d", Some('\\')), "^(?:a.c\\.d)$");
        assert_eq!(similar_to_regex("100\\%", Some('\\')), "^(?:100%)$");
        assert_eq!(similar_to_regex("a\\.b", Some('\\')), "^(?:a\\.b)$");
        assert_eq!(similar_to_regex("[%_]x", Some('\\')), "^(?:[%_]x)$");
        assert_eq!(similar_to_regex("a#_", Some('#')), "^(?:a_)$");
    }
}
