//! A vector index's copy of its rows' scalar columns, by graph id.
//!
//! A filtered KNN query (`WHERE cat = 3 ORDER BY v <-> q LIMIT k`) must know
//! which rows pass its filter. Reading rows from RocksDB to find out costs a
//! full scan at low selectivity; with the scalar columns kept here, the
//! filter is evaluated over every row of the shard in one vectorised
//! DataFusion pass, and the search then visits only matching rows (see
//! `ShardIndex::filtered_search`). Vectors, bytea, JSON, arrays and text
//! columns whose values average more than [`TEXT_AVG`] bytes are not kept:
//! a filter reading one of those takes the row-reading path.

use std::sync::Arc;

use parking_lot::Mutex;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;

use crate::catalog::{ColumnId, Table};
use crate::error::{PgError, PgResult, df_internal};
use crate::types::{Datum, SqlType};

/// Text columns are kept while their values average at most this many bytes.
const TEXT_AVG: usize = 64;

struct Column {
    values: Values,
    /// Heap bytes of text values.
    bytes: usize,
}

/// A fixed-width value's variant (see [`Values::Words`]).
#[derive(Clone, Copy, PartialEq)]
enum Word {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Date,
    Time,
    Ts,
}

impl Word {
    fn of(d: &Datum) -> Option<(Word, u64)> {
        Some(match *d {
            Datum::Bool(b) => (Word::Bool, b as u64),
            Datum::I16(x) => (Word::I16, x as u64),
            Datum::I32(x) => (Word::I32, x as u64),
            Datum::I64(x) => (Word::I64, x as u64),
            Datum::F32(x) => (Word::F32, x.to_bits() as u64),
            Datum::F64(x) => (Word::F64, x.to_bits()),
            Datum::Date(x) => (Word::Date, x as u64),
            Datum::Time(x) => (Word::Time, x as u64),
            Datum::Ts(x) => (Word::Ts, x as u64),
            _ => return None,
        })
    }

    fn datum(self, w: u64) -> Datum {
        match self {
            Word::Bool => Datum::Bool(w != 0),
            Word::I16 => Datum::I16(w as i16),
            Word::I32 => Datum::I32(w as i32),
            Word::I64 => Datum::I64(w as i64),
            Word::F32 => Datum::F32(f32::from_bits(w as u32)),
            Word::F64 => Datum::F64(f64::from_bits(w)),
            Word::Date => Datum::Date(w as i32),
            Word::Time => Datum::Time(w as i64),
            Word::Ts => Datum::Ts(w as i64),
        }
    }
}

/// A column's values by graph id. Numbers, dates and times (most filter
/// columns) are 8-byte words, a third of a `Datum`; others stay `Datum`s.
enum Values {
    /// No value yet, or only NULLs: `len` of them.
    Nulls(usize),
    /// Values of one fixed-width variant; `None` where NULL.
    Words(Word, Vec<u64>, Vec<bool>),
    Any(Vec<Datum>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Nulls(n) => *n,
            Values::Words(_, w, _) => w.len(),
            Values::Any(v) => v.len(),
        }
    }

    fn get(&self, id: usize) -> Datum {
        match self {
            Values::Nulls(_) => Datum::Null,
            Values::Words(kind, w, valid) => match valid.get(id) {
                Some(true) => kind.datum(w[id]),
                _ => Datum::Null,
            },
            Values::Any(v) => v.get(id).cloned().unwrap_or(Datum::Null),
        }
    }

    fn set(&mut self, id: usize, d: Datum) {
        let len = self.len().max(id + 1);
        let word = Word::of(&d);
        match (&mut *self, word) {
            (Values::Nulls(n), _) if d.is_null() => *n = len,
            (Values::Nulls(n), Some((kind, _))) => {
                *self = Values::Words(kind, vec![0; *n], vec![false; *n]);
                return self.set(id, d);
            }
            (Values::Words(kind, w, valid), _)
                if d.is_null() || word.is_some_and(|x| x.0 == *kind) =>
            {
                w.resize(len, 0);
                valid.resize(len, false);
                w[id] = word.map_or(0, |x| x.1);
                valid[id] = word.is_some();
            }
            (Values::Any(v), _) => {
                v.resize(len, Datum::Null);
                v[id] = d;
            }
            // Another kind of value than so far: keep them as they are.
            (me, _) => {
                let all = (0..me.len()).map(|i| me.get(i)).collect();
                *me = Values::Any(all);
                return self.set(id, d);
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Values::Nulls(_) => 0,
            Values::Words(_, w, valid) => 8 * w.capacity() + valid.capacity(),
            Values::Any(v) => v.capacity() * std::mem::size_of::<Datum>(),
        }
    }
}

/// The kept columns (by the index's table's positions), their values by
/// graph id, and their Arrow form as of the last filter (rebuilt after
/// writes).
pub struct FilterColumns {
    /// Each position's column id and type: a filter planned against a later
    /// version of the table (columns added, dropped, retyped) finds its
    /// columns by id and type, never by position.
    meta: Vec<(ColumnId, SqlType)>,
    cols: Vec<Option<Column>>,
    /// Bumped on every change, so cached arrays know they are stale.
    version: u64,
    arrays: Mutex<Option<(u64, Vec<Option<ArrayRef>>)>>,
}

fn kept(ty: &SqlType) -> bool {
    use SqlType::*;
    matches!(
        ty,
        Bool | Int2
            | Int4
            | Int8
            | Float4
            | Float8
            | Numeric { .. }
            | Text
            | Varchar(_)
            | Char(_)
            | Date
            | Time
            | Timestamp
            | TimestampTz
            | Uuid
    )
}

impl FilterColumns {
    pub fn new(table: &Table) -> Self {
        FilterColumns {
            meta: table.columns.iter().map(|c| (c.id, c.ty.clone())).collect(),
            cols: table
                .columns
                .iter()
                .map(|c| {
                    kept(&c.ty).then(|| Column {
                        values: Values::Nulls(0),
                        bytes: 0,
                    })
                })
                .collect(),
            version: 0,
            arrays: Mutex::new(None),
        }
    }

    /// Record graph id `id`'s row (all table columns, in order).
    pub fn set(&mut self, id: usize, row: &[Datum]) {
        self.version += 1;
        for (pos, slot) in self.cols.iter_mut().enumerate() {
            let Some(col) = slot else { continue };
            let v = row.get(pos).cloned().unwrap_or(Datum::Null);
            if let Datum::Text(t) = &v {
                col.bytes += t.len();
            }
            col.values.set(id, v);
            // Long text (documents, chunks) is not worth a copy: drop the
            // column, filters on it read rows.
            if col.bytes > TEXT_AVG * col.values.len() + 4096 {
                *slot = None;
            }
        }
    }

    /// Bytes held on the heap: the values, and the Arrow form of the last filter.
    pub fn heap_bytes(&self) -> usize {
        let values: usize = self
            .cols
            .iter()
            .flatten()
            .map(|c| c.values.heap_bytes() + c.bytes)
            .sum();
        let arrays: usize = self
            .arrays
            .lock()
            .iter()
            .flat_map(|(_, a)| a.iter().flatten())
            .map(|a| a.get_array_memory_size())
            .sum();
        values + arrays
    }

    /// Graph id `id`'s value of `col` (a column of the table as planned),
    /// if that column is kept.
    pub fn value(&self, id: usize, col: &crate::catalog::Column) -> Option<Datum> {
        let slot = self
            .meta
            .iter()
            .position(|(cid, ty)| *cid == col.id && *ty == col.ty)?;
        let kept = self.cols[slot].as_ref()?;
        Some(kept.values.get(id))
    }

    /// Evaluate `filter` (planned over `table`, whose `schema` it reads)
    /// for graph ids `0..len`: true where the row passes. None when the
    /// filter reads a column that is not kept.
    pub fn mask(
        &self,
        filter: &Arc<dyn PhysicalExpr>,
        table: &Table,
        schema: &SchemaRef,
        len: usize,
    ) -> Option<PgResult<Vec<bool>>> {
        // (schema position, kept slot) of every column the filter reads.
        let mut used = Vec::new();
        for c in datafusion::physical_expr::utils::collect_columns(filter) {
            let col = table.columns.get(c.index())?;
            let slot = self
                .meta
                .iter()
                .position(|(id, ty)| *id == col.id && *ty == col.ty)?;
            self.cols[slot].as_ref()?;
            used.push((c.index(), slot));
        }
        Some(self.evaluate(filter, schema, &used, len))
    }

    fn evaluate(
        &self,
        filter: &Arc<dyn PhysicalExpr>,
        schema: &SchemaRef,
        used: &[(usize, usize)],
        len: usize,
    ) -> PgResult<Vec<bool>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let arrays = self.arrays(schema, used, len)?;
        let columns = (0..schema.fields().len())
            .map(|i| match used.iter().find(|u| u.0 == i) {
                Some(&(_, slot)) => arrays[slot].clone().expect("converted"),
                None => new_null_array(schema.field(i).data_type(), len),
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| PgError::internal(e.to_string()))?;
        let v = filter
            .evaluate(&batch)
            .and_then(|v| v.into_array(len))
            .map_err(df_internal)?;
        let b = v
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| PgError::internal("filter is not boolean"))?;
        Ok((0..b.len()).map(|i| b.is_valid(i) && b.value(i)).collect())
    }

    /// The used slots as Arrow arrays of `len` rows (by slot), converted
    /// once per version and reused by later filters.
    fn arrays(
        &self,
        schema: &SchemaRef,
        used: &[(usize, usize)],
        len: usize,
    ) -> PgResult<Vec<Option<ArrayRef>>> {
        let mut cache = self.arrays.lock();
        if cache.as_ref().is_none_or(|(v, a)| {
            *v != self.version
                || a.len() != self.cols.len()
                || a.iter().flatten().any(|x| x.len() != len)
        }) {
            *cache = Some((self.version, vec![None; self.cols.len()]));
        }
        let (_, arrays) = cache.as_mut().expect("just set");
        for &(i, slot) in used {
            if arrays[slot].is_some() {
                continue;
            }
            let Some(col) = &self.cols[slot] else {
                continue;
            };
            let field = schema.field(i);
            let scalars = (0..len)
                .map(|id| col.values.get(id).to_scalar(field.data_type()))
                .collect::<PgResult<Vec<_>>>()?;
            let arr =
                datafusion::common::ScalarValue::iter_to_array(scalars).map_err(df_internal)?;
            let arr = if arr.data_type() != field.data_type() {
                datafusion::arrow::compute::cast(&arr, field.data_type()).map_err(df_internal)?
            } else {
                arr
            };
            arrays[slot] = Some(arr);
        }
        Ok(arrays.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_words_nulls_and_other_kinds() {
        let mut v = Values::Nulls(0);
        v.set(2, Datum::Null);
        assert!(matches!(v, Values::Nulls(3)));
        v.set(4, Datum::I32(-7));
        v.set(1, Datum::I32(i32::MAX));
        assert!(matches!(v, Values::Words(Word::I32, _, _)));
        assert_eq!(
            (0..6).map(|i| v.get(i)).collect::<Vec<_>>(),
            [
                Datum::Null,
                Datum::I32(i32::MAX),
                Datum::Null,
                Datum::Null,
                Datum::I32(-7),
                Datum::Null
            ]
        );
        v.set(4, Datum::Null);
        assert_eq!(v.get(4), Datum::Null);
        let mut f = Values::Nulls(0);
        f.set(0, Datum::F64(-0.5));
        f.set(1, Datum::F32(f32::NAN));
        // Two kinds in one column: every value kept as it was.
        assert!(matches!(f, Values::Any(_)));
        assert_eq!(f.get(0), Datum::F64(-0.5));
        assert!(matches!(f.get(1), Datum::F32(x) if x.is_nan()));
        let mut t = Values::Nulls(1);
        t.set(1, Datum::Text("a".into()));
        assert_eq!(
            (t.get(0), t.get(1), t.len()),
            (Datum::Null, Datum::Text("a".into()), 2)
        );
    }
}
