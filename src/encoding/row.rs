//! Row values: the list of a row's non-null `(column id, value)` pairs, so
//! adding or dropping a column does not rewrite rows.

use crate::catalog::{ColumnId, Table};
use crate::error::{PgResult, df_internal};
use crate::types::Datum;

pub fn encode_row(table: &Table, values: &[Datum]) -> PgResult<Vec<u8>> {
    let pairs: Vec<(ColumnId, &Datum)> = table
        .columns
        .iter()
        .zip(values)
        .filter(|(_, v)| !v.is_null())
        .map(|(c, v)| (c.id, v))
        .collect();
    bincode::serialize(&pairs).map_err(df_internal)
}

/// Decode a stored row into values in the table's column order.
pub fn decode_row(table: &Table, bytes: &[u8]) -> PgResult<Vec<Datum>> {
    let pairs: Vec<(ColumnId, Datum)> = bincode::deserialize(bytes).map_err(df_internal)?;
    let mut out = vec![Datum::Null; table.columns.len()];
    for (id, d) in pairs {
        if let Some(pos) = table.columns.iter().position(|c| c.id == id) {
            out[pos] = d;
        }
    }
    Ok(out)
}
