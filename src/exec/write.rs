//! The write path: row changes become per-shard Raft commands.
//!
//! A statement's changes to one shard are one atomic command (in chunks for
//! large statements). Each change carries a precondition on the row's current
//! value, so concurrent writers never overwrite each other silently. When a
//! statement spans shards and a later shard refuses, the shards already
//! written are rolled back with compensating commands, so a failed statement
//! leaves nothing behind.

use std::collections::BTreeMap;

use crate::cluster::Node;
use crate::error::PgError;
use crate::shard::{Command, CommandResult, GroupId, Op};

/// Changes per Raft entry.
const CHUNK: usize = 2000;

#[derive(Debug, Clone)]
pub struct RowWrite {
    pub key: Vec<u8>,
    /// What the row must currently be (None = absent).
    pub expect: Option<Vec<u8>>,
    /// New value (None = delete).
    pub new: Option<Vec<u8>>,
}

/// A precondition failed: `key` did not hold what was expected.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub key: Vec<u8>,
    pub expected: Option<Vec<u8>>,
    pub actual: Option<Vec<u8>>,
}

pub enum WriteError {
    Conflict(Conflict),
    Failed(PgError),
}

impl From<PgError> for WriteError {
    fn from(e: PgError) -> Self {
        WriteError::Failed(e)
    }
}

fn command_for(writes: &[RowWrite]) -> Command {
    let mut ops = Vec::with_capacity(writes.len() * 2);
    for w in writes {
        ops.push(Op::Check {
            key: w.key.clone(),
            expect: w.expect.clone(),
        });
    }
    for w in writes {
        ops.push(match &w.new {
            Some(v) => Op::Put {
                key: w.key.clone(),
                value: v.clone(),
            },
            None => Op::Delete { key: w.key.clone() },
        });
    }
    Command { ops }
}

/// Apply all writes, or none of them.
pub async fn apply_writes(node: &Node, writes: Vec<RowWrite>) -> Result<usize, WriteError> {
    let n = writes.len();
    let mut by_group: BTreeMap<GroupId, Vec<RowWrite>> = BTreeMap::new();
    for w in writes {
        by_group.entry(node.route(&w.key).id).or_default().push(w);
    }
    let mut applied: Vec<(GroupId, Vec<RowWrite>)> = Vec::new();
    for (gid, ws) in by_group {
        for chunk in ws.chunks(CHUNK) {
            let group = node.group(gid)?;
            let res = group.propose(command_for(chunk)).await;
            match res {
                Ok(CommandResult::Applied { .. }) => applied.push((gid, chunk.to_vec())),
                Ok(CommandResult::CheckFailed { op_index, actual }) => {
                    let w = &chunk[op_index];
                    let conflict = Conflict {
                        key: w.key.clone(),
                        expected: w.expect.clone(),
                        actual,
                    };
                    undo(node, applied).await;
                    return Err(WriteError::Conflict(conflict));
                }
                Ok(CommandResult::None) => {
                    undo(node, applied).await;
                    return Err(WriteError::Failed(PgError::internal(
                        "write produced no result",
                    )));
                }
                Err(e) => {
                    undo(node, applied).await;
                    return Err(WriteError::Failed(e));
                }
            }
        }
    }
    Ok(n)
}

/// Roll back writes already applied, newest first. Each undo only applies if
/// the row still holds what this statement wrote.
async fn undo(node: &Node, applied: Vec<(GroupId, Vec<RowWrite>)>) {
    for (gid, ws) in applied.into_iter().rev() {
        let inverse: Vec<RowWrite> = ws
            .into_iter()
            .map(|w| RowWrite {
                key: w.key,
                expect: w.new,
                new: w.expect,
            })
            .collect();
        if let Ok(group) = node.group(gid) {
            if let Err(e) = group.propose(command_for(&inverse)).await {
                tracing::error!("could not roll back a failed statement on shard {gid}: {e}");
            }
        }
    }
}
