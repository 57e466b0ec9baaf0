//! The write path: a statement's row changes become Raft commands.
//!
//! Each change carries a precondition on the row's current value, so
//! concurrent writers never overwrite each other silently. Changes that all
//! land on one shard (and fit one entry) are one command: checked and
//! written at once, the one-phase fast path. Anything larger is a
//! transaction ([`super::txn`]): intents, a commit point, resolution, so a
//! statement is wholly applied or wholly absent whatever stops it.

use std::collections::BTreeMap;

use std::sync::Arc;

pub use super::rows::{Conflict, RowWrite, WriteError, merge_write};
use super::txn::{self, CHUNK, Interrupt, Stop, Txn, wait_for};
use crate::dataplane::{ShardAccess, ShardError};
use crate::error::{PgError, codes};
use crate::hlc::Timestamp;
use crate::shard::{Command, CommandResult, Op};

/// How many times one write waits for another transaction's intents
/// before giving up with 40001.
const MAX_WAITS: usize = 100;

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

/// Apply all writes, or none of them. Writes of the same key compose in
/// order (see [`merge_write`]). A key another transaction holds is waited
/// for (holding nothing meanwhile), then the write is tried again.
pub async fn apply_writes(
    data: &Arc<dyn ShardAccess>,
    writes: Vec<RowWrite>,
    interrupt: Option<Arc<Interrupt>>,
) -> Result<usize, WriteError> {
    let n = writes.len();
    let mut merged: BTreeMap<Vec<u8>, RowWrite> = BTreeMap::new();
    for w in writes {
        merge_write(&mut merged, w).map_err(WriteError::Conflict)?;
    }
    let writes: Vec<RowWrite> = merged.into_values().collect();
    let Some(first) = writes.first().map(|w| data.shard_of(&w.key)) else {
        return Ok(n);
    };
    // Blind writes need intents (a one-phase command checks every key).
    let one_shard = writes.len() <= CHUNK
        && writes
            .iter()
            .all(|w| !w.blind && data.shard_of(&w.key) == first);
    for _ in 0..MAX_WAITS {
        let outcome = if one_shard {
            one_phase(data.as_ref(), first, &writes).await
        } else {
            in_txn(data, &writes, interrupt.clone()).await
        };
        let stop = match outcome {
            Ok(()) => return Ok(n),
            Err(Stop::Locked {
                holder,
                record,
                key,
            }) => wait_for(data, None, holder, record, &key, interrupt.as_deref()).await,
            Err(stop) => Err(stop),
        };
        match stop {
            Ok(()) => {}
            Err(Stop::Conflict(c)) => return Err(WriteError::Conflict(c)),
            Err(Stop::Failed(e)) => return Err(WriteError::Failed(e)),
            Err(Stop::Locked { .. }) => unreachable!("waiting does not lock"),
        }
    }
    Err(WriteError::Failed(PgError::serialization_failure()))
}

/// All writes on one shard in one command: checked and applied at once.
async fn one_phase(data: &dyn ShardAccess, shard: u32, writes: &[RowWrite]) -> Result<(), Stop> {
    let commit = data.begin_write();
    match txn::propose(data, shard, command_for(writes, commit.ts)).await {
        Ok(CommandResult::Applied { .. }) => {
            let mut tally = super::activity::Tally::default();
            tally.add(writes);
            data.activity().committed(tally);
            Ok(())
        }
        Ok(CommandResult::CheckFailed { op_index, actual }) => {
            Err(Stop::Conflict(Conflict::on(&writes[op_index], actual)))
        }
        Ok(CommandResult::Locked {
            op_index,
            holder,
            record,
        }) => Err(Stop::Locked {
            holder,
            record,
            key: writes[op_index].key.clone(),
        }),
        Ok(other) => Err(Stop::Failed(PgError::internal(format!(
            "a write gave {other:?}"
        )))),
        Err(e @ ShardError::Timeout { .. }) => Err(Stop::Failed(PgError::new(
            codes::TRANSACTION_RESOLUTION_UNKNOWN,
            format!("transaction resolution unknown: {e}"),
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Writes on several shards: a transaction of their own.
async fn in_txn(
    data: &Arc<dyn ShardAccess>,
    writes: &[RowWrite],
    interrupt: Option<Arc<Interrupt>>,
) -> Result<(), Stop> {
    let mut t = Txn::begin(data.clone()).interruptible(interrupt);
    match t.write(writes, false).await {
        Ok(()) => t.commit().await.map_err(|e| match e {
            WriteError::Conflict(c) => Stop::Conflict(c),
            WriteError::Failed(e) => Stop::Failed(e),
        }),
        Err(stop) => {
            t.abort().await;
            Err(stop)
        }
    }
}

/// Apply `ops` on every shard (DeletePrefix of a dropped table or index:
/// its keys are on all of them).
pub async fn on_every_shard(data: &dyn ShardAccess, ops: Vec<Op>) -> Result<(), PgError> {
    let epoch = data.epoch();
    for (i, shard) in data.shards().into_iter().enumerate() {
        if i == 1 {
            crate::failpoint::hit("purge-mid-shards");
        }
        data.propose(shard, epoch, Command::new(ops.clone()))
            .await?;
    }
    Ok(())
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
