//! Arrow results → PostgreSQL row descriptions and data rows (via arrow-pg).

use std::sync::Arc;

use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use crate::format::Zone;
pub use crate::format::{pg_float_text, pg_time_text, pg_timestamp_text};
use crate::types::PG_TYPE_KEY;

/// Row description for a schema in the given formats.
pub fn fields(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    let mut out = arrow_schema_to_pg_fields(schema, format, None)?;
    for (i, f) in schema.fields().iter().enumerate() {
        let visible = crate::sql::rewrite::columns::visible(f.name());
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

        if let Some(ty) = declared_type(f) {
            let old = &out[i];
            out[i] = FieldInfo::new(old.name().to_string(), None, None, ty, old.format());
        }
    }
    Ok(out)
}

/// The PostgreSQL type a field's metadata declares where its Arrow type
/// alone would tell another (varchar, jsonb, uuid, vector, a catalog oid).
pub fn declared_type(f: &Field) -> Option<Type> {
    let t = f.metadata().get(PG_TYPE_KEY)?;
    Some(match t.as_str() {
        "varchar" => Type::VARCHAR,
        "bpchar" => Type::BPCHAR,
        "json" => Type::JSON,
        "jsonb" => Type::JSONB,
        "uuid" => Type::UUID,
        // Catalog columns; a cast of one keeps the metadata but not the
        // Arrow type, and is then its cast's type.
        "oid" if *f.data_type() == DataType::Int64 => Type::OID,
        "char" if *f.data_type() == DataType::Utf8 => Type::CHAR,
        other => crate::types::vector_pg_type(other)?,
    })
}

/// The batch's rows on the wire; an error ends them (arrow-pg's encoder
/// keeps yielding the same error for a column it cannot encode, which
/// collected would grow without end).
pub fn rows(
    fields: Arc<Vec<FieldInfo>>,
    batch: RecordBatch,
) -> impl Iterator<Item = PgWireResult<DataRow>> {
    let batch = wire_forms(batch, &fields);
    // Float arrays in text format are already PostgreSQL's text
    // (`text_form`): encoded as text, not quoted again as an element.
    let float_arrays = |fi: &FieldInfo| {
        fi.format() == pgwire::api::results::FieldFormat::Text
            && matches!(*fi.datatype(), Type::FLOAT4_ARRAY | Type::FLOAT8_ARRAY)
    };
    let fields = if fields.iter().any(float_arrays) {
        Arc::new(
            fields
                .iter()
                .map(|fi| {
                    if float_arrays(fi) {
                        FieldInfo::new(fi.name().to_string(), None, None, Type::TEXT, fi.format())
                    } else {
                        fi.clone()
                    }
                })
                .collect(),
        )
    } else {
        fields
    };
    let mut failed = false;
    encode_recordbatch(fields, batch).map_while(move |r| {
        if failed {
            return None;
        }
        failed = r.is_err();
        Some(r)
    })
}

/// Columns whose wire form is not what arrow-pg writes from the Arrow array:
/// in text format PostgreSQL's text for floats, timestamps and times; in
/// binary format uuid as 16 bytes and jsonb as version byte 1 + text (both are
/// stored as text). The row description keeps the columns' own types.
pub fn wire_forms(batch: RecordBatch, fields: &[FieldInfo]) -> RecordBatch {
    use datafusion::arrow::datatypes::Field;
    let schema = batch.schema();
    let mut changed = false;
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut out_fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    for (i, col) in batch.columns().iter().enumerate() {
        match fields.get(i).and_then(|fi| wire_form(col, fi)) {
            Some(a) => {
                changed = true;
                out_fields.push(Field::new(
                    schema.field(i).name(),
                    a.data_type().clone(),
                    true,
                ));
                cols.push(a);
            }
            None => {
                out_fields.push(schema.field(i).clone());
                cols.push(col.clone());
            }
        }
    }
    if !changed {
        return batch;
    }
    RecordBatch::try_new(Arc::new(Schema::new(out_fields)), cols).unwrap_or(batch)
}

fn wire_form(col: &ArrayRef, fi: &FieldInfo) -> Option<ArrayRef> {
    use pgwire::api::results::FieldFormat;
    if let Some(kind) = crate::types::vector_kind_of_pg_type(fi.datatype()) {
        use crate::types::vector_arrow;
        return match fi.format() {
            FieldFormat::Text => vector_arrow::text_array(kind, col)
                .ok()
                .map(|a| Arc::new(a) as ArrayRef),
            FieldFormat::Binary => vector_arrow::send_array(kind, col)
                .ok()
                .map(|a| Arc::new(a) as ArrayRef),
        };
    }
    match fi.format() {
        FieldFormat::Text => text_form(col).map(|a| Arc::new(a) as ArrayRef),
        FieldFormat::Binary => binary_form(col, fi.datatype()).map(|a| Arc::new(a) as ArrayRef),
    }
}

fn text_form(col: &ArrayRef) -> Option<StringArray> {
    use datafusion::arrow::array::{
        Float32Array, Float64Array, Time64MicrosecondArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::{DataType, TimeUnit};
    match col.data_type() {
        DataType::Float64 => {
            let a = col.as_any().downcast_ref::<Float64Array>()?;
            Some(
                a.iter()
                    .map(|v| v.map(|v| pg_float_text(v, false)))
                    .collect(),
            )
        }
        DataType::Float32 => {
            let a = col.as_any().downcast_ref::<Float32Array>()?;
            Some(
                a.iter()
                    .map(|v| v.map(|v| pg_float_text(v as f64, true)))
                    .collect(),
            )
        }
        DataType::Timestamp(_, tz) => {
            let us = cast(col, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone())).ok()?;
            let a = us.as_any().downcast_ref::<TimestampMicrosecondArray>()?;
            let zone = tz.as_deref().map(Zone::parse);
            Some(
                a.iter()
                    .map(|v| v.map(|v| pg_timestamp_text(v, zone.map(|z| z.offset_at(v)))))
                    .collect(),
            )
        }
        // An unconstrained numeric, trimmed (`crate::format::pg_numeric_text`).
        DataType::Decimal128(38, s) if *s == crate::types::NUMERIC_DEFAULT_SCALE => {
            use datafusion::arrow::array::AsArray;
            let a = col.as_primitive_opt::<datafusion::arrow::datatypes::Decimal128Type>()?;
            Some(
                a.iter()
                    .map(|v| v.map(|v| crate::format::pg_numeric_text(v, *s, true)))
                    .collect(),
            )
        }
        DataType::Time64(_) => {
            let us = cast(col, &DataType::Time64(TimeUnit::Microsecond)).ok()?;
            let a = us.as_any().downcast_ref::<Time64MicrosecondArray>()?;
            Some(a.iter().map(|v| v.map(pg_time_text)).collect())
        }
        // real[] and double precision[]: PostgreSQL's array text with
        // its float forms (`{1,2.5,NULL}`, not `{1.0,2.5,NULL}`).
        DataType::List(f) if matches!(f.data_type(), DataType::Float32 | DataType::Float64) => {
            use datafusion::arrow::array::{Array, AsArray};
            let list = col.as_list_opt::<i32>()?;
            let single = matches!(f.data_type(), DataType::Float32);
            Some(
                (0..list.len())
                    .map(|i| {
                        if list.is_null(i) {
                            return None;
                        }
                        let vals = cast(&list.value(i), &DataType::Float64).ok()?;
                        let vals = vals.as_any().downcast_ref::<Float64Array>()?;
                        let parts: Vec<String> = vals
                            .iter()
                            .map(|v| v.map_or("NULL".into(), |v| pg_float_text(v, single)))
                            .collect();
                        Some(format!("{{{}}}", parts.join(",")))
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

fn binary_form(col: &ArrayRef, ty: &Type) -> Option<BinaryArray> {
    use datafusion::arrow::array::Int64Array;
    // oid: 4 bytes (held as int64); "char": its one byte (held as text).
    if *ty == Type::OID {
        let ints = col.as_any().downcast_ref::<Int64Array>()?;
        return Some(
            ints.iter()
                .map(|v| v.map(|v| (v as u32).to_be_bytes().to_vec()))
                .collect(),
        );
    }
    if *ty == Type::CHAR {
        let strings = col.as_any().downcast_ref::<StringArray>()?;
        return Some(
            strings
                .iter()
                .map(|v| v.map(|s| s.as_bytes().iter().take(1).copied().collect::<Vec<u8>>()))
                .collect(),
        );
    }
    let uuid = *ty == Type::UUID;
    if !uuid && *ty != Type::JSONB {
        return None;
    }
    let strings = col.as_any().downcast_ref::<StringArray>()?;
    Some(
        strings
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
            .collect(),
    )
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

    #[test]
    fn timestamps_print_as_postgresql_does() {
        use super::{pg_time_text, pg_timestamp_text};
        let t = 1_709_208_001_000_000i64; // 2024-02-29 12:00:01 UTC
        assert_eq!(pg_timestamp_text(t, None), "2024-02-29 12:00:01");
        assert_eq!(
            pg_timestamp_text(t + 500_000, None),
            "2024-02-29 12:00:01.5"
        );
        assert_eq!(pg_timestamp_text(t, Some(0)), "2024-02-29 12:00:01+00");
        assert_eq!(
            pg_timestamp_text(t, Some(19_800)),
            "2024-02-29 17:30:01+05:30"
        );
        assert_eq!(pg_timestamp_text(-1, None), "1969-12-31 23:59:59.999999");
        assert_eq!(pg_time_text(45_296_000_016), "12:34:56.000016");
    }
}
