//! COPY's options (FORMAT, DELIMITER, NULL, HEADER, QUOTE, ESCAPE and the
//! legacy forms), as PostgreSQL reads them.

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};

use crate::error::{PgError, PgResult, codes};

#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    Text,
    Csv,
    Binary,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    pub delimiter: char,
    pub null: String,
    pub header: bool,
    pub quote: char,
    pub escape: char,
}

impl Options {
    pub fn parse(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> PgResult<Options> {
        let mut format = Format::Text;
        let (mut delimiter, mut null, mut header, mut quote, mut escape) =
            (None, None, false, '"', None);
        for o in options {
            match o {
                CopyOption::Format(f) => {
                    format = match f.value.to_lowercase().as_str() {
                        "text" => Format::Text,
                        "csv" => Format::Csv,
                        "binary" => Format::Binary,
                        other => {
                            return Err(PgError::new(
                                codes::INVALID_PARAMETER_VALUE,
                                format!("COPY format \"{other}\" not recognized"),
                            ));
                        }
                    }
                }
                CopyOption::Delimiter(c) => delimiter = Some(*c),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = *c,
                CopyOption::Escape(c) => escape = Some(*c),
                CopyOption::Freeze(_) | CopyOption::Encoding(_) => {}
                other => return Err(PgError::unsupported(format!("COPY option {other}"))),
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Binary => format = Format::Binary,
                CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Csv(opts) => {
                    format = Format::Csv;
                    for c in opts {
                        match c {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(q) => quote = *q,
                            CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                            other => {
                                return Err(PgError::unsupported(format!("COPY option {other}")));
                            }
                        }
                    }
                }
                other => return Err(PgError::unsupported(format!("COPY option {other}"))),
            }
        }
        if header && format == Format::Text {
            return Err(PgError::new(
                codes::FEATURE_NOT_SUPPORTED,
                "COPY HEADER available only in CSV mode",
            ));
        }
        let csv = format == Format::Csv;
        Ok(Options {
            delimiter: delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote,
            escape: escape.unwrap_or(quote),
            format,
        })
    }
}
