//! The cluster layer: Raft groups on this node, the network between nodes,
//! placement of keys on groups and the router that sends work to them.

pub mod error;
pub mod group;
pub mod network;
pub mod node;
pub mod placement;

pub use error::ShardError;
pub use group::Group;
pub use node::{META_GROUP, Node};
