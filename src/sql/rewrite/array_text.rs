//! Array values written as text, `'{1,2,3}'::real[]` and
//! `CAST('{"[1,2]","[3,4]"}' AS vector[])`: PostgreSQL's array input
//! format parsed here into `ARRAY[...]` of the element type, since
//! DataFusion casts no string to a list. Elements are read as PostgreSQL
//! reads them: separated by commas, double quotes with backslash escapes,
//! an unquoted `NULL` is NULL, nested braces are nested arrays. A string
//! that is not an array literal is PostgreSQL's 22P02 "malformed array
//! literal".

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Array, ArrayElemTypeDef, CastKind, DataType, Expr, Statement, Value, visit_expressions_mut,
};

use crate::error::{PgError, PgResult, codes};

/// One element of an array literal.
#[derive(Debug, PartialEq)]
enum Elem {
    Null,
    Text(String),
    Nested(Vec<Elem>),
}

fn malformed(s: &str, detail: &str) -> PgError {
    PgError::new(
        codes::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{s}\""),
    )
    .with_detail(detail.to_string())
}

/// Parse PostgreSQL's array text form.
fn parse(s: &str) -> PgResult<Vec<Elem>> {
    let chars: Vec<char> = s.trim().chars().collect();
    if chars.first() != Some(&'{') {
        return Err(malformed(
            s,
            "Array value must start with \"{\" or dimension information.",
        ));
    }
    let mut pos = 1;
    let out = parse_list(s, &chars, &mut pos)?;
    if pos != chars.len() {
        return Err(malformed(s, "Junk after closing right brace."));
    }
    Ok(out)
}

/// The elements after a `{`, up to and past its `}`.
fn parse_list(s: &str, c: &[char], pos: &mut usize) -> PgResult<Vec<Elem>> {
    let mut out = Vec::new();
    let skip_ws = |pos: &mut usize| {
        while *pos < c.len() && c[*pos].is_whitespace() {
            *pos += 1;
        }
    };
    skip_ws(pos);
    if c.get(*pos) == Some(&'}') {
        *pos += 1;
        return Ok(out);
    }
    loop {
        skip_ws(pos);
        match c.get(*pos) {
            None => return Err(malformed(s, "Unexpected end of input.")),
            Some('{') => {
                *pos += 1;
                out.push(Elem::Nested(parse_list(s, c, pos)?));
            }
            Some('"') => {
                *pos += 1;
                let mut text = String::new();
                loop {
                    match c.get(*pos) {
                        None => return Err(malformed(s, "Unexpected end of input.")),
                        Some('\\') => {
                            let Some(&next) = c.get(*pos + 1) else {
                                return Err(malformed(s, "Unexpected end of input."));
                            };
                            text.push(next);
                            *pos += 2;
                        }
                        Some('"') => {
                            *pos += 1;
                            break;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            *pos += 1;
                        }
                    }
                }
                out.push(Elem::Text(text));
            }
            Some(_) => {
                let start = *pos;
                while *pos < c.len() && !matches!(c[*pos], ',' | '}' | '{' | '"') {
                    *pos += 1;
                }
                let text: String = c[start..*pos].iter().collect::<String>().trim().to_string();
                if text.is_empty() || c.get(*pos) == Some(&'{') || c.get(*pos) == Some(&'"') {
                    return Err(malformed(s, "Unexpected array element."));
                }
                out.push(if text.eq_ignore_ascii_case("null") {
                    Elem::Null
                } else {
                    Elem::Text(text)
                });
            }
        }
        skip_ws(pos);
        match c.get(*pos) {
            Some(',') => *pos += 1,
            Some('}') => {
                *pos += 1;
                return Ok(out);
            }
            None => return Err(malformed(s, "Unexpected end of input.")),
            Some(_) => return Err(malformed(s, "Unexpected array element.")),
        }
    }
}

/// `ARRAY[...]` of `elems`, each text element cast to `elem_type`.
fn array_expr(elems: Vec<Elem>, elem_type: &DataType) -> Expr {
    Expr::Array(Array {
        elem: elems
            .into_iter()
            .map(|e| match e {
                Elem::Null => Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(Expr::value(Value::Null)),
                    data_type: elem_type.clone(),
                    array: false,
                    format: None,
                },
                Elem::Text(t) => Expr::Cast {
                    kind: CastKind::DoubleColon,
                    expr: Box::new(Expr::value(Value::SingleQuotedString(t))),
                    data_type: elem_type.clone(),
                    array: false,
                    format: None,
                },
                Elem::Nested(inner) => array_expr(inner, elem_type),
            })
            .collect(),
        named: true,
    })
}

/// The element type of an array type (`real[]`, `real[][]`: `real`).
fn element_type(dt: &DataType) -> Option<&DataType> {
    match dt {
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(inner, _)
            | ArrayElemTypeDef::AngleBracket(inner)
            | ArrayElemTypeDef::Parenthesis(inner),
        ) => Some(element_type(inner).unwrap_or(inner)),
        _ => None,
    }
}

pub fn rewrite(stmt: &mut Statement) -> PgResult<()> {
    let mut err = None;
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Cast {
            expr, data_type, ..
        } = e
        {
            if let (Some(elem), Expr::Value(v)) = (element_type(data_type), expr.as_ref()) {
                if let Value::SingleQuotedString(s) = &v.value {
                    match parse(s) {
                        Ok(elems) => {
                            let arr = array_expr(elems, elem);
                            // An empty list still needs its type.
                            *expr = Box::new(arr);
                        }
                        Err(e) => {
                            err = Some(e);
                            return ControlFlow::Break(());
                        }
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_text_as_postgresql_reads_it() {
        assert_eq!(
            parse("{1, 2 ,NULL,\"a,b\",\"q\\\"\"}").unwrap(),
            vec![
                Elem::Text("1".into()),
                Elem::Text("2".into()),
                Elem::Null,
                Elem::Text("a,b".into()),
                Elem::Text("q\"".into()),
            ]
        );
        assert_eq!(parse("{}").unwrap(), vec![]);
        assert_eq!(
            parse("{{1},{2}}").unwrap(),
            vec![
                Elem::Nested(vec![Elem::Text("1".into())]),
                Elem::Nested(vec![Elem::Text("2".into())])
            ]
        );
        for bad in ["1,2", "{1,2", "{1,,2}", "{1}x"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, "22P02", "{bad}");
        }
    }

    #[test]
    fn a_cast_of_array_text_becomes_an_array() {
        let mut stmt = crate::sql::parse("SELECT '{1,NULL}'::real[], 'x'::text")
            .unwrap()
            .pop()
            .unwrap();
        rewrite(&mut stmt).unwrap();
        assert_eq!(
            stmt.to_string(),
            "SELECT ARRAY['1'::REAL, NULL::REAL]::REAL[], 'x'::TEXT"
        );
    }
}
