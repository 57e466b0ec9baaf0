//! The write path: row changes become per-shard Raft commands.
//!
//! A statement's changes to one shard are one atomic command (in chunks for
//! large statements). Each change carries a precondition on the row's current
//! value, so concurrent writers never overwrite each other silently. When a
//! statement spans shards and a later shard refuses, the shards already
//! written are rolled back with compensating commands, so a failed statement
//! leaves nothing behind.

use std::collections::BTreeMap;

use crate::dataplane::{ShardAccess, ShardError, ShardId};
use crate::error::PgError;
use crate::hlc::Timestamp;
use crate::shard::{Command, CommandResult, Op};

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

/// The command that checks and writes `writes`, committing at `ts`.
fn command_for(writes: &[RowWrite], ts: Timestamp) -> Command {
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
    let mut cmd = Command::new(ops);
    cmd.ts = ts;
    cmd
}

/// Add `w` to the writes `buf` already holds, in order: a second write of a
/// key must expect what the first one wrote (two rows of one statement
/// moved onto the same key are a conflict, not a silent overwrite).
pub fn merge_write(buf: &mut BTreeMap<Vec<u8>, RowWrite>, w: RowWrite) -> Result<(), Conflict> {
    match buf.get_mut(&w.key) {
        Some(existing) => {
            if existing.new != w.expect {
                return Err(Conflict {
                    key: w.key,
                    expected: w.expect,
                    actual: existing.new.clone(),
                });
            }
            existing.new = w.new;
        }
        None => {
            buf.insert(w.key.clone(), w);
        }
    }
    Ok(())
}

/// Apply all writes, or none of them. Writes of the same key compose in
/// order (see [`merge_write`]).
pub async fn apply_writes(
    data: &dyn ShardAccess,
    writes: Vec<RowWrite>,
) -> Result<usize, WriteError> {
    let n = writes.len();
    let epoch = data.epoch();
    // One commit timestamp for every shard, held until the statement is
    // wholly applied or undone: a snapshot sees all of it or none of it.
    let commit = data.begin_write();
    let ts = commit.ts;
    let mut merged: BTreeMap<Vec<u8>, RowWrite> = BTreeMap::new();
    for w in writes {
        merge_write(&mut merged, w).map_err(WriteError::Conflict)?;
    }
    let mut by_shard: BTreeMap<ShardId, Vec<RowWrite>> = BTreeMap::new();
    for (_, w) in merged {
        by_shard.entry(data.shard_of(&w.key)).or_default().push(w);
    }
    let mut applied: Vec<(ShardId, Vec<RowWrite>)> = Vec::new();
    for (shard, ws) in by_shard {
        for chunk in ws.chunks(CHUNK) {
            let res = data.propose(shard, epoch, command_for(chunk, ts)).await;
            match res {
                Ok(CommandResult::Applied { .. }) => applied.push((shard, chunk.to_vec())),
                Ok(CommandResult::CheckFailed { op_index, actual }) => {
                    let w = &chunk[op_index];
                    let conflict = Conflict {
                        key: w.key.clone(),
                        expected: w.expect.clone(),
                        actual,
                    };
                    undo(data, applied, ts).await;
                    return Err(WriteError::Conflict(conflict));
                }
                Ok(CommandResult::None | CommandResult::Collected { .. }) => {
                    undo(data, applied, ts).await;
                    return Err(WriteError::Failed(PgError::internal(
                        "write produced no result",
                    )));
                }
                Err(e) => {
                    // A chunk that timed out may still apply: undo it too
                    // (queued after it in the shard's log; an undo only
                    // applies where the row holds what this chunk wrote).
                    if matches!(e, ShardError::Timeout { .. }) {
                        applied.push((shard, chunk.to_vec()));
                    }
                    undo(data, applied, ts).await;
                    return Err(WriteError::Failed(e.into()));
                }
            }
        }
    }
    Ok(n)
}

/// Roll back writes already applied, newest first. Each undo only applies if
/// the row still holds what this statement wrote. It writes at the
/// statement's own timestamp `ts`, replacing the versions the statement
/// wrote, so no snapshot ever sees them.
async fn undo(data: &dyn ShardAccess, applied: Vec<(ShardId, Vec<RowWrite>)>, ts: Timestamp) {
    let epoch = data.epoch();
    for (shard, ws) in applied.into_iter().rev() {
        let inverse: Vec<RowWrite> = ws
            .into_iter()
            .map(|w| RowWrite {
                key: w.key,
                expect: w.new,
                new: w.expect,
            })
            .collect();
        if let Err(e) = data.propose(shard, epoch, command_for(&inverse, ts)).await {
            tracing::error!("could not roll back a failed statement on shard {shard}: {e}");
        }
    }
}

/// Apply `ops` on every shard (DeletePrefix of a dropped table or index:
/// its keys are on all of them).
pub async fn on_every_shard(data: &dyn ShardAccess, ops: Vec<Op>) -> Result<(), PgError> {
    let epoch = data.epoch();
    for shard in data.shards() {
        data.propose(shard, epoch, Command::new(ops.clone()))
            .await?;
    }
    Ok(())
}

/// Delete `keys` wherever they live, without preconditions, in commands
/// of up to `chunk` deletes; failures are logged, not returned (this
/// cleans up after a statement that already failed).
pub async fn delete_keys(data: &dyn ShardAccess, keys: Vec<Vec<u8>>, chunk: usize) {
    let epoch = data.epoch();
    let mut by_shard: BTreeMap<ShardId, Vec<Vec<u8>>> = BTreeMap::new();
    for k in keys {
        by_shard.entry(data.shard_of(&k)).or_default().push(k);
    }
    for (shard, keys) in by_shard {
        for part in keys.chunks(chunk.max(1)) {
            let ops = part.iter().map(|k| Op::Delete { key: k.clone() }).collect();
            if let Err(e) = data.propose(shard, epoch, Command::new(ops)).await {
                tracing::error!("could not remove rows on shard {shard}: {e}");
            }
        }
    }
}

/// Call `each` with every (key, value) in `[start, end)` on every shard,
/// read a batch at a time.
pub fn for_each_kv(
    data: &dyn ShardAccess,
    start: &[u8],
    end: &[u8],
    mut each: impl FnMut(Vec<u8>, Vec<u8>) -> Result<(), PgError>,
) -> Result<(), PgError> {
    const BATCH: usize = 4096;
    for shard in data.shards() {
        let mut from = start.to_vec();
        loop {
            let kvs = data.scan(shard, &from, Some(end), BATCH)?;
            let done = kvs.len() < BATCH;
            for (k, v) in kvs {
                from = k.clone();
                from.push(0);
                each(k, v)?;
            }
            if done {
                break;
            }
        }
    }
    Ok(())
}
