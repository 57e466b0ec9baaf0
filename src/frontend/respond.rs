//! A statement's output as pgwire responses: rows, command tags, COPY.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, QueryResponse, Response, Tag,
};
use pgwire::messages::data::DataRow;

use super::encode;
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

use super::errors::pg_err;
use super::session::*;
use crate::catalog::locks::SessionLocks;
use crate::error::{PgError, codes};
use crate::sql::copy::CopyState;
use crate::sql::session::Session;
use crate::sql::{Engine, Output};

/// What running a statement gives the handler: a response to send, or
/// rows still coming from a running plan, to be streamed to the client
/// (bounded memory for any result size) under the handler's [`Tail`].
pub(super) enum Reply {
    Done(Response),
    Rows {
        schema: SchemaRef,
        /// Batches already read (under the handler's watch).
        head: Vec<RecordBatch>,
        rest: SendableRecordBatchStream,
        tag: String,
        format: Format,
    },
    CopyOut {
        schema: SchemaRef,
        first: Option<RecordBatch>,
        rest: SendableRecordBatchStream,
        opts: crate::sql::copy::Options,
    },
}

/// What watches rows streamed after the statement returned: cancel and
/// statement_timeout still stop them (57014), and the statement's table
/// locks are let go only when the last row has gone (or the stream is
/// dropped).
pub(super) struct Tail {
    pub cancel: Option<futures_channel::oneshot::Receiver<()>>,
    pub deadline: Option<tokio::time::Instant>,
    pub locks: Option<Arc<SessionLocks>>,
    /// The session's advisory locks, whose transaction-level ones go with
    /// the statement outside a block.
    pub advisory: Option<Arc<crate::catalog::advisory::SessionAdvisory>>,
}

/// Lets go of a statement's table locks (and transaction-level advisory
/// locks) when dropped.
struct Release(
    Option<Arc<SessionLocks>>,
    Option<Arc<crate::catalog::advisory::SessionAdvisory>>,
);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(l) = &self.0 {
            l.release_all();
        }
        if let Some(a) = &self.1 {
            a.end_transaction();
        }
    }
}

struct Watched {
    rest: SendableRecordBatchStream,
    cancel: Option<futures_channel::oneshot::Receiver<()>>,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    timed: bool,
    _release: Release,
}

/// `head`, then the batches of `rest` while nothing interrupts them.
fn watched(
    head: Vec<RecordBatch>,
    rest: SendableRecordBatchStream,
    tail: Tail,
) -> futures::stream::BoxStream<'static, Result<RecordBatch, PgError>> {
    let st = Watched {
        rest,
        cancel: tail.cancel,
        sleep: Box::pin(tokio::time::sleep_until(tail.deadline.unwrap_or_else(
            || tokio::time::Instant::now() + std::time::Duration::from_secs(86400 * 365),
        ))),
        timed: tail.deadline.is_some(),
        _release: Release(tail.locks, tail.advisory),
    };
    let rest = stream::unfold(Some(st), |st| async move {
        let mut st = st?;
        loop {
            tokio::select! {
                biased;
                r = async { st.cancel.as_mut().expect("guarded").await }, if st.cancel.is_some() => {
                    if r.is_ok() {
                        let e = PgError::new(codes::QUERY_CANCELED, "canceling statement due to user request");
                        return Some((Err(e), None));
                    }
                    st.cancel = None;
                }
                _ = &mut st.sleep, if st.timed => {
                    let e = PgError::new(codes::QUERY_CANCELED, "canceling statement due to statement timeout");
                    return Some((Err(e), None));
                }
                item = st.rest.next() => {
                    return match item {
                        Some(Ok(b)) => Some((Ok(b), Some(st))),
                        Some(Err(e)) => Some((Err(crate::sql::errors::df_error(e)), None)),
                        None => None,
                    };
                }
            }
        }
    });
    stream::iter(head.into_iter().map(Ok)).chain(rest).boxed()
}

impl Reply {
    /// The response to send, its rows watched by `tail`.
    pub(super) fn into_response(self, tail: Tail) -> Result<Response, PgError> {
        match self {
            Reply::Done(r) => Ok(r),
            Reply::Rows {
                schema,
                head,
                rest,
                tag,
                format,
            } => {
                let fields = Arc::new(
                    encode::fields(&schema, &format)
                        .map_err(|e| PgError::internal(e.to_string()))?,
                );
                let f2 = fields.clone();
                let rows = watched(head, rest, tail).flat_map(move |b| {
                    let rows: Vec<PgWireResult<DataRow>> = match b {
                        Ok(b) => encode::rows(f2.clone(), b).collect(),
                        Err(e) => vec![Err(pg_err(e))],
                    };
                    stream::iter(rows)
                });
                let mut resp = QueryResponse::new(fields, rows);
                resp.set_command_tag(&tag);
                Ok(Response::Query(resp))
            }
            Reply::CopyOut {
                schema,
                first,
                rest,
                opts,
            } => copy_out(
                &schema,
                watched(first.into_iter().collect(), rest, tail),
                &opts,
            )
            .map_err(|e| PgError::internal(e.to_string())),
        }
    }
}

/// Run a statement. With `stream`, a query's rows after its first batch
/// are left running for the client to receive (`Reply::Rows`); without
/// (a statement followed by others in one simple query), they are read
/// here.
pub(super) async fn run_statement(
    engine: &Engine,
    slot: &SessionSlot,
    session: &mut Session,
    stmt: Statement,
    format: &Format,
    stream_rows: bool,
) -> Result<Reply, PgError> {
    let out = engine.execute(session, stmt).await?;
    Ok(match out {
        Output::Stream {
            schema,
            mut stream,
            tag,
        } => {
            // The first batches here, so that cancel and statement_timeout
            // cover them and an error in them arrives before any row. A
            // result that ends within two batches (a point query) is
            // answered whole: no watch, its locks let go at once.
            let limit = if stream_rows { 2 } else { usize::MAX };
            let mut head = Vec::new();
            let mut ended = false;
            while head.len() < limit {
                match stream.next().await {
                    Some(b) => head.push(b.map_err(crate::sql::errors::df_error)?),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if ended {
                Reply::Done(
                    query_response(&schema, head, &tag, format)
                        .map_err(|e| PgError::internal(e.to_string()))?,
                )
            } else {
                Reply::Rows {
                    schema,
                    head,
                    rest: stream,
                    tag,
                    format: format.clone(),
                }
            }
        }
        Output::Rows {
            schema,
            batches,
            tag,
        } => Reply::Done(
            query_response(&schema, batches, &tag, format)
                .map_err(|e| PgError::internal(e.to_string()))?,
        ),
        Output::Command(tag) => Reply::Done(Response::Execution(Tag::new(&tag))),
        Output::TxnStart(tag) => Reply::Done(Response::TransactionStart(Tag::new(&tag))),
        Output::TxnEnd(tag) => Reply::Done(Response::TransactionEnd(Tag::new(&tag))),
        Output::CopyIn(c) => {
            let format = if c.opts.format == crate::sql::copy::Format::Binary {
                1
            } else {
                0
            };
            let n = c.column_count();
            *slot.copy_in.lock() = Some(CopyState {
                copy: c,
                failed: None,
            });
            Reply::Done(Response::CopyIn(CopyResponse::new(
                format,
                n,
                stream::empty(),
            )))
        }
        Output::CopyOut {
            schema,
            mut stream,
            opts,
        } => {
            let first = stream
                .next()
                .await
                .transpose()
                .map_err(crate::sql::errors::df_error)?;
            Reply::CopyOut {
                schema,
                first,
                rest: stream,
                opts,
            }
        }
    })
}

pub(super) fn copy_out(
    schema: &Schema,
    batches: futures::stream::BoxStream<'static, Result<RecordBatch, PgError>>,
    opts: &crate::sql::copy::Options,
) -> PgWireResult<Response> {
    use crate::sql::copy::Format as F;
    let binary = opts.format == F::Binary;
    let fmt = if binary {
        Format::UnifiedBinary
    } else {
        Format::UnifiedText
    };
    let fields = Arc::new(encode::fields(schema, &fmt)?);
    let mut enc = match opts.format {
        F::Binary => CopyEncoder::new_binary(fields.clone()),
        F::Text => CopyEncoder::new_text(
            fields.clone(),
            CopyTextOptions {
                delimiter: opts.delimiter.to_string().into(),
                null_string: opts.null.clone().into(),
            },
        ),
        F::Csv => CopyEncoder::new_csv(
            fields.clone(),
            CopyCsvOptions {
                delimiter: opts.delimiter.to_string().into(),
                quote: opts.quote.to_string().into(),
                escape: opts.escape.to_string().into(),
                null_string: opts.null.clone().into(),
                force_quote: vec![],
            },
        ),
    };
    let mut head: Vec<PgWireResult<CopyData>> = Vec::new();
    if opts.header && opts.format == F::Csv {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        head.push(Ok(CopyData::new(bytes::Bytes::from(format!(
            "{}\n",
            names.join(&opts.delimiter.to_string())
        )))));
    }
    let any_row = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = any_row.clone();
    let f2 = fields.clone();
    // Rows are encoded batch by batch as the client takes them.
    let rows = batches.flat_map(move |b| {
        let mut out: Vec<PgWireResult<CopyData>> = Vec::new();
        match b {
            Err(e) => out.push(Err(pg_err(e))),
            Ok(b) => {
                let b = encode::wire_forms(b, &f2);
                let b_schema = b.schema();
                for row in 0..b.num_rows() {
                    for col in 0..b.num_columns() {
                        if let Err(e) = arrow_pg::encoder::encode_value(
                            &mut enc,
                            b.column(col),
                            row,
                            b_schema.field(col),
                            &f2[col],
                        ) {
                            out.push(Err(e));
                            return stream::iter(out);
                        }
                    }
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                    out.push(Ok(enc.take_copy()));
                }
            }
        }
        stream::iter(out)
    });
    // Binary: the header comes with the first row; an empty result gets it
    // alone (pgwire's CopyResponse appends the trailer itself).
    let empty_header = stream::once(async move {
        if binary && !any_row.load(std::sync::atomic::Ordering::Relaxed) {
            let mut h = bytes::BytesMut::new();
            h.extend_from_slice(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
            vec![Ok(CopyData::new(h.freeze()))]
        } else {
            vec![]
        }
    })
    .flat_map(stream::iter);
    let cols = schema.fields().len();
    Ok(Response::CopyOut(CopyResponse::new(
        if binary { 1 } else { 0 },
        cols,
        stream::iter(head).chain(rows).chain(empty_header),
    )))
}

pub(super) fn query_response(
    schema: &Schema,
    batches: Vec<RecordBatch>,
    tag: &str,
    format: &Format,
) -> PgWireResult<Response> {
    let fields = Arc::new(encode::fields(schema, format)?);
    let f2 = fields.clone();
    let rows = stream::iter(
        batches
            .into_iter()
            .flat_map(move |b| encode::rows(f2.clone(), b).collect::<Vec<_>>()),
    );
    let mut resp = QueryResponse::new(fields, rows);
    resp.set_command_tag(tag);
    Ok(Response::Query(resp))
}
