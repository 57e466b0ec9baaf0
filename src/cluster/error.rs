//! What a read or a replicated write of a shard can come to, told apart so
//! that callers (and later the router) retry what is safe to retry. Each is
//! converted to the PostgreSQL error a client sees here, in one place.

use crate::error::{PgError, codes};
use crate::shard::{GroupId, NodeId};

/// A replicated write (or a read of a shard's storage) that did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShardError {
    /// This node does not lead the shard's Raft group; `leader` is the node
    /// that does, when known. Nothing was written: safe to retry there.
    #[error("shard {shard} is not led by this node (leader: {})", leader_text(*leader))]
    NotLeader {
        shard: GroupId,
        leader: Option<NodeId>,
    },
    /// No answer in time: the write may or may not have been applied.
    #[error("write to shard {shard} timed out after {secs} s; it may or may not have been applied")]
    Timeout { shard: GroupId, secs: u64 },
    /// The shard's storage failed (its log, state machine or RocksDB).
    #[error("storage error on shard {shard}: {detail}")]
    Storage { shard: GroupId, detail: String },
    /// The shard no longer owns the key: the caller routed by an older
    /// shard map (`epoch` is the shard's). Nothing was written.
    #[error("shard {shard} does not own the key at shard map epoch {epoch}")]
    Moved { shard: GroupId, epoch: u64 },
    /// The shard's group is shutting down or has stopped.
    #[error("shard {shard} is shutting down")]
    ShuttingDown { shard: GroupId },
}

fn leader_text(leader: Option<NodeId>) -> String {
    leader.map_or_else(|| "unknown".to_string(), |l| format!("node {l}"))
}

impl ShardError {
    /// Whether the same request may be sent again (nothing was applied).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ShardError::NotLeader { .. } | ShardError::Moved { .. }
        )
    }
}

impl From<ShardError> for PgError {
    fn from(e: ShardError) -> PgError {
        let code = match &e {
            // Retryable: what drivers and ORMs retry on.
            ShardError::NotLeader { .. } | ShardError::Moved { .. } => codes::SERIALIZATION_FAILURE,
            // PostgreSQL's statement_completion_unknown (as CockroachDB sends
            // for an ambiguous commit).
            ShardError::Timeout { .. } => codes::STATEMENT_COMPLETION_UNKNOWN,
            ShardError::Storage { .. } => codes::IO_ERROR,
            ShardError::ShuttingDown { .. } => codes::ADMIN_SHUTDOWN,
        };
        PgError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_the_sqlstate_a_client_can_act_on() {
        let cases = [
            (
                ShardError::NotLeader {
                    shard: 2,
                    leader: Some(3),
                },
                "40001",
                true,
            ),
            (ShardError::Moved { shard: 2, epoch: 7 }, "40001", true),
            (ShardError::Timeout { shard: 2, secs: 60 }, "40003", false),
            (
                ShardError::Storage {
                    shard: 2,
                    detail: "disk".into(),
                },
                "58030",
                false,
            ),
            (ShardError::ShuttingDown { shard: 2 }, "57P01", false),
        ];
        for (e, code, retry) in cases {
            assert_eq!(e.retryable(), retry, "{e}");
            let pg: PgError = e.clone().into();
            assert_eq!(pg.code, code, "{e}");
            assert!(pg.message.contains("shard 2"), "{}", pg.message);
        }
        let e = ShardError::NotLeader {
            shard: 1,
            leader: None,
        };
        assert!(e.to_string().contains("leader: unknown"));
    }
}
