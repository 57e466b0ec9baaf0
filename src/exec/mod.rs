//! Execution: DataFusion table providers over the shards, the shard scan
//! operator, and the write path (rows → keys → shard commands).

pub mod catalog_provider;
pub mod knn;
pub mod provider;
pub mod scan;

pub use provider::GrapeTable;
