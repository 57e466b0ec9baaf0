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
