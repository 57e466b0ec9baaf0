//! GrapeDB: a distributed SQL vector database that speaks the PostgreSQL wire
//! protocol. Layers, top to bottom (each depends only on those below it):
//! `frontend` → `sql` → `exec` → `catalog` → `cluster` → `shard`.

pub mod ann;
pub mod catalog;
pub mod cluster;
pub mod dataplane;
pub mod encoding;
pub mod error;
pub mod exec;
pub mod failpoint;
pub mod format;
pub mod frontend;
pub mod hlc;
pub mod pg_catalog;
pub mod server;
pub mod shard;
pub mod sql;
pub mod types;
pub mod vector;
pub mod vindex;
