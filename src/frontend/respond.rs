//! A statement's output as pgwire responses: rows, command tags, COPY.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, QueryResponse, Response, Tag,
};

use super::encode;
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

use super::session::*;
use crate::error::PgError;
use crate::sql::copy::CopyState;
use crate::sql::session::Session;
use crate::sql::{Engine, Output};

pub(super) async fn run_statement(
    engine: &Engine,
    slot: &SessionSlot,
    session: &mut Session,
    stmt: Statement,
    format: &Format,
) -> Result<Response, PgError> {
    let out = engine.execute(session, stmt).await?;
    Ok(match out {
        Output::Stream {
            schema,
            stream,
            tag,
        } => {
            // Run the query to completion here, so that cancel and
            // statement_timeout cover it and errors arrive before any row.
            let batches: Vec<RecordBatch> = stream
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .map_err(crate::sql::errors::df_error)?;
            query_response(&schema, batches, &tag, format)
                .map_err(|e| PgError::internal(e.to_string()))?
        }
        Output::Rows {
            schema,
            batches,
            tag,
        } => query_response(&schema, batches, &tag, format)
            .map_err(|e| PgError::internal(e.to_string()))?,
        Output::Command(tag) => Response::Execution(Tag::new(&tag)),
        Output::TxnStart(tag) => Response::TransactionStart(Tag::new(&tag)),
        Output::TxnEnd(tag) => Response::TransactionEnd(Tag::new(&tag)),
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
            Response::CopyIn(CopyResponse::new(format, n, stream::empty()))
        }
        Output::CopyOut {
            schema,
            batches,
            opts,
        } => copy_out(&schema, batches, &opts).map_err(|e| PgError::internal(e.to_string()))?,
    })
}

pub(super) fn copy_out(
    schema: &Schema,
    batches: Vec<RecordBatch>,
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
    let mut out: Vec<PgWireResult<CopyData>> = Vec::new();
    if opts.header && opts.format == F::Csv {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        out.push(Ok(CopyData::new(bytes::Bytes::from(format!(
            "{}\n",
            names.join(&opts.delimiter.to_string())
        )))));
    }
    for b in &batches {
        let b = encode::wire_forms(b.clone(), &fields);
        let b_schema = b.schema();
        for row in 0..b.num_rows() {
            for col in 0..b.num_columns() {
                arrow_pg::encoder::encode_value(
                    &mut enc,
                    b.column(col),
                    row,
                    b_schema.field(col),
                    &fields[col],
                )?;
            }
            out.push(Ok(enc.take_copy()));
        }
    }
    if binary {
        if batches.iter().all(|b| b.num_rows() == 0) {
            // Header for an empty result.
            let mut h = bytes::BytesMut::new();
            h.extend_from_slice(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
            out.push(Ok(CopyData::new(h.freeze())));
        }
        // pgwire's CopyResponse appends the trailer itself.
    }
    let cols = schema.fields().len();
    Ok(Response::CopyOut(CopyResponse::new(
        if binary { 1 } else { 0 },
        cols,
        stream::iter(out),
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
