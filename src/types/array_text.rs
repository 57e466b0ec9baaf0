//! PostgreSQL's array text form (`{1,2,NULL,"a,b",{3}}`), as its array
//! input function reads it: elements separated by commas, double quotes
//! with backslash escapes, an unquoted `NULL` is NULL, nested braces are
//! nested arrays; anything else is 22P02 "malformed array literal".

use crate::error::{PgError, PgResult, codes};

/// One element of an array literal.
#[derive(Debug, PartialEq)]
pub enum Elem {
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
pub fn parse(s: &str) -> PgResult<Vec<Elem>> {
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
}
