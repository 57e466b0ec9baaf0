//! The SQL layer: a statement's text is parsed (`parse`), rewritten and
//! planned by DataFusion in the session's context (`engine`, `context`), and
//! run (`execute`: queries, DML, DDL, COPY, transactions, settings).
//!
//! Inside, files depend downwards only (scripts/check_layers.py checks it):
//! `execute` → `query`, `dml`, `ddl`, `vector_index`, `copy`, `knn_direct`
//! → `output`, `engine` → `context`, `session`, `knn`, `params`, `settings`,
//! `rewrite`, `vector`, `errors`, `parse`.

pub mod activity;
pub mod arithmetic;
pub mod array_compare;
pub mod context;
pub mod copy;
pub mod cursors;
pub mod ddl;
pub mod dml;
pub mod engine;
mod enums;
pub mod errors;
pub mod execute;
mod identifiers;
mod json;
pub mod knn;
pub mod knn_direct;
mod lateral;
mod literals;
mod locking;
pub mod notify;
pub mod output;
mod owner;
pub mod params;
pub mod parse;
pub mod pg_datetime;
pub mod pg_functions;
mod pg_library;
pub mod prepare;
mod query;
pub mod rewrite;
pub mod sequences;
pub mod session;
pub mod settings;
mod text_casts;
pub mod timestamps;
pub mod txn;
pub mod vector;
pub mod xid;

pub use engine::Engine;
pub use output::Output;
pub use parse::{object_parts, parse};
