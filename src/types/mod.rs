//! SQL values and types: [`Datum`] (a value as rows, keys and parameters
//! hold it, and its Arrow form) and [`SqlType`] (a column's type, its
//! PostgreSQL OID and name, and its Arrow type), and their forms: text
//! ([`text`]), binary ([`binary`]) and Arrow for vectors ([`vector_arrow`]).

pub mod array_text;
pub mod binary;
pub mod datetime_text;
pub mod datum;
pub mod sql_type;
pub mod text;
pub mod vector_arrow;

pub use datum::Datum;
pub use sql_type::*;
