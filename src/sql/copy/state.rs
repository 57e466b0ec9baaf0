//! A COPY in progress: what the frontend holds between CopyData messages.

use std::sync::Arc;

use super::options::Options;
use crate::catalog::Table;
use crate::error::PgError;
use crate::types::Datum;

/// A COPY FROM STDIN in progress on a connection, as the frontend keeps it.
pub struct CopyState {
    pub copy: Box<CopyIn>,
    /// The first error; later data is discarded and the error is reported at CopyDone.
    pub failed: Option<PgError>,
}

/// A COPY FROM STDIN in progress.
pub struct CopyIn {
    pub table: Arc<Table>,
    /// Positions in the table of the columns the data supplies, in order.
    pub(super) cols: Vec<usize>,
    pub opts: Options,
    pub(super) buf: Vec<u8>,
    pub(super) line: u64,
    pub(super) header_pending: bool,
    pub(super) binary_header_done: bool,
    pub(super) ended: bool,
    pub(super) pending: Vec<(u64, Vec<Datum>)>,
    /// Outside a transaction block: the COPY's own transaction, begun
    /// with its first batch and committed when all data has arrived.
    pub(super) txn: Option<crate::dataplane::Txn>,
    pub count: u64,
}

/// Start a COPY: returns the table side for COPY FROM, or the query text for COPY TO.
pub enum CopyStart {
    In(Box<CopyIn>),
    Out { sql: String, opts: Options },
}
