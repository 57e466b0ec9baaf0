//! Approximate nearest-neighbour search: HNSW graphs (built by hnsw_rs,
//! then kept in a compact form of our own that later writes grow), IVFFlat
//! lists, 8-bit walk codes, the distances graphs order by, and the map
//! from row keys to graph ids.
//!
//! This module knows points and ids, not rows, tables, SQL, DataFusion or
//! RocksDB: it depends only on `vector` (distance kernels, value types), so
//! it could become a crate of its own. The per-shard lifecycle of an index
//! (build from rows, maintain on apply, checkpoints) is `vindex`.

mod codes;
pub mod distance;
pub mod graph;
pub mod hnsw;
pub mod id_map;
pub mod ivf;
pub mod point;
#[cfg(test)]
mod tests;
mod visited;

pub use distance::{BitDist, DenseDist, HalfDist, SparseDist};
pub use graph::{CompactGraph, Graph, GraphSpec, Method, Scan, Storage};
pub use id_map::IdMap;
pub use point::{Point, bits_words, sparse_of};
