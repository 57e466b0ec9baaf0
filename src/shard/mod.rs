//! The shard layer: what one Raft group stores and how it applies its log.
//!
//! Every group (the meta group and each data group) has the same state
//! machine: an ordered key-value map in the node's RocksDB, changed only by
//! applying [`Command`]s from the group's Raft log. Keys and values are opaque
//! bytes here; the layers above decide what they mean (catalog, rows).

pub mod command;
pub mod log_store;
pub mod mvcc;
pub mod snapshot;
pub mod state_machine;
pub mod store;
pub mod txn;

pub use command::{Command, CommandResult, Op, ResolveScope, TxnId, TxnStatus};

/// One applied change to a group's user keys, as an [`ApplyObserver`] sees it.
#[derive(Debug, Clone)]
pub enum Change {
    /// The key now holds this value (insert or update).
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Every key under this prefix was deleted.
    DeletePrefix(Vec<u8>),
}

/// Told of every change a group applies, after it is written, with the log
/// index it reached. Derived state (vector indexes) follows the rows this way
/// whichever path wrote them.
pub trait ApplyObserver: Send + Sync {
    fn applied(&self, group: GroupId, changes: &[Change], log_index: u64);
    /// The group's whole state was replaced (a Raft snapshot installed,
    /// at `log_index`): what was derived from its rows is to be rebuilt.
    fn replaced(self: std::sync::Arc<Self>, group: GroupId, log_index: u64);
}
pub use store::Store;

/// Identifier of a Raft group on this node (0 is the meta group).
pub type GroupId = u32;

openraft::declare_raft_types!(
    /// Raft types shared by the meta group and every data group.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type StorageError = openraft::StorageError<NodeId>;

pub(crate) fn io_err(
    e: impl std::fmt::Display,
    what: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
) -> StorageError {
    openraft::StorageIOError::new(what, verb, openraft::AnyError::error(e.to_string())).into()
}
