//! COPY ... FROM STDIN and COPY ... TO STDOUT in text, csv and binary formats.
//!
//! COPY FROM is streamed: data is parsed as it arrives and written in batches,
//! so a large load is never held in memory. A bad row fails the COPY with its
//! line number, and the batches already written are deleted again (outside a
//! transaction block; inside one, the failure aborts the block), so nothing of
//! a failed COPY stays.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Ident,
};
use postgres_types::Type;

use super::dml::{plain_insert, resolve_table};
use super::session::{Session, TxnState};
use super::{Engine, object_parts};
use crate::catalog::{SqlType, Table};
use crate::error::{PgError, PgResult, codes};
use crate::exec::codec::Datum;
use crate::shard::{Command, Op};

/// Rows per write batch while streaming.
const BATCH: usize = 5000;

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

/// A COPY FROM STDIN in progress on a connection, as the frontend keeps it.
pub struct CopyState {
    pub copy: Box<CopyIn>,
    /// The first error; later data is discarded and the error is reported at CopyDone.
    pub failed: Option<PgError>,
}

/// A COPY FROM STDIN in progress.
pub struct CopyIn {
    pub table: Arc<Table>,
    /// Positions in the table of the columns the data supplies, in order.
    cols: Vec<usize>,
    pub opts: Options,
    buf: Vec<u8>,
    line: u64,
    header_pending: bool,
    binary_header_done: bool,
    ended: bool,
    pending: Vec<(u64, Vec<Datum>)>,
    written: Vec<Vec<u8>>,
    pub count: u64,
}

/// Start a COPY: returns the table side for COPY FROM, or the query text for COPY TO.
pub enum CopyStart {
    In(Box<CopyIn>),
    Out { sql: String, opts: Options },
}

pub fn start(
    engine: &Engine,
    session: &Session,
    source: CopySource,
    to: bool,
    target: CopyTarget,
    options: Vec<CopyOption>,
    legacy: Vec<CopyLegacyOption>,
) -> PgResult<CopyStart> {
    let opts = Options::parse(&options, &legacy)?;
    if to {
        if !matches!(target, CopyTarget::Stdout) {
            return Err(PgError::new(
                "42501",
                "COPY to a file is not allowed; use COPY ... TO STDOUT",
            ));
        }
        let sql = match source {
            CopySource::Query(q) => q.to_string(),
            CopySource::Table {
                table_name,
                columns,
            } => {
                let table = resolve_table(engine, session, &object_parts(&table_name))?;
                let cols = if columns.is_empty() {
                    table
                        .columns
                        .iter()
                        .map(|c| quote_ident(&c.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    columns
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!(
                    "SELECT {cols} FROM {}.{}",
                    quote_ident(&table.schema),
                    quote_ident(&table.name)
                )
            }
        };
        return Ok(CopyStart::Out { sql, opts });
    }
    if !matches!(target, CopyTarget::Stdin) {
        return Err(PgError::new(
            "42501",
            "COPY from a file is not allowed; use COPY ... FROM STDIN",
        ));
    }
    let CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(PgError::syntax("COPY FROM needs a table"));
    };
    let table = resolve_table(engine, session, &object_parts(&table_name))?;
    let cols = column_positions(&table, &columns)?;
    Ok(CopyStart::In(Box::new(CopyIn {
        header_pending: opts.header,
        table,
        cols,
        opts,
        buf: Vec::new(),
        line: 0,
        binary_header_done: false,
        ended: false,
        pending: Vec::new(),
        written: Vec::new(),
        count: 0,
    })))
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn column_positions(table: &Table, columns: &[Ident]) -> PgResult<Vec<usize>> {
    if columns.is_empty() {
        return Ok((0..table.columns.len()).collect());
    }
    columns
        .iter()
        .map(|c| {
            let n = if c.quote_style.is_some() {
                c.value.clone()
            } else {
                c.value.to_lowercase()
            };
            table.column_index(&n).ok_or_else(|| {
                PgError::new(
                    codes::UNDEFINED_COLUMN,
                    format!(
                        "column \"{n}\" of relation \"{}\" does not exist",
                        table.name
                    ),
                )
            })
        })
        .collect()
}

fn bad_copy(msg: impl Into<String>, table: &str, line: u64) -> PgError {
    PgError::new(codes::BAD_COPY_FILE_FORMAT, msg).with_detail(format!("COPY {table}, line {line}"))
}

impl CopyIn {
    pub fn column_count(&self) -> usize {
        self.cols.len()
    }

    /// Take in a chunk of COPY data and write full batches.
    pub async fn feed(
        &mut self,
        engine: &Engine,
        session: &mut Session,
        data: &[u8],
    ) -> PgResult<()> {
        self.buf.extend_from_slice(data);
        match self.opts.format {
            Format::Binary => self.parse_binary(false)?,
            _ => self.parse_lines(false)?,
        }
        if self.pending.len() >= BATCH {
            self.write_pending(engine, session).await?;
        }
        Ok(())
    }

    /// All data has arrived: write the rest. Returns the row count.
    pub async fn finish(&mut self, engine: &Engine, session: &mut Session) -> PgResult<u64> {
        match self.opts.format {
            Format::Binary => self.parse_binary(true)?,
            _ => self.parse_lines(true)?,
        }
        self.write_pending(engine, session).await?;
        Ok(self.count)
    }

    async fn write_pending(&mut self, engine: &Engine, session: &mut Session) -> PgResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let n = rows.len() as u64;
        let keys = plain_insert(engine, session, &self.table, rows).await?;
        if matches!(session.txn, TxnState::Idle) {
            self.written.extend(keys);
        }
        self.count += n;
        Ok(())
    }

    /// Delete what this COPY already wrote (outside a transaction block).
    pub async fn undo(&mut self, engine: &Engine) {
        let mut by_group: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
        for k in std::mem::take(&mut self.written) {
            by_group
                .entry(engine.node.route(&k).id)
                .or_default()
                .push(k);
        }
        for (g, keys) in by_group {
            if let Ok(group) = engine.node.group(g) {
                for chunk in keys.chunks(5000) {
                    let ops = chunk
                        .iter()
                        .map(|k| Op::Delete { key: k.clone() })
                        .collect();
                    if let Err(e) = group.propose(Command { ops }).await {
                        tracing::error!("could not remove the rows of a failed COPY: {e}");
                    }
                }
            }
        }
    }

    fn push_row(&mut self, fields: Vec<Option<Cell>>) -> PgResult<()> {
        let line = self.line;
        let t = &self.table;
        if fields.len() > self.cols.len() {
            return Err(bad_copy(
                "extra data after last expected column",
                &t.name,
                line,
            ));
        }
        if fields.len() < self.cols.len() {
            let missing = &t.columns[self.cols[fields.len()]].name;
            return Err(bad_copy(
                format!("missing data for column \"{missing}\""),
                &t.name,
                line,
            ));
        }
        let mut row = vec![Datum::Null; t.columns.len()];
        let supplied: std::collections::HashSet<usize> = self.cols.iter().copied().collect();
        for (i, c) in t.columns.iter().enumerate() {
            if !supplied.contains(&i) {
                if let Some(d) = &c.default {
                    row[i] = default_value(&c.ty, d)
                        .map_err(|e| e.with_detail(format!("COPY {}, line {line}", t.name)))?;
                }
            }
        }
        for (f, &pos) in fields.into_iter().zip(&self.cols) {
            if let Some(Cell::Value(d)) = f {
                row[pos] = d;
            } else if let Some(Cell::Text(s)) = f {
                let col = &t.columns[pos];
                row[pos] = parse_text(&col.ty, &s).map_err(|e| {
                    e.with_detail(format!(
                        "COPY {}, line {line}, column {}: \"{}\"",
                        t.name,
                        col.name,
                        truncate(&s)
                    ))
                })?;
            }
        }
        self.pending.push((line, row));
        Ok(())
    }

    fn parse_lines(&mut self, last: bool) -> PgResult<()> {
        loop {
            if self.ended {
                self.buf.clear();
                return Ok(());
            }
            let rec = match self.opts.format {
                Format::Csv => split_csv_record(&self.buf, &self.opts, last),
                _ => split_line(&self.buf, last),
            };
            let Some((record, consumed, lines)) = rec else {
                return Ok(());
            };
            let record = record.to_vec();
            self.buf.drain(..consumed);
            self.line += 1;
            let start_line = self.line;
            self.line += lines.saturating_sub(1);
            let text = String::from_utf8(record).map_err(|_| {
                PgError::new("22021", "invalid byte sequence for encoding \"UTF8\"")
                    .with_detail(format!("COPY {}, line {start_line}", self.table.name))
            })?;
            let text = text.strip_suffix('\r').map(str::to_string).unwrap_or(text);
            if text == "\\." {
                self.ended = true;
                continue;
            }
            if self.header_pending {
                self.header_pending = false;
                continue;
            }
            let fields = match self.opts.format {
                Format::Csv => parse_csv_fields(&text, &self.opts),
                _ => parse_text_fields(&text, &self.opts)
                    .map_err(|m| bad_copy(m, &self.table.name, start_line))?,
            };
            let saved = self.line;
            self.line = start_line;
            self.push_row(fields.into_iter().map(|f| f.map(Cell::Text)).collect())?;
            self.line = saved;
        }
    }

    fn parse_binary(&mut self, last: bool) -> PgResult<()> {
        const SIG: &[u8] = b"PGCOPY\n\xff\r\n\0";
        if !self.binary_header_done {
            if self.buf.len() < SIG.len() + 8 {
                if last {
                    return Err(bad_copy(
                        "COPY file signature not recognized",
                        &self.table.name,
                        1,
                    ));
                }
                return Ok(());
            }
            if &self.buf[..SIG.len()] != SIG {
                return Err(bad_copy(
                    "COPY file signature not recognized",
                    &self.table.name,
                    1,
                ));
            }
            let ext = u32::from_be_bytes(self.buf[SIG.len() + 4..SIG.len() + 8].try_into().unwrap())
                as usize;
            if self.buf.len() < SIG.len() + 8 + ext {
                return Ok(());
            }
            self.buf.drain(..SIG.len() + 8 + ext);
            self.binary_header_done = true;
        }
        // Tuples are consumed from `start`; the buffer is drained once.
        let mut start = 0;
        let result = loop {
            if self.ended {
                if self.buf.len() > start {
                    // As PostgreSQL: nothing may follow the trailer.
                    break Err(bad_copy(
                        "received copy data after EOF marker",
                        &self.table.name,
                        self.line + 1,
                    ));
                }
                break Ok(());
            }
            if self.buf.len() < start + 2 {
                break Ok(());
            }
            let n = i16::from_be_bytes([self.buf[start], self.buf[start + 1]]);
            if n == -1 {
                self.ended = true;
                start += 2;
                continue;
            }
            // Find whether the whole tuple is here.
            let mut pos = start + 2;
            let mut fields = Vec::with_capacity(n.max(0) as usize);
            let mut complete = true;
            for _ in 0..n {
                if self.buf.len() < pos + 4 {
                    complete = false;
                    break;
                }
                let len = i32::from_be_bytes(self.buf[pos..pos + 4].try_into().unwrap());
                pos += 4;
                if len < 0 {
                    fields.push(None);
                    continue;
                }
                let len = len as usize;
                if self.buf.len() < pos + len {
                    complete = false;
                    break;
                }
                fields.push(Some(self.buf[pos..pos + len].to_vec()));
                pos += len;
            }
            if !complete {
                break Ok(());
            }
            start = pos;
            self.line += 1;
            let line = self.line;
            if fields.len() != self.cols.len() {
                break Err(bad_copy(
                    format!(
                        "row field count is {}, expected {}",
                        fields.len(),
                        self.cols.len()
                    ),
                    &self.table.name,
                    line,
                ));
            }
            let mut cells = Vec::with_capacity(fields.len());
            let mut failed = None;
            for (f, &pos) in fields.into_iter().zip(&self.cols) {
                let Some(raw) = f else {
                    cells.push(None);
                    continue;
                };
                let col = &self.table.columns[pos];
                // Vectors decode straight from pgvector's binary form.
                let cell = if col.ty.vector().is_some() {
                    crate::exec::vecarrow::recv(&col.ty, &raw).map(Cell::Value)
                } else {
                    binary_to_text(&col.ty, &raw).map(Cell::Text)
                };
                match cell {
                    Ok(c) => cells.push(Some(c)),
                    Err(e) => {
                        failed = Some(e.with_detail(format!(
                            "COPY {}, line {line}, column {}",
                            self.table.name, col.name
                        )));
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
            if let Err(e) = self.push_row(cells) {
                break Err(e);
            }
        };
        self.buf.drain(..start.min(self.buf.len()));
        result?;
        if last && !self.buf.is_empty() {
            return Err(bad_copy(
                "unexpected EOF in COPY data",
                &self.table.name,
                self.line + 1,
            ));
        }
        Ok(())
    }
}

/// A COPY field: text to parse, or a value already decoded (binary vectors).
enum Cell {
    Text(String),
    Value(Datum),
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A complete line (without the newline), bytes consumed, lines spanned.
fn split_line(buf: &[u8], last: bool) -> Option<(&[u8], usize, u64)> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) => Some((&buf[..i], i + 1, 1)),
        None if last && !buf.is_empty() => Some((buf, buf.len(), 1)),
        None => None,
    }
}

/// A complete CSV record: newlines inside quotes do not end it.
fn split_csv_record<'a>(
    buf: &'a [u8],
    opts: &Options,
    last: bool,
) -> Option<(&'a [u8], usize, u64)> {
    let (q, e) = (opts.quote as u8, opts.escape as u8);
    let mut in_quotes = false;
    let mut lines = 1;
    let mut i = 0;
    while i < buf.len() {
        let b = buf[i];
        if in_quotes {
            if b == e && e != q && i + 1 < buf.len() && buf[i + 1] == q {
                i += 2;
                continue;
            }
            if b == q {
                if e == q && i + 1 < buf.len() && buf[i + 1] == q {
                    i += 2;
                    continue;
                }
                in_quotes = false;
            } else if b == b'\n' {
                lines += 1;
            }
        } else if b == q {
            in_quotes = true;
        } else if b == b'\n' {
            return Some((&buf[..i], i + 1, lines));
        }
        i += 1;
    }
    if last && !buf.is_empty() {
        Some((buf, buf.len(), lines))
    } else {
        None
    }
}

fn parse_csv_fields(line: &str, opts: &Options) -> Vec<Option<String>> {
    let (d, q, e) = (opts.delimiter, opts.quote, opts.escape);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            // An escaped quote (with the default escape: a doubled quote).
            if c == e && chars.peek() == Some(&q) {
                chars.next();
                cur.push(q);
                continue;
            }
            if c == q {
                quoted = false;
                continue;
            }
            cur.push(c);
        } else if c == q {
            quoted = true;
            was_quoted = true;
        } else if c == d {
            out.push(finish_csv_field(std::mem::take(&mut cur), was_quoted, opts));
            was_quoted = false;
        } else {
            cur.push(c);
        }
    }
    out.push(finish_csv_field(cur, was_quoted, opts));
    out
}

fn finish_csv_field(s: String, quoted: bool, opts: &Options) -> Option<String> {
    if !quoted && s == opts.null {
        None
    } else {
        Some(s)
    }
}

fn parse_text_fields(line: &str, opts: &Options) -> Result<Vec<Option<String>>, String> {
    let mut out = Vec::new();
    for raw in line.split(opts.delimiter) {
        if raw == opts.null {
            out.push(None);
            continue;
        }
        let mut s = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                s.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some('r') => s.push('\r'),
                Some('b') => s.push('\u{8}'),
                Some('f') => s.push('\u{c}'),
                Some('v') => s.push('\u{b}'),
                Some('x') => {
                    let mut hex = String::new();
                    while hex.len() < 2 && chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                        hex.push(chars.next().unwrap());
                    }
                    match u8::from_str_radix(&hex, 16) {
                        Ok(b) => s.push(b as char),
                        Err(_) => s.push('x'),
                    }
                }
                Some(d @ '0'..='7') => {
                    let mut oct = d.to_string();
                    while oct.len() < 3 && chars.peek().is_some_and(|c| ('0'..='7').contains(c)) {
                        oct.push(chars.next().unwrap());
                    }
                    s.push(u8::from_str_radix(&oct, 8).unwrap_or(0) as char);
                }
                Some(other) => s.push(other),
                None => return Err("end-of-copy marker corrupt".into()),
            }
        }
        out.push(Some(s));
    }
    Ok(out)
}

fn invalid(ty: &str, s: &str) -> PgError {
    PgError::new(
        codes::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {ty}: \"{s}\""),
    )
}

/// A column DEFAULT that COPY evaluates itself (constants; now() and friends).
fn default_value(ty: &SqlType, sql: &str) -> PgResult<Datum> {
    let t = sql.trim();
    let lower = t.to_lowercase();
    if matches!(
        lower.as_str(),
        "now()" | "current_timestamp" | "current_timestamp()" | "localtimestamp"
    ) {
        let now = chrono::Utc::now().timestamp_micros();
        return Ok(Datum::Ts(now));
    }
    if lower == "current_date" {
        let days = chrono::Utc::now()
            .date_naive()
            .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
            .num_days();
        return Ok(Datum::Date(days as i32));
    }
    if lower == "null" {
        return Ok(Datum::Null);
    }
    let unquoted = t.split("::").next().unwrap_or(t).trim();
    let unquoted = unquoted
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .map(|s| s.replace("''", "'"))
        .unwrap_or_else(|| unquoted.to_string());
    parse_text(ty, &unquoted).map_err(|_| {
        PgError::unsupported(format!(
            "COPY into a table whose column default \"{sql}\" is not a constant"
        ))
    })
}

/// PostgreSQL's text input for a column type.
pub fn parse_text(ty: &SqlType, s: &str) -> PgResult<Datum> {
    let t = s.trim();
    Ok(match ty {
        SqlType::Bool => match t.to_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Datum::Bool(true),
            "f" | "false" | "n" | "no" | "off" | "0" => Datum::Bool(false),
            _ => return Err(invalid("boolean", s)),
        },
        SqlType::Int2 => {
            Datum::I16(parse_int(t, "smallint", i16::MIN as i64, i16::MAX as i64)? as i16)
        }
        SqlType::Int4 => {
            Datum::I32(parse_int(t, "integer", i32::MIN as i64, i32::MAX as i64)? as i32)
        }
        SqlType::Int8 => Datum::I64(parse_int(t, "bigint", i64::MIN, i64::MAX)?),
        SqlType::Float4 => Datum::F32(parse_float(t, "real")? as f32),
        SqlType::Float8 => Datum::F64(parse_float(t, "double precision")?),
        SqlType::Numeric { precision, scale } => {
            let scale = scale.unwrap_or(crate::catalog::types::NUMERIC_DEFAULT_SCALE) as u32;
            let mut d: rust_decimal::Decimal = t.parse().map_err(|_| invalid("numeric", s))?;
            d.rescale(scale);
            if d.scale() != scale {
                return Err(PgError::new(
                    codes::NUMERIC_VALUE_OUT_OF_RANGE,
                    "numeric field overflow",
                ));
            }
            let m = d.mantissa();
            if let Some(p) = precision {
                if m.unsigned_abs() >= 10u128.pow(*p as u32) {
                    return Err(PgError::new(
                        codes::NUMERIC_VALUE_OUT_OF_RANGE,
                        "numeric field overflow",
                    ));
                }
            }
            Datum::Dec(m)
        }
        SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) => Datum::Text(s.to_string()),
        SqlType::Json | SqlType::Jsonb => {
            serde_json::from_str::<serde_json::Value>(s).map_err(|_| invalid("json", s))?;
            Datum::Text(s.to_string())
        }
        SqlType::Uuid => Datum::Text(
            uuid::Uuid::parse_str(t)
                .map_err(|_| invalid("uuid", s))?
                .to_string(),
        ),
        SqlType::Vector(_)
        | SqlType::HalfVec(_)
        | SqlType::SparseVec(_)
        | SqlType::Bit(_)
        | SqlType::VarBit(_) => crate::exec::vecarrow::parse_text(ty, s)?,
        SqlType::Bytea => match t.strip_prefix("\\x") {
            Some(hex) => {
                if hex.len() % 2 != 0 {
                    return Err(PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        "invalid hexadecimal data: odd number of digits",
                    ));
                }
                let bytes: Option<Vec<u8>> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
                    .collect();
                Datum::Bytes(bytes.ok_or_else(|| {
                    PgError::new(
                        codes::INVALID_TEXT_REPRESENTATION,
                        "invalid hexadecimal digit",
                    )
                })?)
            }
            None => Datum::Bytes(s.as_bytes().to_vec()),
        },
        SqlType::Date => {
            let d = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| invalid("date", s))?;
            Datum::Date(
                d.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
                    .num_days() as i32,
            )
        }
        SqlType::Time => {
            let tm = NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
                .map_err(|_| invalid("time without time zone", s))?;
            Datum::Time(
                tm.signed_duration_since(NaiveTime::MIN)
                    .num_microseconds()
                    .unwrap_or(0),
            )
        }
        SqlType::Timestamp => Datum::Ts(
            parse_naive_ts(t)
                .ok_or_else(|| invalid("timestamp", s))?
                .and_utc()
                .timestamp_micros(),
        ),
        SqlType::TimestampTz => {
            let fmts = [
                "%Y-%m-%d %H:%M:%S%.f%#z",
                "%Y-%m-%dT%H:%M:%S%.f%#z",
                "%Y-%m-%d %H:%M:%S%.f %#z",
            ];
            let parsed = fmts
                .iter()
                .find_map(|f| DateTime::parse_from_str(t, f).ok());
            match parsed {
                Some(dt) => Datum::Ts(dt.timestamp_micros()),
                None => Datum::Ts(
                    parse_naive_ts(t.trim_end_matches(" UTC").trim_end_matches('Z'))
                        .ok_or_else(|| invalid("timestamp with time zone", s))?
                        .and_utc()
                        .timestamp_micros(),
                ),
            }
        }
        SqlType::Interval => {
            let arr = StringArray::from(vec![t]);
            let out = datafusion::arrow::compute::cast(
                &arr,
                &DataType::Interval(datafusion::arrow::datatypes::IntervalUnit::MonthDayNano),
            )
            .map_err(|_| invalid("interval", s))?;
            if out.is_null(0) {
                return Err(invalid("interval", s));
            }
            let v = datafusion::common::ScalarValue::try_from_array(&out, 0)
                .map_err(|_| invalid("interval", s))?;
            Datum::from_scalar(&v)?
        }
        SqlType::Array(inner) => {
            let items = parse_array(t).ok_or_else(|| {
                PgError::new(
                    codes::INVALID_TEXT_REPRESENTATION,
                    format!("malformed array literal: \"{s}\""),
                )
            })?;
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                out.push(match it {
                    None => Datum::Null,
                    Some(v) => parse_text(inner, &v)?,
                });
            }
            Datum::List(out)
        }
    })
}

fn parse_naive_ts(t: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        })
}

fn parse_int(t: &str, ty: &str, min: i64, max: i64) -> PgResult<i64> {
    let v: i128 = t.parse().map_err(|_| invalid(ty, t))?;
    if v < min as i128 || v > max as i128 {
        return Err(PgError::new(
            codes::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value \"{t}\" is out of range for type {ty}"),
        ));
    }
    Ok(v as i64)
}

fn parse_float(t: &str, ty: &str) -> PgResult<f64> {
    match t.to_lowercase().as_str() {
        "nan" => Ok(f64::NAN),
        "infinity" | "inf" | "+infinity" => Ok(f64::INFINITY),
        "-infinity" | "-inf" => Ok(f64::NEG_INFINITY),
        _ => t.parse().map_err(|_| invalid(ty, t)),
    }
}

/// `{1,2,"a b",NULL}` → items (None for NULL).
pub(crate) fn parse_array(t: &str) -> Option<Vec<Option<String>>> {
    let inner = t.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut cur = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => cur.push(chars.next()?),
                    '"' => break,
                    c => cur.push(c),
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == ',' {
                break;
            }
            chars.next();
            if !quoted {
                cur.push(c);
            }
        }
        let item = if !quoted && cur.trim().eq_ignore_ascii_case("null") {
            None
        } else if quoted {
            Some(cur)
        } else {
            Some(cur.trim().to_string())
        };
        out.push(item);
        match chars.next() {
            Some(',') => continue,
            None => break,
            _ => return None,
        }
    }
    Some(out)
}

/// Text form of a binary COPY field of a column type.
fn binary_to_text(ty: &SqlType, raw: &[u8]) -> PgResult<String> {
    let pg = match ty {
        SqlType::Bool => Type::BOOL,
        SqlType::Int2 => Type::INT2,
        SqlType::Int4 => Type::INT4,
        SqlType::Int8 => Type::INT8,
        SqlType::Float4 => Type::FLOAT4,
        SqlType::Float8 => Type::FLOAT8,
        SqlType::Numeric { .. } => Type::NUMERIC,
        SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) => Type::TEXT,
        SqlType::Json => Type::JSON,
        SqlType::Jsonb => Type::JSONB,
        SqlType::Uuid => Type::UUID,
        SqlType::Bytea => {
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            return Ok(format!("\\x{hex}"));
        }
        SqlType::Date => Type::DATE,
        SqlType::Time => Type::TIME,
        SqlType::Timestamp => Type::TIMESTAMP,
        SqlType::TimestampTz => Type::TIMESTAMPTZ,
        SqlType::Interval => Type::INTERVAL,
        SqlType::Vector(_)
        | SqlType::HalfVec(_)
        | SqlType::SparseVec(_)
        | SqlType::Bit(_)
        | SqlType::VarBit(_) => {
            // Decode to the value, then its (lossless) text form.
            let d = crate::exec::vecarrow::recv(ty, raw)?;
            return Ok(crate::exec::vecarrow::datum_text(ty, &d));
        }
        SqlType::Array(inner) => match **inner {
            SqlType::Int2 => Type::INT2_ARRAY,
            SqlType::Int4 => Type::INT4_ARRAY,
            SqlType::Int8 => Type::INT8_ARRAY,
            SqlType::Float4 => Type::FLOAT4_ARRAY,
            SqlType::Float8 => Type::FLOAT8_ARRAY,
            SqlType::Bool => Type::BOOL_ARRAY,
            SqlType::Text | SqlType::Varchar(_) => Type::TEXT_ARRAY,
            _ => return Err(PgError::unsupported("binary COPY of this array type")),
        },
    };
    super::params::binary_to_text(&pg, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(format: Format) -> Options {
        let csv = format == Format::Csv;
        Options {
            format,
            delimiter: if csv { ',' } else { '\t' },
            null: if csv { String::new() } else { "\\N".into() },
            header: false,
            quote: '"',
            escape: '"',
        }
    }

    #[test]
    fn text_fields_unescape() {
        let f = parse_text_fields("a\\tb\t\\N\t\\\\x\t\\101", &opts(Format::Text)).unwrap();
        assert_eq!(
            f,
            vec![
                Some("a\tb".into()),
                None,
                Some("\\x".into()),
                Some("A".into())
            ]
        );
    }

    #[test]
    fn csv_records_span_quoted_newlines() {
        let o = opts(Format::Csv);
        let buf = b"1,\"two\nlines\",\"q\"\"uote\"\n2,,x\n";
        let (rec, used, lines) = split_csv_record(buf, &o, false).unwrap();
        assert_eq!(lines, 2);
        let f = parse_csv_fields(std::str::from_utf8(rec).unwrap(), &o);
        assert_eq!(
            f,
            vec![
                Some("1".into()),
                Some("two\nlines".into()),
                Some("q\"uote".into())
            ]
        );
        let (rec, _, _) = split_csv_record(&buf[used..], &o, false).unwrap();
        let f = parse_csv_fields(std::str::from_utf8(rec).unwrap(), &o);
        assert_eq!(f, vec![Some("2".into()), None, Some("x".into())]);
        assert!(split_csv_record(b"3,\"open", &o, false).is_none());
    }

    #[test]
    fn text_input_of_types() {
        assert_eq!(
            parse_text(&SqlType::Bool, "yes").unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(parse_text(&SqlType::Int2, "-7").unwrap(), Datum::I16(-7));
        assert_eq!(
            parse_text(&SqlType::Int2, "40000").unwrap_err().code,
            codes::NUMERIC_VALUE_OUT_OF_RANGE
        );
        assert_eq!(
            parse_text(&SqlType::Int4, "x").unwrap_err().code,
            codes::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(
            parse_text(
                &SqlType::Numeric {
                    precision: Some(5),
                    scale: Some(2)
                },
                "12.345"
            )
            .unwrap(),
            Datum::Dec(1235)
        );
        assert_eq!(
            parse_text(&SqlType::Date, "1970-01-02").unwrap(),
            Datum::Date(1)
        );
        assert_eq!(
            parse_text(&SqlType::Bytea, "\\x00ff").unwrap(),
            Datum::Bytes(vec![0, 255])
        );
        assert_eq!(
            parse_text(&SqlType::Array(Box::new(SqlType::Int4)), "{1, NULL,3}").unwrap(),
            Datum::List(vec![Datum::I32(1), Datum::Null, Datum::I32(3)])
        );
        assert_eq!(
            parse_array("{\"a,b\",c}").unwrap(),
            vec![Some("a,b".into()), Some("c".into())]
        );
    }
}
