//! Building an information_schema view: text and integer columns, all
//! nullable (PostgreSQL's sql_identifier, character_data, cardinal_number
//! domains), filled row by row.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableProvider;

use crate::pg_catalog::common::table;

/// Columns of text (nullable) and their values, row by row.
pub struct Rows {
    pub names: Vec<&'static str>,
    pub ints: Vec<bool>,
    pub rows: Vec<Vec<Cell>>,
}

pub enum Cell {
    Text(Option<String>),
    Int(Option<i32>),
}

pub fn t(s: impl Into<String>) -> Cell {
    Cell::Text(Some(s.into()))
}

pub fn none() -> Cell {
    Cell::Text(None)
}

pub fn int(v: Option<i32>) -> Cell {
    Cell::Int(v)
}

impl Rows {
    /// `columns`: names, an `#` prefix marking an integer column.
    pub fn new(columns: &[&'static str]) -> Rows {
        Rows {
            names: columns.iter().map(|c| c.trim_start_matches('#')).collect(),
            ints: columns.iter().map(|c| c.starts_with('#')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn build(self) -> DfResult<Arc<dyn TableProvider>> {
        let fields: Vec<Field> = self
            .names
            .iter()
            .zip(&self.ints)
            .map(|(n, i)| Field::new(*n, if *i { DataType::Int32 } else { DataType::Utf8 }, true))
            .collect();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (c, is_int) in self.ints.iter().enumerate() {
            let col = self.rows.iter().map(|r| &r[c]);
            columns.push(if *is_int {
                Arc::new(
                    col.map(|v| match v {
                        Cell::Int(i) => *i,
                        Cell::Text(_) => None,
                    })
                    .collect::<Int32Array>(),
                )
            } else {
                Arc::new(
                    col.map(|v| match v {
                        Cell::Text(s) => s.clone(),
                        Cell::Int(i) => i.map(|i| i.to_string()),
                    })
                    .collect::<StringArray>(),
                )
            });
        }
        table(Arc::new(Schema::new(fields)), columns)
    }
}

pub fn yes_no(b: bool) -> Cell {
    t(if b { "YES" } else { "NO" })
}
