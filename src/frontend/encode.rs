//! Arrow results → PostgreSQL row descriptions and data rows (via arrow-pg).

use std::sync::Arc;

use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use crate::catalog::types::PG_TYPE_KEY;

/// Row description for a schema in the given formats.
pub fn fields(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    let mut out = arrow_schema_to_pg_fields(schema, format, None)?;
    for (i, f) in schema.fields().iter().enumerate() {
        if let Some(t) = f.metadata().get(PG_TYPE_KEY) {
            let ty = match t.as_str() {
                "varchar" => Type::VARCHAR,
                "bpchar" => Type::BPCHAR,
                "json" => Type::JSON,
                _ => continue,
            };
            let old = &out[i];
            out[i] = FieldInfo::new(old.name().to_string(), None, None, ty, old.format());
        }
    }
    Ok(out)
}

pub fn rows(
    fields: Arc<Vec<FieldInfo>>,
    batch: RecordBatch,
) -> impl Iterator<Item = PgWireResult<DataRow>> {
    encode_recordbatch(fields, batch)
}
