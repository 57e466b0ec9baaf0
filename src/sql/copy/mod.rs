//! COPY ... FROM STDIN and COPY ... TO STDOUT in text, csv and binary formats.
//!
//! COPY FROM is streamed: data is parsed as it arrives and written in batches,
//! so a large load is never held in memory. A bad row fails the COPY with its
//! line number, and the batches already written are deleted again (outside a
//! transaction block; inside one, the failure aborts the block), so nothing of
//! a failed COPY stays.

mod load;
mod options;
mod state;

pub use load::start;
pub use options::{Format, Options};
pub use state::{CopyIn, CopyStart, CopyState};
