//! Execution: DataFusion table providers over the shards, the shard scan
//! operator, and the write path (rows → keys → shard commands).

pub mod catalog_provider;
pub mod codec;
pub mod filter_columns;
pub mod hnsw_compact;
pub mod id_map;
pub mod ivf;
pub mod knn;
pub mod pg_catalog;
pub mod provider;
pub mod scan;
pub mod vecarrow;
pub mod vindex;
pub mod write;

pub use provider::GrapeTable;
