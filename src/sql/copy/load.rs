//! Running COPY: COPY ... TO STDOUT becomes a query; COPY ... FROM STDIN
//! parses text, csv or binary data and writes it through the insert path.
//!
//! COPY FROM is streamed: data is parsed as it arrives and written in batches,
//! so a large load is never held in memory. A bad row fails the COPY with its
//! line number, and the batches already written are deleted again (outside a
//! transaction block; inside one, the failure aborts the block), so nothing of
//! a failed COPY stays.

use chrono::NaiveDate;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyOption, CopyOption, CopySource, CopyTarget, Ident,
};

use super::options::{Format, Options};
use super::state::{CopyIn, CopyStart};
use crate::catalog::Table;
use crate::catalog::locks::LockMode;
use crate::dataplane::Txn;
use crate::dataplane::write::WriteError;
use crate::error::{PgError, PgResult, codes};
use crate::sql::dml::{lock_table, plain_insert, resolve_table};
use crate::sql::engine::Engine;
use crate::sql::parse::object_parts;
use crate::sql::session::{Session, TxnState};
use crate::types::Datum;
use crate::types::SqlType;
use crate::types::binary::field_text;
use crate::types::text::{parse_text, quote_ident};

/// Rows per write batch while streaming.
const BATCH: usize = 5000;
pub async fn start(
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
    let table = lock_table(
        engine,
        session,
        &object_parts(&table_name),
        LockMode::RowExclusive,
    )
    .await?;
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
        txn: None,
        count: 0,
    })))
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
        self.commit().await?;
        Ok(self.count)
    }

    async fn write_pending(&mut self, engine: &Engine, session: &mut Session) -> PgResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let n = rows.len() as u64;
        let txn = match session.txn {
            TxnState::Idle => Some(
                self.txn
                    .get_or_insert_with(|| Txn::begin(engine.data.clone())),
            ),
            _ => None,
        };
        plain_insert(engine, session, &self.table, rows, txn).await?;
        self.count += n;
        Ok(())
    }

    /// Commit the COPY's own transaction (in a task of its own: a client
    /// that goes away now does not interrupt the commit).
    async fn commit(&mut self) -> PgResult<()> {
        let Some(t) = self.txn.take() else {
            return Ok(());
        };
        match tokio::spawn(t.commit()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(WriteError::Failed(e))) => Err(e),
            Ok(Err(WriteError::Conflict(_))) => Err(PgError::serialization_failure()),
            Err(e) => Err(PgError::internal(format!("commit task failed: {e}"))),
        }
    }

    /// Abort what this COPY wrote (outside a transaction block).
    pub async fn abort(&mut self) {
        if let Some(t) = self.txn.take() {
            t.abort().await;
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
                    crate::types::vector_arrow::recv(&col.ty, &raw).map(Cell::Value)
                } else {
                    field_text(&col.ty, &raw).map(Cell::Text)
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
}
