//! SQL cursors: `DECLARE name [NO] [SCROLL] CURSOR [WITH[OUT] HOLD] FOR
//! query`, `FETCH`, `CLOSE`. psycopg2's named cursors, Django's
//! `.iterator()` and pandas' chunked reads send them.
//!
//! A cursor's rows are read when it is declared (the statement's
//! snapshot, as PostgreSQL's cursor sees the database as of DECLARE) and
//! kept in the session, so FETCH in any direction is a slice and no table
//! lock outlives DECLARE. The cost is the result's size in server memory.
//! A cursor without HOLD ends with its transaction; WITH HOLD outlives
//! the commit (not a rollback), as in PostgreSQL.

use std::collections::BTreeMap;

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{FetchDirection, Value, ValueWithSpan};

use crate::error::{PgError, PgResult, codes};

/// One open cursor.
pub struct Cursor {
    pub schema: SchemaRef,
    rows: RecordBatch,
    /// PostgreSQL's position: 0 before the first row, n on row n,
    /// len + 1 after the last.
    pos: usize,
    scroll: bool,
    hold: bool,
    /// Declared in the open transaction block (a rollback closes it even
    /// WITH HOLD).
    in_block: bool,
}

/// The session's open cursors, by name.
#[derive(Default)]
pub struct Cursors {
    open: BTreeMap<String, Cursor>,
}

fn missing(name: &str) -> PgError {
    PgError::new(
        codes::INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}

fn count(v: &ValueWithSpan) -> PgResult<i64> {
    match &v.value {
        Value::Number(n, _) => n
            .parse()
            .map_err(|_| PgError::syntax(format!("invalid FETCH count: {n}"))),
        other => Err(PgError::syntax(format!("invalid FETCH count: {other}"))),
    }
}

impl Cursors {
    /// Open cursor `name` over the rows `batches` (all of the query's).
    #[allow(clippy::too_many_arguments)]
    pub fn declare(
        &mut self,
        name: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
        scroll: bool,
        hold: bool,
        in_block: bool,
    ) -> PgResult<()> {
        if self.open.contains_key(name) {
            return Err(PgError::new(
                codes::DUPLICATE_CURSOR,
                format!("cursor \"{name}\" already exists"),
            ));
        }
        let rows = concat_batches(&schema, batches)
            .map_err(|e| PgError::internal(format!("cursor rows: {e}")))?;
        self.open.insert(
            name.to_string(),
            Cursor {
                schema,
                rows,
                pos: 0,
                scroll,
                hold,
                in_block,
            },
        );
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Cursor> {
        self.open.get(name)
    }

    /// `FETCH direction FROM name`: the rows, in the order fetched.
    pub fn fetch(&mut self, name: &str, direction: &FetchDirection) -> PgResult<RecordBatch> {
        let c = self.open.get_mut(name).ok_or_else(|| missing(name))?;
        let len = c.rows.num_rows() as i64;
        let pos = c.pos as i64;
        // Each direction as a relative move (forward or backward, n rows)
        // or an absolute position.
        enum Move {
            By(i64),
            /// To row k (1-based; below 1 before the first, above len
            /// after the last).
            At(i64),
        }
        // ABSOLUTE k counts from the end when negative. Counts beyond the
        // rows are clamped (FORWARD 9223372036854775807 is ALL).
        let absolute = |k: i64| {
            if k < 0 {
                len.saturating_add(1).saturating_add(k)
            } else {
                k
            }
        };
        let m = match direction {
            FetchDirection::Next => Move::By(1),
            FetchDirection::Prior => Move::By(-1),
            FetchDirection::First => Move::At(1),
            FetchDirection::Last => Move::At(len),
            FetchDirection::Absolute { limit } => Move::At(absolute(count(limit)?)),
            FetchDirection::Relative { limit } => Move::At(pos.saturating_add(count(limit)?)),
            FetchDirection::Count { limit } => Move::By(count(limit)?),
            FetchDirection::All | FetchDirection::ForwardAll => Move::By(len + 1),
            FetchDirection::Forward { limit } => {
                Move::By(limit.as_ref().map(count).transpose()?.unwrap_or(1))
            }
            FetchDirection::Backward { limit } => Move::By(
                limit
                    .as_ref()
                    .map(count)
                    .transpose()?
                    .unwrap_or(1)
                    .saturating_neg(),
            ),
            FetchDirection::BackwardAll => Move::By(-(len + 1)),
        };
        let m = match m {
            Move::By(n) => Move::By(n.clamp(-(len + 1), len + 1)),
            Move::At(k) => Move::At(k.clamp(0, len + 1)),
        };
        let backward = match m {
            Move::By(n) => n < 0,
            Move::At(target) => target < pos,
        };
        if backward && !c.scroll {
            return Err(PgError::new(
                codes::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "cursor can only scan forward",
            )
            .with_hint("Declare it with SCROLL option to enable backward scan."));
        }
        let (first, n, reversed, new_pos) = match m {
            Move::By(n) if n >= 0 => {
                let first = pos + 1;
                let last = (pos + n).min(len);
                let new_pos = if pos + n > len { len + 1 } else { pos + n };
                (first, (last - first + 1).max(0), false, new_pos)
            }
            Move::By(n) => {
                let last = (pos - 1).min(len);
                let first = (pos + n).max(1);
                let new_pos = (pos + n).max(0);
                (first, (last - first + 1).max(0), true, new_pos)
            }
            Move::At(target) => {
                if target < 1 {
                    (1, 0, false, 0)
                } else if target > len {
                    (1, 0, false, len + 1)
                } else {
                    (target, 1, false, target)
                }
            }
        };
        c.pos = new_pos as usize;
        // No rows: an empty slice at the start (an offset past the end
        // would panic).
        let offset = if n == 0 { 0 } else { (first - 1) as usize };
        let slice = c.rows.slice(offset, n as usize);
        if !reversed || slice.num_rows() < 2 {
            return Ok(slice);
        }
        let idx = datafusion::arrow::array::UInt32Array::from_iter_values(
            (0..slice.num_rows() as u32).rev(),
        );
        let cols = slice
            .columns()
            .iter()
            .map(|col| datafusion::arrow::compute::take(col, &idx, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PgError::internal(format!("cursor rows: {e}")))?;
        RecordBatch::try_new(slice.schema(), cols)
            .map_err(|e| PgError::internal(format!("cursor rows: {e}")))
    }

    /// `CLOSE name`, `CLOSE ALL` (None).
    pub fn close(&mut self, name: Option<&str>) -> PgResult<()> {
        match name {
            None => self.open.clear(),
            Some(n) => {
                self.open.remove(n).ok_or_else(|| missing(n))?;
            }
        }
        Ok(())
    }

    /// The transaction block ended: cursors without HOLD close, and so do
    /// those it declared WITH HOLD (a COMMIT has taken those out first,
    /// [`Self::take_held`], and puts them back once it succeeds).
    pub fn end_transaction(&mut self) {
        self.open.retain(|_, c| c.hold && !c.in_block);
    }

    /// The WITH HOLD cursors the committing block declared, taken out
    /// until its COMMIT has succeeded ([`Self::put_back`]).
    pub fn take_held(&mut self) -> Vec<(String, Cursor)> {
        let names: Vec<String> = self
            .open
            .iter()
            .filter(|(_, c)| c.hold && c.in_block)
            .map(|(n, _)| n.clone())
            .collect();
        names
            .into_iter()
            .filter_map(|n| self.open.remove(&n).map(|c| (n, c)))
            .collect()
    }

    pub fn put_back(&mut self, held: Vec<(String, Cursor)>) {
        for (n, mut c) in held {
            c.in_block = false;
            self.open.insert(n, c);
        }
    }

    /// DISCARD ALL.
    pub fn clear(&mut self) {
        self.open.clear();
    }
}
