//! PostgreSQL's functions for quoting and splitting names: `quote_ident`,
//! `quote_literal`, `quote_nullable` and `parse_ident`. Tools build
//! catalog queries with them (Grafana's table and column pickers).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use crate::error::{PgError, codes};
use crate::types::text::quote_ident_if_needed;

/// `quote_literal`: a string constant, in the `E''` form when it holds a
/// backslash (PostgreSQL's quote.c).
fn quote_literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if s.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

fn text_rows(args: &[ColumnarValue]) -> Result<Vec<Option<String>>> {
    let n = crate::pg_catalog::functions::rows(args);
    let a = args[0].to_array(n)?;
    let a = datafusion::arrow::compute::cast(&a, &DataType::Utf8)?;
    Ok(a.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn text_fn(name: &str, f: fn(Option<&str>) -> Option<String>) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let out: StringArray = text_rows(args)?.iter().map(|v| f(v.as_deref())).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn invalid(s: &str, detail: Option<&str>) -> PgError {
    let e = PgError::new(
        codes::INVALID_PARAMETER_VALUE,
        format!("string is not a valid identifier: \"{s}\""),
    );
    match detail {
        Some(d) => e.with_detail(d),
        None => e,
    }
}

/// `parse_ident(s, strict)`: the parts of a qualified name, unquoted
/// ones folded to lower case, quoted ones as written (PostgreSQL's
/// varlena.c). Without `strict`, text after the name is ignored.
pub fn parse_ident(s: &str, strict: bool) -> std::result::Result<Vec<String>, PgError> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut parts = Vec::new();
    let skip_space = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_space(&mut i);
    loop {
        let mut missing = false;
        if chars.get(i) == Some(&'"') {
            let mut part = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(invalid(s, Some("String has unclosed double quotes.")));
                    }
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        part.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        part.push(c);
                        i += 1;
                    }
                }
            }
            if part.is_empty() {
                return Err(PgError::new(
                    codes::INVALID_PARAMETER_VALUE,
                    format!("identifier \"{s}\" is not a valid identifier"),
                )
                .with_detail("Quoted identifier must not be empty."));
            }
            parts.push(part);
        } else {
            let start = i;
            while i < chars.len() {
                let c = chars[i];
                let ident = c.is_alphabetic()
                    || c == '_'
                    || !c.is_ascii()
                    || (i > start && (c.is_ascii_digit() || c == '$'));
                if !ident {
                    break;
                }
                i += 1;
            }
            if i == start {
                missing = true;
            } else {
                // PostgreSQL folds ASCII letters only.
                parts.push(
                    chars[start..i]
                        .iter()
                        .collect::<String>()
                        .to_ascii_lowercase(),
                );
            }
        }
        if missing {
            let detail = if chars.get(i) == Some(&'.') {
                if parts.is_empty() {
                    "No valid identifier before \".\"."
                } else {
                    "No valid identifier after \".\"."
                }
            } else {
                return Err(invalid(s, None));
            };
            return Err(invalid(s, Some(detail)));
        }
        skip_space(&mut i);
        if chars.get(i) == Some(&'.') {
            i += 1;
            skip_space(&mut i);
            continue;
        }
        if i < chars.len() && strict {
            return Err(invalid(s, None));
        }
        return Ok(parts);
    }
}

fn parse_ident_udf() -> ScalarUDF {
    let item = Arc::new(Field::new("item", DataType::Utf8, true));
    ScalarUDF::from(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "parse_ident",
            datafusion::logical_expr::Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Exact(vec![DataType::Utf8]),
                    datafusion::logical_expr::TypeSignature::Exact(vec![
                        DataType::Utf8,
                        DataType::Boolean,
                    ]),
                ],
                Volatility::Immutable,
            ),
            DataType::List(item),
            Arc::new(|args: &[ColumnarValue]| {
                let n = crate::pg_catalog::functions::rows(args);
                let strict = match args.get(1) {
                    Some(a) => {
                        let a = a.to_array(n)?;
                        let b = a.as_boolean();
                        (0..n)
                            .map(|i| (!b.is_null(i)).then(|| b.value(i)))
                            .collect()
                    }
                    None => vec![Some(true); n],
                };
                let mut out = ListBuilder::new(StringBuilder::new());
                for (s, strict) in text_rows(args)?.into_iter().zip(strict) {
                    // Strict: NULL in, NULL out.
                    match (s, strict) {
                        (None, _) | (_, None) => out.append_null(),
                        (Some(s), Some(strict)) => {
                            let parts = parse_ident(&s, strict).map_err(|e| {
                                datafusion::error::DataFusionError::External(Box::new(e))
                            })?;
                            for p in parts {
                                out.values().append_value(p);
                            }
                            out.append(true);
                        }
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }),
        ),
    )
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        text_fn("quote_ident", |v| v.map(quote_ident_if_needed)),
        text_fn("quote_literal", |v| v.map(quote_literal)),
        text_fn("quote_nullable", |v| {
            Some(v.map(quote_literal).unwrap_or_else(|| "NULL".into()))
        }),
        parse_ident_udf(),
    ]
}

#[cfg(test)]
mod tests {
    use super::parse_ident;

    #[test]
    fn parse_ident_as_postgresql() {
        let ok = |s: &str| parse_ident(s, true).unwrap();
        assert_eq!(ok("public.orders"), ["public", "orders"]);
        assert_eq!(ok(" Public . \"My \"\"T\"\"\" "), ["public", "My \"T\""]);
        assert_eq!(ok("orders"), ["orders"]);
        assert!(parse_ident("a.b c", true).is_err());
        assert_eq!(parse_ident("a.b c", false).unwrap(), ["a", "b"]);
        assert!(parse_ident("a.", true).is_err());
        assert!(parse_ident("\"a", true).is_err());
        assert!(parse_ident("\"\"", true).is_err());
        assert!(parse_ident("1a", true).is_err());
        assert_eq!(super::quote_literal("it's"), "'it''s'");
        assert_eq!(super::quote_literal("a\\b"), "E'a\\\\b'");
    }
}
