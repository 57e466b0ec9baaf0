//! What a statement produced, for the frontend to send.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;

use super::copy::{CopyIn, Options};

/// What a statement produced, for the frontend to send.
pub enum Output {
    /// Rows streamed from a running plan; the tag is "SELECT" (row count appended).
    Stream {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        tag: String,
    },
    /// Rows already materialised (RETURNING, SHOW, EXPLAIN); tag gets the row count appended.
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        tag: String,
    },
    /// A complete command tag ("CREATE TABLE", "INSERT 0 3").
    Command(String),
    TxnStart(String),
    TxnEnd(String),
    /// COPY FROM STDIN started: the frontend feeds it the data.
    CopyIn(Box<CopyIn>),
    /// COPY TO STDOUT: the rows of a query, streamed, in `opts`' format.
    CopyOut {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
        opts: Options,
    },
}

/// timestamptz results are shown in the session's time zone (PostgreSQL's
/// TimeZone): their instants relabelled with it, batch by batch (stored
/// timestamptz columns carry UTC). Rows of queries, RETURNING and the
/// direct KNN path alike.
pub fn in_session_zone(out: Output, zone: Option<String>) -> Output {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::StreamExt;
    let Some(zone) = zone else {
        return out;
    };
    let zone: Arc<str> = zone.into();
    let relabel = |dt: &DataType| match dt {
        DataType::Timestamp(u, Some(z)) if *z != zone => {
            Some(DataType::Timestamp(*u, Some(zone.clone())))
        }
        _ => None,
    };
    let schema = match &out {
        Output::Stream { schema, .. } | Output::Rows { schema, .. } => schema.clone(),
        _ => return out,
    };
    if !schema
        .fields()
        .iter()
        .any(|f| relabel(f.data_type()).is_some())
    {
        return out;
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| match relabel(f.data_type()) {
            Some(dt) => Arc::new(f.as_ref().clone().with_data_type(dt)),
            None => f.clone(),
        })
        .collect();
    let to: SchemaRef = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    // Between zones a timestamp cast keeps the instant: only the label changes.
    let convert = {
        let to = to.clone();
        move |b: RecordBatch| -> datafusion::error::Result<RecordBatch> {
            let cols = b
                .columns()
                .iter()
                .zip(to.fields())
                .map(|(c, f)| match c.data_type() == f.data_type() {
                    true => Ok(c.clone()),
                    false => datafusion::arrow::compute::cast(c, f.data_type()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(to.clone(), cols)?)
        }
    };
    match out {
        Output::Stream { stream, tag, .. } => {
            let stream = stream.map(move |b| b.and_then(&convert));
            Output::Stream {
                schema: to.clone(),
                stream: Box::pin(RecordBatchStreamAdapter::new(to, stream)),
                tag,
            }
        }
        Output::Rows { batches, tag, .. } => match batches
            .iter()
            .cloned()
            .map(&convert)
            .collect::<datafusion::error::Result<Vec<_>>>()
        {
            Ok(converted) => Output::Rows {
                schema: to,
                batches: converted,
                tag,
            },
            // Not expected for a relabel; the rows stay as they were (UTC).
            Err(_) => Output::Rows {
                schema,
                batches,
                tag,
            },
        },
        other => other,
    }
}
