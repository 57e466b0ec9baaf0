//! How rows are stored: key and row encodings (see each file). Values are
//! [`crate::types::Datum`]s; tables and column ids come from the catalog.

pub mod key;
pub mod row;
#[cfg(test)]
mod tests;

/// The first key after every key that starts with a prefix (None: no such key).
pub use crate::shard::store::prefix_successor;
pub use key::{encode_key, push_key, table_prefix};
pub use row::{decode_row, encode_row};
