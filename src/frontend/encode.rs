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
        let visible = crate::sql::names::visible(f.name());
        if visible != f.name() {
            let old = &out[i];
            out[i] = FieldInfo::new(
                visible.to_string(),
                None,
                None,
                old.datatype().clone(),
                old.format(),
            );
        }

        if let Some(t) = f.metadata().get(PG_TYPE_KEY) {
            let ty = match t.as_str() {
                "varchar" => Type::VARCHAR,
                "bpchar" => Type::BPCHAR,
                "json" => Type::JSON,
                "jsonb" => Type::JSONB,
                "uuid" => Type::UUID,
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
    let batch = pg_text_floats(batch, &fields);
    let batch = binary_uuid_jsonb(batch, &fields);
    encode_recordbatch(fields, batch)
}

/// PostgreSQL's text output for floats (extra_float_digits >= 1): the
/// shortest digits that round-trip, in exponential form when the decimal
/// exponent is below -4 or at least 15 (6 for real).
pub fn pg_float_text(v: f64, is_real: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sci = if is_real {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let limit = if is_real { 6 } else { 15 };
    if v != 0.0 && (exp < -4 || exp >= limit) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else if is_real {
        format!("{}", v as f32)
    } else {
        format!("{v}")
    }
}

/// Replace float columns sent in text format by their PostgreSQL text form
/// (the row description keeps the float types).
pub fn pg_text_floats(batch: RecordBatch, fields: &[FieldInfo]) -> RecordBatch {
    use datafusion::arrow::array::{Array, ArrayRef, Float32Array, Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use pgwire::api::results::FieldFormat;
    let mut changed = false;
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut schema_fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    for (i, col) in batch.columns().iter().enumerate() {
        let f = batch.schema().field(i).clone();
        let text = fields
            .get(i)
            .is_some_and(|fi| matches!(fi.format(), FieldFormat::Text));
        let conv: Option<StringArray> = match (text, col.data_type()) {
            (true, DataType::Float64) => {
                let a = col.as_any().downcast_ref::<Float64Array>().unwrap();
                Some(
                    a.iter()
                        .map(|v| v.map(|v| pg_float_text(v, false)))
                        .collect(),
                )
            }
            (true, DataType::Float32) => {
                let a = col.as_any().downcast_ref::<Float32Array>().unwrap();
                Some(
                    a.iter()
                        .map(|v| v.map(|v| pg_float_text(v as f64, true)))
                        .collect(),
                )
            }
            _ => None,
        };
        match conv {
            Some(s) => {
                changed = true;
                schema_fields.push(Field::new(f.name(), DataType::Utf8, true));
                cols.push(Arc::new(s));
            }
            None => {
                schema_fields.push(f);
                cols.push(col.clone());
            }
        }
    }
    if !changed {
        return batch;
    }
    RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), cols).unwrap_or(batch)
}

/// uuid and jsonb are stored as text; in binary format they go out as 16
/// bytes and as version byte 1 + text, as PostgreSQL sends them.
pub fn binary_uuid_jsonb(batch: RecordBatch, fields: &[FieldInfo]) -> RecordBatch {
    use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use pgwire::api::results::FieldFormat;
    let needs = |i: usize| {
        fields.get(i).is_some_and(|f| {
            matches!(f.format(), FieldFormat::Binary)
                && (*f.datatype() == Type::UUID || *f.datatype() == Type::JSONB)
        })
    };
    if !(0..batch.num_columns()).any(needs) {
        return batch;
    }
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut schema_fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    for (i, col) in batch.columns().iter().enumerate() {
        let f = batch.schema().field(i).clone();
        let Some(strings) = col
            .as_any()
            .downcast_ref::<StringArray>()
            .filter(|_| needs(i))
        else {
            schema_fields.push(f);
            cols.push(col.clone());
            continue;
        };
        let uuid = *fields[i].datatype() == Type::UUID;
        let bytes: BinaryArray = strings
            .iter()
            .map(|v| {
                v.map(|s| {
                    if uuid {
                        uuid::Uuid::parse_str(s)
                            .map(|u| u.as_bytes().to_vec())
                            .unwrap_or_default()
                    } else {
                        let mut b = Vec::with_capacity(s.len() + 1);
                        b.push(1u8);
                        b.extend_from_slice(s.as_bytes());
                        b
                    }
                })
            })
            .collect();
        schema_fields.push(Field::new(f.name(), DataType::Binary, true));
        cols.push(Arc::new(bytes));
    }
    RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), cols).unwrap_or(batch)
}

#[cfg(test)]
mod tests {
    use super::pg_float_text;

    #[test]
    fn floats_print_as_postgresql_does() {
        assert_eq!(pg_float_text(1.0, false), "1");
        assert_eq!(pg_float_text(-0.0, false), "-0");
        assert_eq!(pg_float_text(0.1, false), "0.1");
        assert_eq!(pg_float_text(1e20, false), "1e+20");
        assert_eq!(pg_float_text(1e15, false), "1e+15");
        assert_eq!(pg_float_text(1e14, false), "100000000000000");
        assert_eq!(pg_float_text(0.0001, false), "0.0001");
        assert_eq!(pg_float_text(0.00001, false), "1e-05");
        assert_eq!(pg_float_text(f64::NAN, false), "NaN");
        assert_eq!(pg_float_text(f64::NEG_INFINITY, false), "-Infinity");
        assert_eq!(pg_float_text(1e6, true), "1e+06");
        assert_eq!(pg_float_text(100000.0, true), "100000");
        assert_eq!(pg_float_text(0.1f32 as f64, true), "0.1");
    }
}
