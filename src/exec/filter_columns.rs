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

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::PhysicalExpr;

use super::codec::{Datum, df_internal};
use crate::catalog::types::SqlType;
use crate::catalog::{ColumnId, Table};
use crate::error::{PgError, PgResult};

/// Text columns are kept while their values average at most this many bytes.
const TEXT_AVG: usize = 64;

struct Column {
    values: Vec<Datum>,
    /// Heap bytes of text values.
    bytes: usize,
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
                        values: Vec::new(),
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
            if col.values.len() <= id {
                col.values.resize(id + 1, Datum::Null);
            }
            let v = row.get(pos).cloned().unwrap_or(Datum::Null);
            if let Datum::Text(t) = &v {
                col.bytes += t.len();
            }
            col.values[id] = v;
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
            .map(|c| c.values.capacity() * std::mem::size_of::<Datum>() + c.bytes)
            .sum();
        let arrays: usize = self
            .arrays
            .lock()
            .unwrap()
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
        Some(kept.values.get(id).cloned().unwrap_or(Datum::Null))
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
        let mut cache = self.arrays.lock().unwrap();
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
                .map(|id| {
                    col.values
                        .get(id)
                        .unwrap_or(&Datum::Null)
                        .to_scalar(field.data_type())
                })
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
